/**
 * The OpenStack power driver: Nova for power and volume attachments, Cinder to confirm a detach, Keystone
 * for the token and the catalog. Every call is bounded by the caller's deadline.
 */

import {
  backoffDelay,
  DEFAULT_POLL_SCHEDULE,
  sleep as defaultSleep,
  pollUntil,
  sleepWithin,
} from '../../functions/lib/wait.js';
import {
  type AttachedVolume,
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
import { getVolume } from './client/block-storage/requests.js';
import type { Volume } from './client/block-storage/results.js';
import {
  computeMicroversionHeaders,
  DEFAULT_COMPUTE_MICROVERSION,
  deleteVolumeAttachment,
  getServer,
  listServers,
  listVolumeAttachments,
  startServer,
  stopServer,
} from './client/compute/requests.js';
import type { Server } from './client/compute/results.js';
import { OpenStackError } from './client/errors.js';
import { HttpClient, type HttpExchange, type HttpRetryPolicy } from './client/http.js';
import type { KeystoneCredentials } from './client/identity/requests.js';
import {
  type CatalogService,
  type EndpointInterface,
  EndpointNotFoundError,
  selectEndpoint,
} from './client/identity/results.js';
import type { ServiceClient } from './client/service-client.js';
import { KeystoneSession } from './client/session.js';
import { isOpenStackProviderID, parseOpenStackProviderID } from './provider-id.js';
import {
  cloudStateOf,
  isDeleted,
  isMissing,
  powerStateOf,
  rootVolumeIds,
  type ServerReading,
  verdictAfterRefusal,
} from './server-state.js';

/** Service types of the catalog, official name first, then the aliases older clouds register. */
export const COMPUTE_SERVICE_TYPES = ['compute'] as const;
/**
 * `volumev3` first: it has always meant the project-scoped v3 endpoint, while `block-storage` is sometimes
 * registered unversioned by deployment tools.
 */
export const BLOCK_STORAGE_SERVICE_TYPES = ['volumev3', 'block-storage'] as const;

/** How to reach the cloud and how patient to be with it; only `authUrl` and `credentials` are required. */
export interface OpenStackDriverOptions {
  /** Keystone, with or without `/v3`. */
  authUrl: string;
  credentials: KeystoneCredentials;
  /** Region of the endpoints; a providerID of the form `openstack://<region>/<id>` overrides it. */
  region?: string;
  /** Catalog interface; `internal` when the functions run inside the cloud. Default `public`. */
  interface?: EndpointInterface;
  /** Compute microversion; default {@link DEFAULT_COMPUTE_MICROVERSION}. */
  computeMicroversion?: string;
  /**
   * Find a node's server when the Node has no providerID: by its name, and only when the server's addresses
   * include one of the node's InternalIPs too (IPs and names get reused; both must agree). Default false; the
   * look-up refuses a node when no server or several servers match.
   */
  lookupWithoutProviderID?: boolean;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
  retry?: Partial<HttpRetryPolicy>;
  /** How long before expiry a cached token is replaced. */
  tokenRefreshMarginMs?: number;
  pollSchedule?: readonly number[];
  /** Called after every HTTP exchange (Keystone included): logs, metrics, call counting. */
  onExchange?: (exchange: HttpExchange) => void;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** How many polls a server may sit idle on the wrong side before the power call is issued again. */
const IDLE_POLLS_BEFORE_REISSUE = 2;
/** How many polls a volume may stay attached and idle before the detach is issued again. */
const ATTACHED_POLLS_BEFORE_REISSUE = 3;
/**
 * Time kept back from a wait's deadline for its last probe: more than `pollUntil`'s default, because one
 * probe here can be several requests (a GET per volume still attached, a Keystone token re-issued after a
 * 401) and the HTTP client's own backoff on a 5xx, where an EC2 probe is one DescribeInstances.
 */
const OPENSTACK_PROBE_RESERVE_MS = 2000;
/** Attempts of a power action whose answer was lost (5xx, 429, no response). */
const ACTION_ATTEMPTS = 3;
/** Backoff between those attempts: up to 0.5 s, then up to 1 s (jittered). */
const ACTION_BACKOFF = { baseDelayMs: 500, maxDelayMs: 1000 };

/**
 * The OpenStack implementation of {@link PowerDriver}. Build it with `createOpenStackDriver`.
 */
export class OpenStackDriver implements PowerDriver {
  readonly name = 'openstack';
  readonly #session: KeystoneSession;
  readonly #http: HttpClient;
  readonly #region: string | undefined;
  readonly #interface: EndpointInterface;
  readonly #computeHeaders: Record<string, string>;
  readonly #lookup: boolean;
  readonly #schedule: readonly number[];
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  /**
   * Root volumes per server, learnt from `describe`. Whether an attached volume is the boot disk never
   * changes while it stays attached, so a detach after a describe needs no second look.
   */
  readonly #roots = new Map<string, Set<string>>();

  constructor(options: OpenStackDriverOptions) {
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#http = new HttpClient({
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.onExchange ? { onExchange: options.onExchange } : {}),
      ...(options.random ? { random: options.random } : {}),
      now: this.#now,
      sleep: this.#sleep,
    });
    this.#session = new KeystoneSession({
      http: this.#http,
      authUrl: options.authUrl,
      credentials: options.credentials,
      now: this.#now,
      ...(options.tokenRefreshMarginMs === undefined
        ? {}
        : { refreshMarginMs: options.tokenRefreshMarginMs }),
    });
    this.#region = options.region;
    this.#interface = options.interface ?? 'public';
    this.#computeHeaders = computeMicroversionHeaders(
      options.computeMicroversion ?? DEFAULT_COMPUTE_MICROVERSION,
    );
    this.#lookup = options.lookupWithoutProviderID ?? false;
    this.#schedule = options.pollSchedule ?? DEFAULT_POLL_SCHEDULE;
  }

  /** The Keystone session, shared by every call; exposed for token-reuse checks and diagnostics. */
  get session(): KeystoneSession {
    return this.#session;
  }

  handles(node: NodeIdentity): boolean {
    if (node.providerID) return isOpenStackProviderID(node.providerID);
    return this.#lookup;
  }

  async resolve(node: NodeIdentity, options: CallOptions): Promise<InstanceRef> {
    return this.#guard(`resolve node ${node.name}`, options, async () => {
      if (node.providerID) return this.#resolveProviderID(node, options);
      if (!this.#lookup) {
        throw new InstanceNotFoundError(
          `node ${node.name} has no providerID and look-up by name or IP is off`,
        );
      }
      return this.#lookUp(node, options);
    });
  }

  async describe(ref: InstanceRef, options: CallOptions): Promise<InstanceDescription> {
    return this.#guard(`describe server ${ref.id}`, options, async () => {
      const reading = await this.#readServer(ref, options);
      return this.#describeReading(ref, reading, options);
    });
  }

  async powerOff(ref: InstanceRef, options: CallOptions): Promise<void> {
    await this.#guard(`power off server ${ref.id}`, options, () => this.#powerAction(ref, 'off', options));
  }

  async powerOn(ref: InstanceRef, options: CallOptions): Promise<void> {
    await this.#guard(`power on server ${ref.id}`, options, () => this.#powerAction(ref, 'on', options));
  }

  async waitForPower(
    ref: InstanceRef,
    want: 'on' | 'off',
    options: WaitOptions,
  ): Promise<InstanceDescription> {
    return this.#guard(`wait for server ${ref.id} to be ${want}`, options, async () => {
      let idlePolls = 0;
      const reading = await pollUntil<ServerReading>({
        ...this.#pollOptions(options),
        what: `server ${ref.id} to be ${want === 'off' ? 'SHUTOFF' : 'ACTIVE'}`,
        probe: () => this.#readServer(ref, options),
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
          const idleWrongSide = want === 'off' ? powerStateOf(r) === 'on' : powerStateOf(r) === 'off';
          idlePolls = idleWrongSide ? idlePolls + 1 : 0;
          if (idlePolls >= IDLE_POLLS_BEFORE_REISSUE) {
            idlePolls = 0;
            options.onProgress?.(`server ${ref.id} is ${cloudStateOf(r)}; issuing power ${want} again`);
            await this.#powerAction(ref, want, options);
          }
        },
      });
      return this.#describeReading(ref, reading, options);
    });
  }

  async detachVolume(ref: InstanceRef, volumeId: string, options: CallOptions): Promise<void> {
    await this.#guard(`detach volume ${volumeId} from server ${ref.id}`, options, async () => {
      // A fresh read every time, never the state `describe` saw: the server must be off now, not earlier.
      const reading = await this.#readServer(ref, options);
      // Deleted: Nova detached everything with it. Not found: there is nothing these credentials may detach.
      if (isMissing(reading) || isDeleted(reading)) return;
      let roots = this.#roots.get(ref.id);
      if (!roots) {
        const description = await this.#describeReading(ref, reading, options);
        if (description.gone || !description.volumes.some((v) => v.id === volumeId)) return;
        roots = this.#roots.get(ref.id) ?? new Set();
      }
      if (roots.has(volumeId)) {
        throw new VolumeDetachRefusedError(
          `refusing to detach volume ${volumeId}: it is the root disk of server ${ref.id}`,
          { volumeId },
        );
      }
      if (powerStateOf(reading) !== 'off') {
        throw new VolumeDetachRefusedError(
          `refusing to detach volume ${volumeId}: server ${ref.id} is ${cloudStateOf(reading)}, not off`,
          { volumeId },
        );
      }
      const compute = await this.#compute(ref, options);
      try {
        await deleteVolumeAttachment(compute, ref.id, volumeId, options);
      } catch (error) {
        if (!(error instanceof OpenStackError)) throw error;
        // Not attached (any more), or the server is gone and Nova detached everything: already done.
        if (error.status === 404) return;
        // 400: the volume is not `in-use` (a detach already running); 409: the server is locked or busy.
        // Either way, look at the volume before calling it a failure.
        if (error.status === 400 || error.status === 409) {
          const volume = await this.#readVolume(ref, volumeId, options);
          if (volume === undefined || isDetachedFrom(volume, ref.id) || volume.status === 'detaching') return;
          throw new DriverError(
            `Nova refused to detach volume ${volumeId} (${volume.status}) from server ${ref.id}: ${error.message}`,
            { retryable: error.status === 409, cause: error },
          );
        }
        throw error;
      }
    });
  }

  async waitForDetached(ref: InstanceRef, volumeIds: readonly string[], options: CallOptions): Promise<void> {
    await this.#guard(`wait for volumes to detach from server ${ref.id}`, options, async () => {
      const pending = new Set(volumeIds);
      const attachedPolls = new Map<string, number>();
      await pollUntil<Volume[]>({
        ...this.#pollOptions(options),
        what: `volumes ${volumeIds.join(', ')} to detach from server ${ref.id}`,
        probe: async () => {
          const left: Volume[] = [];
          for (const id of pending) {
            const volume = await this.#readVolume(ref, id, options);
            if (volume === undefined || isDetachedFrom(volume, ref.id)) pending.delete(id);
            else left.push(volume);
          }
          return left;
        },
        done: (left) => left.length === 0,
        describeState: (left) => left.map((v) => `${v.id} ${v.status}`).join(', '),
        onPending: async (left) => {
          for (const volume of left) {
            // `in-use` and idle for several polls: Nova rolled the detach back or never got it.
            const count = volume.status === 'in-use' ? (attachedPolls.get(volume.id) ?? 0) + 1 : 0;
            attachedPolls.set(volume.id, count);
            if (count >= ATTACHED_POLLS_BEFORE_REISSUE) {
              attachedPolls.set(volume.id, 0);
              options.onProgress?.(`volume ${volume.id} is still in-use; issuing the detach again`);
              await this.detachVolume(ref, volume.id, options);
            }
          }
        },
      });
    });
  }

  async preflight(options: CallOptions): Promise<PreflightResult> {
    const problems: string[] = [];
    let catalog: CatalogService[];
    try {
      // A fresh token, not the cached one: the point is to prove the credentials work now.
      catalog = (await this.#session.authenticate(options, true)).catalog;
    } catch (error) {
      const reason =
        error instanceof OpenStackError && (error.status === 401 || error.status === 403)
          ? `Keystone refused the credentials (${error.status}); check the application credential or password: ${error.message}`
          : `Keystone could not issue a token: ${error instanceof Error ? error.message : String(error)}`;
      return { ok: false, problems: [reason] };
    }
    for (const [label, types] of [
      ['compute', COMPUTE_SERVICE_TYPES],
      ['block storage', BLOCK_STORAGE_SERVICE_TYPES],
    ] as const) {
      try {
        selectEndpointFrom(catalog, types, this.#interface, this.#region);
      } catch (error) {
        problems.push(`${label}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return { ok: problems.length === 0, problems };
  }

  /** This driver's clock, schedule and probe reserve, for `pollUntil`. */
  #pollOptions(options: CallOptions) {
    return {
      ...options,
      schedule: this.#schedule,
      probeReserveMs: OPENSTACK_PROBE_RESERVE_MS,
      sleep: this.#sleep,
      now: this.#now,
    };
  }

  async #resolveProviderID(node: NodeIdentity, options: CallOptions): Promise<InstanceRef> {
    const providerID = node.providerID ?? '';
    const parsed = parseOpenStackProviderID(providerID);
    if (!parsed) {
      throw new InstanceNotFoundError(
        `node ${node.name} has providerID ${providerID}, not openstack:///<server-uuid>`,
      );
    }
    const region = parsed.region ?? this.#region;
    const ref: InstanceRef = { provider: this.name, id: parsed.serverId, ...(region ? { region } : {}) };
    // Confirm the server exists *for these credentials*: Nova answers 404 for a server of another project,
    // and a fence must never mistake "not mine" for "gone".
    const reading = await this.#readServer(ref, options);
    if (isMissing(reading) || isDeleted(reading)) {
      throw new InstanceNotFoundError(
        `server ${parsed.serverId} of node ${node.name} does not exist or is not visible to the configured project`,
      );
    }
    return ref;
  }

  async #lookUp(node: NodeIdentity, options: CallOptions): Promise<InstanceRef> {
    const ref0: InstanceRef = {
      provider: this.name,
      id: '',
      ...(this.#region ? { region: this.#region } : {}),
    };
    if (node.internalIPs.length === 0) {
      throw new InstanceNotFoundError(
        `node ${node.name} reports no InternalIP: a server is looked up by name and address together, never by name alone`,
      );
    }
    const compute = await this.#compute(ref0, options);
    // Nova's filters are regular expressions matched anywhere (`worker-1` also finds `worker-10`): anchor
    // and escape them, then compare exactly on our side. Names and addresses both get reused, so a server is
    // the node's only when its name is the node's and it holds one of the node's InternalIPs.
    const named = await listServers(compute, { name: `^${escapeRegExp(node.name)}$` }, options);
    const found = named.filter(
      (server) => server.name === node.name && node.internalIPs.some((ip) => server.addresses.includes(ip)),
    );
    const wanted = `name ${node.name} and IP ${node.internalIPs.join(' or ')}`;
    if (found.length === 0) {
      const sameName = named.filter((server) => server.name === node.name);
      throw new InstanceNotFoundError(
        sameName.length > 0
          ? `no server matches node ${node.name} by ${wanted}: ${sameName.map((s) => `${s.id} has ${s.addresses.join(', ') || 'no address'}`).join('; ')}; set spec.providerID to choose`
          : `no server matches node ${node.name} by ${wanted}`,
      );
    }
    if (found.length > 1) {
      throw new InstanceNotFoundError(
        `${found.length} servers match node ${node.name} by ${wanted} (${found.map((s) => s.id).join('; ')}); set spec.providerID to choose`,
      );
    }
    const [server] = found as [Server];
    return { ...ref0, id: server.id };
  }

  async #describeReading(
    ref: InstanceRef,
    reading: ServerReading,
    options: CallOptions,
  ): Promise<InstanceDescription> {
    if (isMissing(reading))
      return {
        ref,
        power: 'unknown',
        cloudState: cloudStateOf(reading),
        gone: false,
        missing: true,
        volumes: [],
      };
    const compute = await this.#compute(ref, options);
    let attachments: Awaited<ReturnType<typeof listVolumeAttachments>>;
    try {
      attachments = await listVolumeAttachments(compute, ref.id, options);
    } catch (error) {
      // Gone between the two reads: as unproven as any other 404.
      if (error instanceof OpenStackError && error.status === 404) {
        return { ref, power: 'unknown', cloudState: 'NOT_FOUND', gone: false, missing: true, volumes: [] };
      }
      throw error;
    }
    const roots = rootVolumeIds(reading, attachments);
    this.#roots.set(ref.id, roots);
    const volumes: AttachedVolume[] = attachments.map((a) => ({
      id: a.volumeId,
      ...(a.device === undefined ? {} : { device: a.device }),
      ...(roots.has(a.volumeId) ? { root: true } : {}),
    }));
    return {
      ref,
      power: powerStateOf(reading),
      cloudState: cloudStateOf(reading),
      gone: isDeleted(reading),
      missing: false,
      ...(reading.taskState === 'powering-off' || reading.taskState === 'deleting' ? { stopping: true } : {}),
      volumes,
    };
  }

  /**
   * Sends `os-stop` or `os-start`. A 409 (the state forbids it) or a lost answer is never a blind repeat:
   * the server is read again and the verdict decides (already there, under way, repeat, or refuse).
   */
  async #powerAction(ref: InstanceRef, want: 'on' | 'off', options: CallOptions): Promise<void> {
    const compute = await this.#compute(ref, options);
    for (let attempt = 1; ; attempt++) {
      try {
        await (want === 'off' ? stopServer : startServer)(compute, ref.id, options);
        return;
      } catch (error) {
        if (!(error instanceof OpenStackError)) throw error;
        if (error.status === 404) {
          if (want === 'off') return;
          throw new InstanceNotFoundError(`server ${ref.id} no longer exists; it cannot be powered on`, {
            cause: error,
          });
        }
        if (error.status !== 409 && !error.transient) throw error;
        const verdict = verdictAfterRefusal(await this.#readServer(ref, options), want);
        if (verdict.kind === 'done') return;
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
        if (attempt >= ACTION_ATTEMPTS) throw error;
        await sleepWithin(
          backoffDelay(attempt - 1, { ...ACTION_BACKOFF, random: this.#random }),
          options,
          { now: this.#now, sleep: this.#sleep },
          () => error,
        );
      }
    }
  }

  async #readServer(ref: InstanceRef, options: CallOptions): Promise<ServerReading> {
    const compute = await this.#compute(ref, options);
    try {
      return await getServer(compute, ref.id, options);
    } catch (error) {
      if (error instanceof OpenStackError && error.status === 404) return { missing: true };
      throw error;
    }
  }

  async #readVolume(ref: InstanceRef, volumeId: string, options: CallOptions): Promise<Volume | undefined> {
    const storage = await this.#blockStorage(ref, options);
    try {
      return await getVolume(storage, volumeId, options);
    } catch (error) {
      if (error instanceof OpenStackError && error.status === 404) return undefined;
      throw error;
    }
  }

  async #compute(ref: InstanceRef, options: CallOptions): Promise<ServiceClient> {
    const token = await this.#session.authenticate(options);
    const endpoint = selectEndpointFrom(
      token.catalog,
      COMPUTE_SERVICE_TYPES,
      this.#interface,
      ref.region ?? this.#region,
    );
    return { http: this.#http, auth: this.#session, endpoint, headers: this.#computeHeaders };
  }

  async #blockStorage(ref: InstanceRef, options: CallOptions): Promise<ServiceClient> {
    const token = await this.#session.authenticate(options);
    let endpoint = selectEndpointFrom(
      token.catalog,
      BLOCK_STORAGE_SERVICE_TYPES,
      this.#interface,
      ref.region ?? this.#region,
    );
    // A project-less v3 endpoint (Cinder ≥ 3.67 catalogs): every Cinder v3 also serves /v3/{project_id}.
    if (/\/v3$/.test(endpoint) && token.projectId) endpoint = `${endpoint}/${token.projectId}`;
    return { http: this.#http, auth: this.#session, endpoint, headers: {} };
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
 * 429/5xx/no answer are retryable, any other status is a refusal to look at.
 */
export function toDriverError(what: string, error: unknown): DriverError | DeadlineExceededError {
  // Already classified, or the deadline (retryable, shared with every layer): unchanged.
  if (error instanceof DriverError || error instanceof DeadlineExceededError) return error;
  if (error instanceof OpenStackError) {
    if (error.status === 401 || error.status === 403) {
      return new DriverAuthError(
        `${what}: ${error.status === 401 ? 'the token was refused even after re-authenticating' : 'permission denied'} (${error.message}); check the credentials and, for an application credential, its roles and access rules`,
        { cause: error },
      );
    }
    return new DriverError(`${what}: ${error.message}`, { retryable: error.transient, cause: error });
  }
  if (error instanceof EndpointNotFoundError) {
    return new DriverError(`${what}: ${error.message}`, { retryable: false, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DriverError(`${what}: ${message}`, { retryable: false, cause: error });
}

function selectEndpointFrom(
  catalog: readonly CatalogService[],
  types: readonly string[],
  iface: EndpointInterface,
  region: string | undefined,
): string {
  return selectEndpoint(catalog, { types, interface: iface, ...(region === undefined ? {} : { region }) });
}

/** Detached from this server: `available`, attached only elsewhere, or gone. */
function isDetachedFrom(volume: Volume, serverId: string): boolean {
  if (volume.status === 'available') return true;
  return !volume.attachedTo.includes(serverId) && volume.status !== 'detaching';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
