import type { Bounds } from '../functions/lib/wait.js';

/**
 * The power driver interface: one per cloud, each call idempotent and bounded by a deadline.
 * A driver knows nothing of Kubernetes; the workflow hands it an instance and the volume ids that back
 * PersistentVolumes.
 */

/** The instance behind a Node, as resolved by a driver. */
export interface InstanceRef {
  /** Driver name: `aws`, `openstack`, `redfish`, `simulated`. */
  provider: string;
  /** Cloud id: `i-0abc…` or a server UUID. */
  id: string;
  /** Region or availability zone when the provider has one. */
  region?: string;
}

/**
 * Power state, normalised across clouds. `off` includes gone (terminated, deleted, by the cloud's own record);
 * an instance the cloud says it does not know is `unknown`, never `off` (see `InstanceDescription.missing`).
 */
export type PowerState = 'on' | 'off' | 'transitioning' | 'unknown';

export interface AttachedVolume {
  id: string;
  /** Device name on the instance, e.g. `/dev/xvda`; informational. */
  device?: string;
  /** The instance's root or boot disk; never detached. */
  root?: boolean;
}

export interface InstanceDescription {
  ref: InstanceRef;
  power: PowerState;
  /** The cloud's own state word (`stopped`, `SHUTOFF`, …), kept for the journal and logs. */
  cloudState: string;
  /** True when the cloud's own record says the instance ended (terminated, deleted); counts as off. */
  gone: boolean;
  /**
   * True when the cloud answered that it knows no such instance (EC2 `InvalidInstanceID.NotFound`, Nova 404,
   * a BMC's 404 for a Redfish system). That proves nothing by itself: a wrong account, role, region or project
   * looks exactly the same. `power` is then `unknown`; only the fence, which knows whether it saw the instance
   * exist, may read it as off.
   */
  missing: boolean;
  /** A stop (or termination) is under way: asking again would be a second stop request. */
  stopping?: boolean;
  /**
   * The machine has no cloud volumes at all (bare metal: its disks are part of it): nothing is ever detached
   * at the cloud; the out-of-service taint and the forced fallback release what Kubernetes attached.
   */
  noCloudVolumes?: boolean;
  volumes: AttachedVolume[];
}

/** What a driver needs to find the instance of a Node. */
export interface NodeIdentity {
  name: string;
  providerID?: string;
  internalIPs: string[];
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

/**
 * Every driver call takes a deadline (epoch ms), an optional abort signal, and a progress callback for the
 * polls of a long wait (the shared `Bounds` of `functions/lib/wait.ts`).
 */
export type CallOptions = Bounds;

/** Options of a wait for a power state. */
export interface WaitOptions extends CallOptions {
  /**
   * Count "no such instance" as off. Only for a caller that saw this very instance exist earlier (it was then
   * terminated and aged out of the cloud's listings); never otherwise, since a wrong account looks the same.
   */
  notFoundMeansOff?: boolean;
}

/** Result of the credential and permission pre-flight. */
export interface PreflightResult {
  ok: boolean;
  /** Missing permissions or failed checks, named so an operator can fix them. */
  problems: string[];
}

export interface PowerDriver {
  readonly name: string;
  /** Whether this driver handles the node (by `spec.providerID` scheme or configured lookup). */
  handles(node: NodeIdentity): boolean;
  /**
   * Finds the instance of a node and reads it: throws `InstanceNotFoundError` on zero or several matches, and
   * when the cloud does not show the instance to these credentials (or it is not the cluster's).
   */
  resolve(node: NodeIdentity, options: CallOptions): Promise<InstanceRef>;
  describe(ref: InstanceRef, options: CallOptions): Promise<InstanceDescription>;
  /**
   * Starts a power-off, as hard as the cloud allows (EC2 skips the OS shutdown; Nova's `os-stop` waits its
   * `shutdown_timeout` before destroying the guest). Idempotent: an instance already off or stopping is fine.
   */
  powerOff(ref: InstanceRef, options: CallOptions): Promise<void>;
  /** Starts a power-on. Idempotent: an instance already on or starting is fine. */
  powerOn(ref: InstanceRef, options: CallOptions): Promise<void>;
  /** Starts detaching a volume from the instance. Idempotent: a volume already detached is fine. */
  detachVolume(ref: InstanceRef, volumeId: string, options: CallOptions): Promise<void>;
  /**
   * Polls until the instance verifiably reaches `want` (`off` includes gone; "not found" only with
   * `notFoundMeansOff`), re-issuing the power call when the cloud dropped it. Throws `DeadlineExceededError`
   * when the deadline passes first.
   */
  waitForPower(ref: InstanceRef, want: 'on' | 'off', options: WaitOptions): Promise<InstanceDescription>;
  /** Polls until none of the volumes is attached to the instance; `DeadlineExceededError` on the deadline. */
  waitForDetached(ref: InstanceRef, volumeIds: readonly string[], options: CallOptions): Promise<void>;
  preflight(options: CallOptions): Promise<PreflightResult>;
}

/** Base of driver errors; `retryable` tells the workflow whether a later attempt can succeed. */
export class DriverError extends Error {
  override name = 'DriverError';
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable;
  }
}

/** The node's instance cannot be found, or several match; the workflow refuses the node. */
export class InstanceNotFoundError extends DriverError {
  override name = 'InstanceNotFoundError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { retryable: false, cause: options.cause });
  }
}

/** Credentials or permissions are wrong: configuration to fix, never retried. */
export class DriverAuthError extends DriverError {
  override name = 'DriverAuthError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { retryable: false, cause: options.cause });
  }
}

/** The deadline passed before the cloud answered or reached the wanted state (retryable; lib's, shared). */
export { DeadlineExceededError } from '../functions/lib/deadline.js';

/**
 * The driver refuses to detach a volume: it is the instance's root volume, or the instance is not verified
 * off. Every driver checks both on a fresh read just before the call: a volume is only ever detached from
 * an instance verified off, since a running guest may still be writing to it. Never retried: an instance
 * that is on at release time needs an operator, not another attempt.
 */
export class VolumeDetachRefusedError extends DriverError {
  override name = 'VolumeDetachRefusedError';
  readonly volumeId: string;
  constructor(message: string, options: { volumeId: string; cause?: unknown }) {
    super(message, { retryable: false, cause: options.cause });
    this.volumeId = options.volumeId;
  }
}
