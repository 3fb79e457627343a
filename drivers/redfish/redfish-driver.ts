/**
 * The Redfish power driver: a bare-metal machine is a ComputerSystem of a BMC, powered off with
 * `#ComputerSystem.Reset` `ForceOff` and verified by reading `PowerState` back until it says `Off`.
 * Bare metal has no cloud volumes: release relies on Kubernetes (the out-of-service taint and the forced
 * fallback), and the driver refuses every detach.
 */

import { pollUntil, type RetryPolicy } from '../../functions/lib/wait.js';
import { clockOf, type DriverClock } from '../clock.js';
import type * as driver from '../driver.js';
import { DriverError, InstanceNotFoundError, VolumeDetachRefusedError } from '../driver.js';
import { GuardedDriver } from '../guarded-driver.js';
import { httpDriverError } from '../http-error.js';
import { sendPowerCall } from '../power-call.js';
import { type Bmc, BmcPool, type BmcPoolOptions, type BmcSettings } from './bmc-pool.js';
import { RedfishError } from './client/errors.js';
import {
  DEFAULT_NODE_KEY_PREFIX,
  type MappingEntry,
  mentionsRedfish,
  type NodeMapping,
  pickTarget,
} from './mapping.js';
import {
  cloudStateOf,
  describeSystem,
  isMissing,
  powerStateOf,
  reached,
  resetTypeFor,
  type SystemReading,
  underWay,
  verdictAfterReset,
} from './power-state.js';
import { redfishPreflight } from './preflight.js';

/** The driver's name, and the `provider` of its instance refs. */
export const REDFISH_DRIVER_NAME = 'redfish';

/** Where the driver writes what an operator must see; the app's logger fits. */
export interface DriverLog {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Configuration of the driver; only `bmcs` is required. */
export interface RedfishDriverOptions extends BmcPoolOptions {
  bmcs: readonly BmcSettings[];
  /** The mapping file's node entries. */
  nodes?: readonly MappingEntry[];
  /**
   * Prefix of the node labels and annotations naming a node's BMC and system; `null` reads the mapping only.
   * Default {@link DEFAULT_NODE_KEY_PREFIX}.
   */
  nodeKeyPrefix?: string | null;
  /** Delays between polls of `PowerState`. Default {@link REDFISH_POLL_SCHEDULE}. */
  pollSchedule?: readonly number[];
  /**
   * How long a system may stay on the wrong side after a reset before the reset is sent again (a reset the
   * BMC dropped). Default 20 s: BMCs take seconds to switch, and sending it again restarts some of them.
   */
  reissueAfterMs?: number;
  log?: DriverLog;
}

/**
 * Poll `PowerState` every second after a quick first look: what the ClusterLabs agents do
 * (`--stonith-status-sleep` 1 s), and what a BMC's small web server takes without strain.
 */
export const REDFISH_POLL_SCHEDULE: readonly number[] = [500, 1000];
const DEFAULT_REISSUE_AFTER_MS = 20_000;
/** A reset whose answer was lost (5xx, 429, no answer): 3 attempts, up to 0.5 s then 1 s apart. */
const RESET_REPEATS = { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 1000 };
/** Time kept back from a wait's deadline for its last probe: one GET, retried once on a transient failure. */
const REDFISH_PROBE_RESERVE_MS = 1500;

/**
 * The Redfish implementation of {@link driver.PowerDriver}. Build it with `createRedfishDriver`; an instance ref's
 * id is `<bmc>/<system id>`.
 */
export class RedfishDriver extends GuardedDriver {
  protected readonly noun = 'system';
  readonly name = REDFISH_DRIVER_NAME;
  readonly #pool: BmcPool;
  readonly #mapping: NodeMapping;
  readonly #options: RedfishDriverOptions;
  readonly #clock: DriverClock;
  readonly #resetPolicy: RetryPolicy;
  /** When each system was last sent a reset, for the re-issue rule of `waitForPower`. */
  readonly #lastReset = new Map<string, number>();

  constructor(options: RedfishDriverOptions) {
    super();
    this.#options = options;
    this.#clock = clockOf(options);
    this.#resetPolicy = { ...this.#clock, ...RESET_REPEATS };
    this.#mapping = {
      entries: options.nodes ?? [],
      nodeKeyPrefix:
        options.nodeKeyPrefix === null ? undefined : (options.nodeKeyPrefix ?? DEFAULT_NODE_KEY_PREFIX),
    };
    this.#pool = new BmcPool(options.bmcs, { ...options, ...this.#clock });
    for (const settings of options.bmcs) if (settings.insecure) this.#warnInsecure(settings, 'configured');
  }

  handles(node: driver.NodeIdentity): boolean {
    return mentionsRedfish(node, this.#mapping);
  }

  protected async findInstance(
    node: driver.NodeIdentity,
    options: driver.CallOptions,
  ): Promise<driver.InstanceRef> {
    const pick = pickTarget(node, this.#mapping);
    if ('refusal' in pick) throw new InstanceNotFoundError(pick.refusal);
    const { target, sources } = pick.found;
    const bmc = this.#pool.get(target.bmc, `node ${node.name} (from ${sources.join(' and ')})`);
    const systemId = target.system ?? (await this.#pool.onlySystem(bmc, node.name, options));
    // Read the system, for these credentials: a BMC answers 404 alike for a wrong id, a wrong BMC and an
    // account that may not see it, and a fence must not start on any of them.
    const reading = await this.#pool.read(bmc, systemId, options);
    if (isMissing(reading)) {
      throw new InstanceNotFoundError(
        `BMC ${bmc.settings.name} answers 404 for system ${systemId} of node ${node.name}: a wrong system id, a wrong BMC, or an account that may not see it (from ${sources.join(' and ')})`,
      );
    }
    return { provider: this.name, id: `${bmc.settings.name}/${reading.id}` };
  }

  protected async readInstance(
    ref: driver.InstanceRef,
    options: driver.CallOptions,
  ): Promise<driver.InstanceDescription> {
    const { bmc, systemId } = this.#pool.target(ref, this.name);
    return describeSystem(ref, await this.#pool.read(bmc, systemId, options));
  }

  /**
   * Polls `PowerState` until it says `Off` (or `On`). `notFoundMeansOff` is not honoured: a cloud instance
   * that ended ages out of its API, but a machine does not leave its BMC; a 404 for a system that was there is
   * a BMC reset or reconfigured, and the machine may well be running.
   */
  protected async pollPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.WaitOptions,
  ): Promise<driver.InstanceDescription> {
    const { bmc, systemId } = this.#pool.target(ref, this.name);
    const startedAt = this.#clock.now();
    const reading = await pollUntil<SystemReading>({
      ...options,
      schedule: this.#options.pollSchedule ?? REDFISH_POLL_SCHEDULE,
      probeReserveMs: REDFISH_PROBE_RESERVE_MS,
      ...this.#clock,
      what: `system ${ref.id} to be ${want === 'off' ? 'Off' : 'On'}`,
      probe: () => this.#pool.read(bmc, systemId, options),
      done: (r) => reached(r, want),
      describeState: cloudStateOf,
      onPending: async (r) => {
        if (isMissing(r)) {
          throw new InstanceNotFoundError(
            `BMC ${bmc.settings.name} now answers 404 for system ${systemId}: its power state cannot be verified`,
          );
        }
        if (underWay(r, want) || powerStateOf(r) === 'unknown') return;
        // On the wrong side long after the last reset: the BMC dropped it (restarted, or busy). Sending a
        // reset again sooner would only restart the switch on BMCs that schedule it (sushy-tools does).
        const since = this.#lastReset.get(ref.id) ?? startedAt;
        if (this.#clock.now() - since >= (this.#options.reissueAfterMs ?? DEFAULT_REISSUE_AFTER_MS)) {
          options.onProgress?.(`system ${ref.id} is still ${cloudStateOf(r)}; sending the reset again`);
          await this.sendPower(ref, want, options);
        }
      },
    });
    return describeSystem(ref, reading);
  }

  async detachVolume(ref: driver.InstanceRef, volumeId: string, _options: driver.CallOptions): Promise<void> {
    throw new VolumeDetachRefusedError(
      `refusing to detach volume ${volumeId} from ${ref.id}: a bare-metal machine has no cloud volumes; its disks are released by Kubernetes (out-of-service taint, VolumeAttachments)`,
      { volumeId },
    );
  }

  async waitForDetached(
    ref: driver.InstanceRef,
    volumeIds: readonly string[],
    options: driver.CallOptions,
  ): Promise<void> {
    const [first] = volumeIds;
    if (first !== undefined) await this.detachVolume(ref, first, options);
  }

  /** Reads each BMC, its account and its systems' reset action; never touches power (`preflight.ts`). */
  async preflight(options: driver.CallOptions): Promise<driver.PreflightResult> {
    return redfishPreflight(this.#pool, this.#mapping.entries, options);
  }

  /** Logs out of every session and closes the connections: for a process that stops, and for tests. */
  async close(options: driver.CallOptions = { deadline: Date.now() + 5000 }): Promise<void> {
    await this.#pool.close(options);
  }

  /**
   * Sends the reset that powers the system off or on. Idempotent: a system already there, or on its way, is
   * left alone; a refusal (many BMCs answer 409 or 400 to `ForceOff` on a system that is off) or a lost
   * answer is never repeated blindly: the system is read again and the verdict decides.
   */
  protected async sendPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.CallOptions,
  ): Promise<void> {
    const { bmc, systemId } = this.#pool.target(ref, this.name);
    if (bmc.settings.insecure) this.#warnInsecure(bmc.settings, `power ${want} of ${ref.id}`);
    // Always a fresh read first: a system already there gets no reset at all, and the action is the one the
    // BMC shows now.
    const reading = await this.#pool.read(bmc, systemId, options);
    if (isMissing(reading)) throw missingSystem(bmc, systemId, want);
    if (reached(reading, want) || underWay(reading, want)) return;
    if (!reading.reset) {
      throw new DriverError(`system ${ref.id} offers no #ComputerSystem.Reset action`, { retryable: false });
    }
    let action = reading.reset;
    const choice = resetTypeFor(want, await this.#pool.allowedResetTypes(bmc, action, options));
    if ('refusal' in choice) {
      throw new DriverError(`cannot power ${want} system ${ref.id}: ${choice.refusal}`, { retryable: false });
    }
    const sent = () => this.#lastReset.set(ref.id, this.#clock.now());
    await sendPowerCall(
      async () => {
        await bmc.client.post(action.target, { ResetType: choice.resetType }, options);
        sent();
      },
      async (error) => {
        if (!(error instanceof RedfishError) || error.status === 401 || error.status === 403) throw error;
        const again = await this.#pool.read(bmc, systemId, options);
        if (isMissing(again)) throw missingSystem(bmc, systemId, want, error);
        const lost = error.status === undefined || error.transient;
        const verdict = verdictAfterReset(again, want, lost ? 'lost' : 'refused');
        if (verdict.kind === 'refuse') {
          throw new DriverError(
            `BMC ${bmc.settings.name} refused ResetType ${choice.resetType} for system ${systemId}: ${verdict.reason} (${error.message})`,
            { retryable: verdict.retryable, cause: error },
          );
        }
        if (verdict.kind === 'done') sent();
        else action = again.reset ?? action;
        return verdict.kind;
      },
      { ...options, policy: this.#resetPolicy },
    );
  }

  #warnInsecure(settings: BmcSettings, when: string): void {
    this.#options.log?.warn(
      `TLS verification is OFF for BMC ${settings.name} (${when}): anyone on the path can impersonate it, read its password and fake its power state`,
      { driver: this.name, bmc: settings.name, address: settings.address },
    );
  }

  protected classify(what: string, error: unknown): unknown {
    return toDriverError(what, error);
  }
}

/**
 * Classifies a failure by HTTP status, never by message: 401/403 are configuration (never retried),
 * 429/5xx/no answer are retryable, any other status is a refusal to read.
 */
export function toDriverError(what: string, error: unknown) {
  return httpDriverError(what, error, (refused) => {
    const bmc = refused instanceof RedfishError ? `BMC ${refused.bmc}` : 'the BMC';
    return refused.status === 401
      ? `${bmc} refused the account even after reading it again (${refused.message}); check the BMC's credentials`
      : `${bmc} denied the account (${refused.message}); a reset needs the Redfish ConfigureComponents privilege (infra/redfish/README.md)`;
  });
}

function missingSystem(
  bmc: Bmc,
  systemId: string,
  want: 'on' | 'off',
  cause?: unknown,
): InstanceNotFoundError {
  return new InstanceNotFoundError(
    `BMC ${bmc.settings.name} answers 404 for system ${systemId}; not powering it ${want}: a 404 proves nothing about the machine (a wrong BMC or account looks the same)`,
    cause === undefined ? {} : { cause },
  );
}
