/**
 * The Redfish power driver: a bare-metal machine is a ComputerSystem of a BMC, powered off with
 * `#ComputerSystem.Reset` `ForceOff` and verified by reading `PowerState` back until it says `Off`.
 * Bare metal has no cloud volumes: release relies on Kubernetes (the out-of-service taint and the forced
 * fallback), and the driver refuses every detach.
 */

import { backoffDelay, sleep as defaultSleep, pollUntil, sleepWithin } from '../../functions/lib/wait.js';
import {
  type CallOptions,
  DeadlineExceededError,
  DriverAuthError,
  DriverError,
  type InstanceDescription,
  InstanceNotFoundError,
  type InstanceRef,
  type NodeIdentity,
  type PowerDriver,
  type PreflightResult,
  VolumeDetachRefusedError,
  type WaitOptions,
} from '../driver.js';
import {
  type AuthMode,
  BmcClient,
  type CredentialSource,
  type RedfishExchange,
  type RetryPolicy,
  readJson,
} from './client/bmc-client.js';
import { RedfishError } from './client/errors.js';
import {
  type ComputerSystem,
  parseCollection,
  parseComputerSystem,
  parseResetActionInfo,
  type ResetAction,
} from './client/resources.js';
import { httpsWire, type WireSend } from './client/transport.js';
import {
  DEFAULT_NODE_KEY_PREFIX,
  type MappingEntry,
  mentionsRedfish,
  type NodeMapping,
  pickTarget,
} from './mapping.js';
import {
  cloudStateOf,
  isMissing,
  powerStateOf,
  reached,
  resetTypeFor,
  type SystemReading,
  underWay,
  verdictAfterReset,
} from './power-state.js';

/** The driver's name, and the `provider` of its instance refs. */
export const REDFISH_DRIVER_NAME = 'redfish';
/** The systems collection's URI is fixed by DSP0266 §6.2 ("Resource URIs"), and so are its members'. */
export const SYSTEMS_PATH = '/redfish/v1/Systems';

/** One BMC: where it is, whom to trust there, and the account to use. */
export interface BmcSettings {
  /** The name nodes and the mapping use for it: letters, digits, `-`, `_`, `.` (a label value). */
  name: string;
  /** `https://host[:port]`. */
  address: string;
  credentials: CredentialSource;
  /** Default `basic`. */
  auth?: AuthMode;
  /** PEM certificates trusted for this BMC instead of the system's. */
  ca?: string;
  /** The name its certificate carries, when the address does not (an IP address, say). */
  tlsServerName?: string;
  /** Accept any certificate: explicit opt-in only, logged at start and at every power action. */
  insecure?: boolean;
}

/** Where the driver writes what an operator must see; the app's logger fits. */
export interface DriverLog {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Configuration of the driver; only `bmcs` is required. */
export interface RedfishDriverOptions {
  bmcs: readonly BmcSettings[];
  /** The mapping file's node entries. */
  nodes?: readonly MappingEntry[];
  /**
   * Prefix of the node labels and annotations naming a node's BMC and system; `null` reads the mapping only.
   * Default {@link DEFAULT_NODE_KEY_PREFIX}.
   */
  nodeKeyPrefix?: string | null;
  /** The wire to each BMC; default HTTPS with its TLS settings. Tests inject an in-process one. */
  wire?: (bmc: BmcSettings) => WireSend;
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Delays between polls of `PowerState`. Default {@link REDFISH_POLL_SCHEDULE}. */
  pollSchedule?: readonly number[];
  /**
   * How long a system may stay on the wrong side after a reset before the reset is sent again (a reset the
   * BMC dropped). Default 20 s: BMCs take seconds to switch, and sending it again restarts some of them.
   */
  reissueAfterMs?: number;
  /** Called after every HTTP exchange with a BMC: logs, metrics, request counting. */
  onExchange?: (exchange: RedfishExchange) => void;
  log?: DriverLog;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * Poll `PowerState` every second after a quick first look: what the ClusterLabs agents do
 * (`--stonith-status-sleep` 1 s), and what a BMC's small web server takes without strain.
 */
export const REDFISH_POLL_SCHEDULE: readonly number[] = [500, 1000];
const DEFAULT_REISSUE_AFTER_MS = 20_000;
/** Attempts of a reset whose answer was lost (5xx, 429, no answer). */
const RESET_ATTEMPTS = 3;
const RESET_BACKOFF = { baseDelayMs: 500, maxDelayMs: 1000 };
/** Time kept back from a wait's deadline for its last probe: one GET, retried once on a transient failure. */
const REDFISH_PROBE_RESERVE_MS = 1500;
/** BMCs checked at once by the pre-flight. */
const PREFLIGHT_CONCURRENCY = 4;

interface Bmc {
  settings: BmcSettings;
  client: BmcClient;
  close: () => void;
}

/**
 * The Redfish implementation of {@link PowerDriver}. Build it with `createRedfishDriver`; an instance ref's
 * id is `<bmc>/<system id>`.
 */
export class RedfishDriver implements PowerDriver {
  readonly name = REDFISH_DRIVER_NAME;
  readonly #bmcs = new Map<string, Bmc>();
  readonly #mapping: NodeMapping;
  readonly #schedule: readonly number[];
  readonly #reissueAfterMs: number;
  readonly #log: DriverLog | undefined;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  /** Allowed reset types read from ActionInfo resources, by BMC and URI. */
  readonly #actionInfo = new Map<string, readonly string[]>();
  /** When each system was last sent a reset, for the re-issue rule of `waitForPower`. */
  readonly #lastReset = new Map<string, number>();

  constructor(options: RedfishDriverOptions) {
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#log = options.log;
    this.#schedule = options.pollSchedule ?? REDFISH_POLL_SCHEDULE;
    this.#reissueAfterMs = options.reissueAfterMs ?? DEFAULT_REISSUE_AFTER_MS;
    this.#mapping = {
      entries: options.nodes ?? [],
      nodeKeyPrefix:
        options.nodeKeyPrefix === null ? undefined : (options.nodeKeyPrefix ?? DEFAULT_NODE_KEY_PREFIX),
    };
    for (const settings of options.bmcs) {
      const wire = options.wire
        ? { send: options.wire(settings), close: () => {} }
        : httpsWire({
            address: settings.address,
            ...(settings.ca === undefined ? {} : { ca: settings.ca }),
            ...(settings.tlsServerName === undefined ? {} : { serverName: settings.tlsServerName }),
            ...(settings.insecure ? { insecure: true } : {}),
          });
      const client = new BmcClient({
        name: settings.name,
        send: wire.send,
        origin: settings.address,
        credentials: settings.credentials,
        auth: settings.auth ?? 'basic',
        ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.onExchange ? { onExchange: options.onExchange } : {}),
        now: this.#now,
        sleep: this.#sleep,
        random: this.#random,
      });
      this.#bmcs.set(settings.name, { settings, client, close: wire.close });
      if (settings.insecure) this.#warnInsecure(settings, 'configured');
    }
  }

  handles(node: NodeIdentity): boolean {
    return mentionsRedfish(node, this.#mapping);
  }

  async resolve(node: NodeIdentity, options: CallOptions): Promise<InstanceRef> {
    return this.#guard(`resolve node ${node.name}`, options, async () => {
      const pick = pickTarget(node, this.#mapping);
      if ('refusal' in pick) throw new InstanceNotFoundError(pick.refusal);
      const { target, sources } = pick.found;
      const bmc = this.#bmc(target.bmc, `node ${node.name} (from ${sources.join(' and ')})`);
      let systemId = target.system;
      if (systemId === undefined) systemId = await this.#onlySystem(bmc, node.name, options);
      // Read the system, for these credentials: a BMC answers 404 alike for a wrong id, a wrong BMC and an
      // account that may not see it, and a fence must not start on any of them.
      const reading = await this.#read(bmc, systemId, options);
      if (isMissing(reading)) {
        throw new InstanceNotFoundError(
          `BMC ${bmc.settings.name} answers 404 for system ${systemId} of node ${node.name}: a wrong system id, a wrong BMC, or an account that may not see it (from ${sources.join(' and ')})`,
        );
      }
      return { provider: this.name, id: `${bmc.settings.name}/${reading.id}` };
    });
  }

  async describe(ref: InstanceRef, options: CallOptions): Promise<InstanceDescription> {
    return this.#guard(`describe system ${ref.id}`, options, async () => {
      const { bmc, systemId } = this.#target(ref);
      return describeReading(ref, await this.#read(bmc, systemId, options));
    });
  }

  async powerOff(ref: InstanceRef, options: CallOptions): Promise<void> {
    await this.#guard(`power off system ${ref.id}`, options, () => this.#reset(ref, 'off', options));
  }

  async powerOn(ref: InstanceRef, options: CallOptions): Promise<void> {
    await this.#guard(`power on system ${ref.id}`, options, () => this.#reset(ref, 'on', options));
  }

  /**
   * Polls `PowerState` until it says `Off` (or `On`). `notFoundMeansOff` is not honoured: a cloud instance
   * that ended ages out of its API, but a machine does not leave its BMC; a 404 for a system that was there is
   * a BMC reset or reconfigured, and the machine may well be running.
   */
  async waitForPower(
    ref: InstanceRef,
    want: 'on' | 'off',
    options: WaitOptions,
  ): Promise<InstanceDescription> {
    return this.#guard(`wait for system ${ref.id} to be ${want}`, options, async () => {
      const { bmc, systemId } = this.#target(ref);
      const startedAt = this.#now();
      const reading = await pollUntil<SystemReading>({
        ...options,
        schedule: this.#schedule,
        probeReserveMs: REDFISH_PROBE_RESERVE_MS,
        sleep: this.#sleep,
        now: this.#now,
        what: `system ${ref.id} to be ${want === 'off' ? 'Off' : 'On'}`,
        probe: () => this.#read(bmc, systemId, options),
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
          if (this.#now() - since >= this.#reissueAfterMs) {
            options.onProgress?.(`system ${ref.id} is still ${cloudStateOf(r)}; sending the reset again`);
            await this.#reset(ref, want, options);
          }
        },
      });
      return describeReading(ref, reading);
    });
  }

  async detachVolume(ref: InstanceRef, volumeId: string, _options: CallOptions): Promise<void> {
    throw new VolumeDetachRefusedError(
      `refusing to detach volume ${volumeId} from ${ref.id}: a bare-metal machine has no cloud volumes; its disks are released by Kubernetes (out-of-service taint, VolumeAttachments)`,
      { volumeId },
    );
  }

  async waitForDetached(ref: InstanceRef, volumeIds: readonly string[], options: CallOptions): Promise<void> {
    const [first] = volumeIds;
    if (first !== undefined) await this.detachVolume(ref, first, options);
  }

  /**
   * For each BMC: it answers over TLS, accepts the account, and each of its systems the mapping names (all
   * of them when it names none) offers `#ComputerSystem.Reset` with `ForceOff` and `On`. Reads only: power is
   * never touched. Whether the account holds `ConfigureComponents` cannot be read without a reset on most
   * BMCs; `infra/redfish/README.md` says how to give it exactly that.
   */
  async preflight(options: CallOptions): Promise<PreflightResult> {
    const problems: string[] = [];
    const bmcs = [...this.#bmcs.values()];
    for (let i = 0; i < bmcs.length; i += PREFLIGHT_CONCURRENCY) {
      const batch = bmcs.slice(i, i + PREFLIGHT_CONCURRENCY);
      const found = await Promise.all(batch.map((bmc) => this.#preflightBmc(bmc, options)));
      problems.push(...found.flat());
    }
    return { ok: problems.length === 0, problems };
  }

  /** Logs out of every session and closes the connections: for a process that stops, and for tests. */
  async close(options: CallOptions = { deadline: Date.now() + 5000 }): Promise<void> {
    await Promise.all([...this.#bmcs.values()].map((bmc) => bmc.client.logout(options)));
    for (const bmc of this.#bmcs.values()) bmc.close();
  }

  async #preflightBmc(bmc: Bmc, options: CallOptions): Promise<string[]> {
    const name = bmc.settings.name;
    const entries = this.#mapping.entries.filter((entry) => entry.bmc === name);
    const named = [
      ...new Set(entries.flatMap((entry) => (entry.system === undefined ? [] : [entry.system]))),
    ];
    const unnamed = entries.filter((entry) => entry.system === undefined);
    const problems: string[] = [];
    try {
      let systems = named;
      if (named.length === 0 || unnamed.length > 0) {
        const members = await this.#members(bmc, options);
        if (unnamed.length > 0 && members.length !== 1) {
          problems.push(
            `BMC ${name} has ${members.length} systems (${members.join(', ') || 'none'}); name the system of ${unnamed.map(entryKey).join(', ')} in the mapping`,
          );
        }
        if (named.length === 0) systems = members;
      }
      for (const systemId of systems) {
        const problem = await this.#preflightSystem(bmc, systemId, options);
        if (problem) problems.push(problem);
      }
    } catch (error) {
      problems.push(preflightMessage(bmc, error));
    }
    return problems;
  }

  async #preflightSystem(bmc: Bmc, systemId: string, options: CallOptions): Promise<string | undefined> {
    const where = `BMC ${bmc.settings.name} system ${systemId}`;
    const reading = await this.#read(bmc, systemId, options);
    if (isMissing(reading)) return `${where}: not found (404) for this account`;
    const action = reading.reset;
    if (!action) return `${where}: offers no #ComputerSystem.Reset action`;
    const allowed = await this.#allowedResetTypes(bmc, action, options);
    const missing = (['off', 'on'] as const)
      .map((want) => resetTypeFor(want, allowed))
      .flatMap((choice) => ('refusal' in choice ? [choice.refusal] : []));
    return missing.length > 0 ? `${where}: ${missing.join('; ')}` : undefined;
  }

  /**
   * Sends the reset that powers the system off or on. Idempotent: a system already there, or on its way, is
   * left alone; a refusal (many BMCs answer 409 or 400 to `ForceOff` on a system that is off) or a lost
   * answer is never repeated blindly: the system is read again and the verdict decides.
   */
  async #reset(ref: InstanceRef, want: 'on' | 'off', options: CallOptions): Promise<void> {
    const { bmc, systemId } = this.#target(ref);
    if (bmc.settings.insecure) this.#warnInsecure(bmc.settings, `power ${want} of ${ref.id}`);
    // Always a fresh read first: a system already there gets no reset at all, and the action is the one the
    // BMC shows now.
    const reading = await this.#read(bmc, systemId, options);
    if (isMissing(reading)) throw this.#missing(bmc, systemId, want);
    if (reached(reading, want) || underWay(reading, want)) return;
    let action = reading.reset;
    if (!action) {
      throw new DriverError(`system ${ref.id} offers no #ComputerSystem.Reset action`, { retryable: false });
    }
    const choice = resetTypeFor(want, await this.#allowedResetTypes(bmc, action, options));
    if ('refusal' in choice) {
      throw new DriverError(`cannot power ${want} system ${ref.id}: ${choice.refusal}`, { retryable: false });
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await bmc.client.post(action.target, { ResetType: choice.resetType }, options);
        this.#lastReset.set(ref.id, this.#now());
        return;
      } catch (error) {
        if (!(error instanceof RedfishError)) throw error;
        if (error.status === 401 || error.status === 403) throw error;
        const again = await this.#read(bmc, systemId, options);
        if (isMissing(again)) throw this.#missing(bmc, systemId, want, error);
        const lost = error.status === undefined || error.transient;
        const verdict = verdictAfterReset(again, want, lost ? 'lost' : 'refused');
        if (verdict.kind === 'done') {
          this.#lastReset.set(ref.id, this.#now());
          return;
        }
        if (verdict.kind === 'refuse') {
          throw new DriverError(
            `BMC ${bmc.settings.name} refused ResetType ${choice.resetType} for system ${systemId}: ${verdict.reason} (${error.message})`,
            { retryable: verdict.retryable, cause: error },
          );
        }
        if (attempt >= RESET_ATTEMPTS) throw error;
        await sleepWithin(
          backoffDelay(attempt - 1, { ...RESET_BACKOFF, random: this.#random }),
          options,
          { now: this.#now, sleep: this.#sleep },
          () => error,
        );
        action = again.reset ?? action;
      }
    }
  }

  /** The allowed reset types: inline, or from the action's ActionInfo; undefined when the BMC does not say. */
  async #allowedResetTypes(
    bmc: Bmc,
    action: ResetAction,
    options: CallOptions,
  ): Promise<readonly string[] | undefined> {
    if (action.allowableValues !== undefined || action.actionInfo === undefined)
      return action.allowableValues;
    const response = await bmc.client.get(action.actionInfo, options);
    const allowed = readJson(bmc.settings.name, response, 'GET', parseResetActionInfo);
    // Remembered with the action: it is the same for as long as the action is.
    if (allowed !== undefined) action.allowableValues = allowed;
    return allowed;
  }

  /** Reads a system; 404 is `missing`, never off. */
  async #read(bmc: Bmc, systemId: string, options: CallOptions): Promise<SystemReading> {
    const path = `${SYSTEMS_PATH}/${encodeURIComponent(systemId)}`;
    let system: ComputerSystem;
    try {
      const response = await bmc.client.get(path, options);
      system = readJson(bmc.settings.name, response, 'GET', parseComputerSystem);
      // The system must be the one asked for (or the one a redirect of the BMC named): never act on another.
      const answered = decodeURIComponent(response.path.split('/').pop() ?? '');
      if (system.id !== answered) {
        throw new RedfishError({
          bmc: bmc.settings.name,
          method: 'GET',
          path: response.path,
          status: response.status,
          reason: `asked for system ${answered}, the BMC answered with system ${system.id}`,
        });
      }
    } catch (error) {
      if (error instanceof RedfishError && error.status === 404) return { missing: true };
      throw error;
    }
    return system;
  }

  /** The ids of a BMC's systems. */
  async #members(bmc: Bmc, options: CallOptions): Promise<string[]> {
    const response = await bmc.client.get(SYSTEMS_PATH, options);
    const uris = readJson(bmc.settings.name, response, 'GET', parseCollection);
    return uris.map((uri) => decodeURIComponent(uri.replace(/\/+$/, '').split('/').pop() ?? ''));
  }

  /** The BMC's only system; none or several is a refusal, never a guess. */
  async #onlySystem(bmc: Bmc, node: string, options: CallOptions): Promise<string> {
    const members = await this.#members(bmc, options);
    const [only] = members;
    if (members.length === 1 && only !== undefined) return only;
    throw new InstanceNotFoundError(
      members.length === 0
        ? `BMC ${bmc.settings.name} of node ${node} lists no systems for this account`
        : `BMC ${bmc.settings.name} of node ${node} has ${members.length} systems (${members.join(', ')}); name the node's system (its label or annotation, or system: in the mapping)`,
    );
  }

  #bmc(name: string, forWhat: string): Bmc {
    const bmc = this.#bmcs.get(name);
    if (!bmc) {
      throw new InstanceNotFoundError(
        `${forWhat} names BMC ${name}, which is not configured (configured: ${[...this.#bmcs.keys()].join(', ') || 'none'})`,
      );
    }
    return bmc;
  }

  #target(ref: InstanceRef): { bmc: Bmc; systemId: string } {
    const slash = ref.id.indexOf('/');
    if (ref.provider !== this.name || slash <= 0 || slash === ref.id.length - 1) {
      throw new InstanceNotFoundError(
        `${ref.provider}:${ref.id} is not a Redfish system (<bmc>/<system id>)`,
      );
    }
    return {
      bmc: this.#bmc(ref.id.slice(0, slash), `instance ${ref.id}`),
      systemId: ref.id.slice(slash + 1),
    };
  }

  #missing(bmc: Bmc, systemId: string, want: 'on' | 'off', cause?: unknown): InstanceNotFoundError {
    return new InstanceNotFoundError(
      `BMC ${bmc.settings.name} answers 404 for system ${systemId}; not powering it ${want}: a 404 proves nothing about the machine (a wrong BMC or account looks the same)`,
      cause === undefined ? {} : { cause },
    );
  }

  #warnInsecure(settings: BmcSettings, when: string): void {
    this.#log?.warn(
      `TLS verification is OFF for BMC ${settings.name} (${when}): anyone on the path can impersonate it, read its password and fake its power state`,
      { driver: this.name, bmc: settings.name, address: settings.address },
    );
  }

  /** Runs one driver call, turning client errors into the driver's error classes. */
  async #guard<T>(what: string, options: CallOptions, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (options.signal?.aborted && error === options.signal.reason) throw error;
      throw toDriverError(what, error);
    }
  }
}

/**
 * Classifies a failure by HTTP status, never by message: 401/403 are configuration (never retried),
 * 429/5xx/no answer are retryable, any other status is a refusal to read.
 */
export function toDriverError(what: string, error: unknown): DriverError | DeadlineExceededError {
  // Already classified, or the deadline (retryable, shared with every layer): unchanged.
  if (error instanceof DriverError || error instanceof DeadlineExceededError) return error;
  if (error instanceof RedfishError) {
    if (error.status === 401) {
      return new DriverAuthError(
        `${what}: BMC ${error.bmc} refused the account even after reading it again (${error.message}); check the BMC's credentials`,
        { cause: error },
      );
    }
    if (error.status === 403) {
      return new DriverAuthError(
        `${what}: BMC ${error.bmc} denied the account (${error.message}); a reset needs the Redfish ConfigureComponents privilege (infra/redfish/README.md)`,
        { cause: error },
      );
    }
    return new DriverError(`${what}: ${error.message}`, { retryable: error.transient, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DriverError(`${what}: ${message}`, { retryable: false, cause: error });
}

function describeReading(ref: InstanceRef, reading: SystemReading): InstanceDescription {
  return {
    ref,
    power: powerStateOf(reading),
    cloudState: cloudStateOf(reading),
    gone: false,
    missing: isMissing(reading),
    // Bare metal: disks are part of the machine; Kubernetes releases what it attached.
    volumes: [],
    noCloudVolumes: true,
  };
}

function preflightMessage(bmc: Bmc, error: unknown): string {
  const name = bmc.settings.name;
  if (error instanceof RedfishError) {
    if (error.status === 401) return `BMC ${name} refused the account (401); check its credentials`;
    if (error.status === 403) return `BMC ${name} denied the account the read of its systems (403)`;
    if (error.status === undefined)
      return `BMC ${name} at ${bmc.settings.address} does not answer: ${error.message}`;
  }
  return `BMC ${name}: ${error instanceof Error ? error.message : String(error)}`;
}

function entryKey(entry: MappingEntry): string {
  return entry.node !== undefined ? `node ${entry.node}` : `providerID ${entry.providerID}`;
}
