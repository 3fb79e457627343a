/**
 * The OpenStack power driver: Nova for power and volume attachments, Cinder to confirm a detach, Keystone
 * for the token and the catalog. Every call is bounded by the caller's deadline.
 */

import { DEFAULT_POLL_SCHEDULE, pollUntil, type RetryPolicy } from '../../functions/lib/wait.js';
import { clockOf, type DriverClock } from '../clock.js';
import type * as driver from '../driver.js';
import { DriverError, InstanceNotFoundError } from '../driver.js';
import { GuardedDriver } from '../guarded-driver.js';
import { httpDriverError } from '../http-error.js';
import { sendPowerCall } from '../power-call.js';
import { BLOCK_STORAGE_SERVICE_TYPES } from './client/cinder.js';
import { OpenStackError } from './client/errors.js';
import type { KeystoneSession } from './client/keystone.js';
import { COMPUTE_SERVICE_TYPES, serverAction } from './client/nova.js';
import { lookUpServer } from './lookup.js';
import { OpenStackAccess, type OpenStackAccessOptions } from './openstack-access.js';
import { isOpenStackProviderID, parseOpenStackProviderID } from './provider-id.js';
import {
  cloudStateOf,
  isDeleted,
  isMissing,
  powerStateOf,
  type ServerReading,
  verdictAfterRefusal,
} from './server-state.js';
import { detachCinderVolume, waitForCinderDetached } from './volumes.js';

export { BLOCK_STORAGE_SERVICE_TYPES, COMPUTE_SERVICE_TYPES };

/** How to reach the cloud and how patient to be with it; only `authUrl` and `credentials` are required. */
export interface OpenStackDriverOptions extends OpenStackAccessOptions {
  /**
   * Find a node's server when the Node has no providerID: by its name, and only when the server's addresses
   * include one of the node's InternalIPs too (IPs and names get reused; both must agree). Default false; the
   * look-up refuses a node when no server or several servers match.
   */
  lookupWithoutProviderID?: boolean;
  pollSchedule?: readonly number[];
}

/** How many polls a server may sit idle on the wrong side before the power call is issued again. */
const IDLE_POLLS_BEFORE_REISSUE = 2;
/**
 * Time kept back from a wait's deadline for its last probe: more than `pollUntil`'s default, because one
 * probe here can be several requests (a GET per volume still attached, a Keystone token re-issued after a
 * 401) and the HTTP client's own backoff on a 5xx, where an EC2 probe is one DescribeInstances.
 */
const OPENSTACK_PROBE_RESERVE_MS = 2000;
/** A power action whose answer was lost (5xx, 429, no response): 3 attempts, up to 0.5 s then 1 s apart. */
const ACTION_REPEATS = { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 1000 };

/**
 * The OpenStack implementation of {@link driver.PowerDriver}. Build it with `createOpenStackDriver`.
 */
export class OpenStackDriver extends GuardedDriver {
  protected readonly noun = 'server';
  readonly name = 'openstack';
  readonly #cloud: OpenStackAccess;
  readonly #options: OpenStackDriverOptions;
  readonly #clock: DriverClock;
  readonly #actionPolicy: RetryPolicy;

  constructor(options: OpenStackDriverOptions) {
    super();
    this.#options = options;
    this.#clock = clockOf(options);
    this.#actionPolicy = { ...this.#clock, ...ACTION_REPEATS };
    this.#cloud = new OpenStackAccess({ ...options, ...this.#clock });
  }

  /** The Keystone session, shared by every call; exposed for token-reuse checks and diagnostics. */
  get session(): KeystoneSession {
    return this.#cloud.session;
  }

  handles(node: driver.NodeIdentity): boolean {
    if (node.providerID) return isOpenStackProviderID(node.providerID);
    return this.#options.lookupWithoutProviderID ?? false;
  }

  protected async findInstance(
    node: driver.NodeIdentity,
    options: driver.CallOptions,
  ): Promise<driver.InstanceRef> {
    if (node.providerID) return this.#resolveProviderID(node, node.providerID, options);
    if (!this.#options.lookupWithoutProviderID) {
      throw new InstanceNotFoundError(`node ${node.name} has no providerID and look-up by name or IP is off`);
    }
    const region = this.#options.region;
    const id = await lookUpServer(await this.#cloud.nova({ region }, options), node, options);
    return { provider: this.name, id, ...(region ? { region } : {}) };
  }

  protected async readInstance(
    ref: driver.InstanceRef,
    options: driver.CallOptions,
  ): Promise<driver.InstanceDescription> {
    const reading = await this.#cloud.readServer(ref, options);
    return this.#cloud.describe(ref, reading, options);
  }

  protected async pollPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.WaitOptions,
  ): Promise<driver.InstanceDescription> {
    let idlePolls = 0;
    const reading = await pollUntil<ServerReading>({
      ...options,
      ...this.#pace(),
      what: `server ${ref.id} to be ${want === 'off' ? 'SHUTOFF' : 'ACTIVE'}`,
      probe: () => this.#cloud.readServer(ref, options),
      // Off is SHUTOFF with no task in progress (or deleted, or not found when the caller saw it exist); on is
      // ACTIVE with none.
      done: (r) =>
        want === 'off'
          ? powerStateOf(r) === 'off' || (isMissing(r) && options.notFoundMeansOff === true)
          : !isMissing(r) && r.status === 'ACTIVE' && r.taskState === null,
      describeState: cloudStateOf,
      onPending: async (r) => {
        if (want === 'on' && (isMissing(r) || isDeleted(r))) {
          throw new InstanceNotFoundError(`server ${ref.id} no longer exists; it cannot be powered on`);
        }
        // Nova records the task state before it answers 202, so a server idle on the wrong side poll
        // after poll means the call was dropped (compute restarted, a concurrent start): issue it again.
        const idleWrongSide = powerStateOf(r) === (want === 'off' ? 'on' : 'off');
        idlePolls = idleWrongSide ? idlePolls + 1 : 0;
        if (idlePolls >= IDLE_POLLS_BEFORE_REISSUE) {
          idlePolls = 0;
          options.onProgress?.(`server ${ref.id} is ${cloudStateOf(r)}; issuing power ${want} again`);
          await this.sendPower(ref, want, options);
        }
      },
    });
    return this.#cloud.describe(ref, reading, options);
  }

  async detachVolume(ref: driver.InstanceRef, volumeId: string, options: driver.CallOptions): Promise<void> {
    await this.guard(`detach volume ${volumeId} from server ${ref.id}`, options, () =>
      detachCinderVolume(this.#cloud, ref, volumeId, options),
    );
  }

  async waitForDetached(
    ref: driver.InstanceRef,
    volumeIds: readonly string[],
    options: driver.CallOptions,
  ): Promise<void> {
    await this.guard(`wait for volumes to detach from server ${ref.id}`, options, () =>
      waitForCinderDetached(this.#cloud, ref, volumeIds, options, this.#pace(), (volumeId) =>
        this.detachVolume(ref, volumeId, options),
      ),
    );
  }

  async preflight(options: driver.CallOptions): Promise<driver.PreflightResult> {
    try {
      // A fresh token, not the cached one: the point is to prove the credentials work now.
      await this.#cloud.session.authenticate(options, true);
    } catch (error) {
      const reason =
        error instanceof OpenStackError && (error.status === 401 || error.status === 403)
          ? `Keystone refused the credentials (${error.status}); check the application credential or password: ${error.message}`
          : `Keystone could not issue a token: ${error instanceof Error ? error.message : String(error)}`;
      return { ok: false, problems: [reason] };
    }
    const problems: string[] = [];
    for (const [label, types] of [
      ['compute', COMPUTE_SERVICE_TYPES],
      ['block storage', BLOCK_STORAGE_SERVICE_TYPES],
    ] as const) {
      await this.#cloud.session
        .service({ types, ...this.#cloud.where({}) }, options)
        .catch((error: unknown) => {
          problems.push(`${label}: ${error instanceof Error ? error.message : String(error)}`);
        });
    }
    return { ok: problems.length === 0, problems };
  }

  /** This driver's clock, schedule and probe reserve, for `pollUntil`. */
  #pace() {
    return {
      schedule: this.#options.pollSchedule ?? DEFAULT_POLL_SCHEDULE,
      probeReserveMs: OPENSTACK_PROBE_RESERVE_MS,
      ...this.#clock,
    };
  }

  async #resolveProviderID(
    node: driver.NodeIdentity,
    providerID: string,
    options: driver.CallOptions,
  ): Promise<driver.InstanceRef> {
    const parsed = parseOpenStackProviderID(providerID);
    if (!parsed) {
      throw new InstanceNotFoundError(
        `node ${node.name} has providerID ${providerID}, not openstack:///<server-uuid>`,
      );
    }
    const region = parsed.region ?? this.#options.region;
    const ref: driver.InstanceRef = {
      provider: this.name,
      id: parsed.serverId,
      ...(region ? { region } : {}),
    };
    // Confirm the server exists *for these credentials*: Nova answers 404 for a server of another project,
    // and a fence must never mistake "not mine" for "gone". A server Nova shows DELETED is resolved: Nova's
    // own record says it is off, and the fence releases its Node.
    const reading = await this.#cloud.readServer(ref, options);
    if (isMissing(reading)) {
      throw new InstanceNotFoundError(
        `server ${parsed.serverId} of node ${node.name} does not exist or is not visible to the configured project`,
      );
    }
    return ref;
  }

  /**
   * Sends `os-stop` or `os-start`. A 409 (the state forbids it) or a lost answer is never a blind repeat:
   * the server is read again and the verdict decides (already there, under way, repeat, or refuse).
   */
  protected async sendPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.CallOptions,
  ): Promise<void> {
    const nova = await this.#cloud.nova(ref, options);
    await sendPowerCall(
      () => serverAction(nova, ref.id, want === 'off' ? 'os-stop' : 'os-start', options),
      async (error) => {
        if (!(error instanceof OpenStackError)) throw error;
        if (error.status === 404) {
          if (want === 'off') return 'done';
          throw new InstanceNotFoundError(`server ${ref.id} no longer exists; it cannot be powered on`, {
            cause: error,
          });
        }
        if (error.status !== 409 && !error.transient) throw error;
        const verdict = verdictAfterRefusal(await this.#cloud.readServer(ref, options), want);
        if (verdict.kind === 'done') return 'done';
        if (verdict.kind === 'refuse') {
          throw new DriverError(`cannot power ${want} server ${ref.id}: ${verdict.reason}`, {
            retryable: verdict.retryable,
            cause: error,
          });
        }
        // Idle on the wrong side after a 409: something else forbids it (a locked server); Nova's message
        // says what, and repeating will not change it.
        if (error.status === 409) {
          throw new DriverError(`Nova refused to power ${want} server ${ref.id}: ${error.message}`, {
            retryable: false,
            cause: error,
          });
        }
        return 'repeat';
      },
      { ...options, policy: this.#actionPolicy },
    );
  }

  protected classify(what: string, error: unknown): unknown {
    return toDriverError(what, error);
  }
}

/**
 * Classifies a failure by HTTP status, never by message: 401/403 are configuration (never retried),
 * 429/5xx/no answer are retryable, any other status is a refusal to look at.
 */
export function toDriverError(what: string, error: unknown) {
  return httpDriverError(
    what,
    error,
    (refused) =>
      `${refused.status === 401 ? 'the token was refused even after re-authenticating' : 'permission denied'} (${refused.message}); check the credentials and, for an application credential, its roles and access rules`,
  );
}
