import type { KubeEvent, Lease, Node, PersistentVolume, Pod, Taint, VolumeAttachment } from './objects.js';

/** What an Event is about. For a Node that is gone, the journal Lease. */
export interface EventSubject {
  kind: 'Node' | 'Lease';
  name: string;
  namespace?: string;
  uid?: string;
  apiVersion: string;
}

export interface EventInput {
  subject: EventSubject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** A Node as the API server's own table printer shows it (`kubectl get nodes`): its name, and whether it is Ready. */
export interface NodeHealth {
  name: string;
  /** The `Ready` condition is `True`. */
  ready: boolean;
}

/** A change to a Node a watch reports; `BOOKMARK` only moves the watch's `resourceVersion` on. */
export interface NodeWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  node: Node;
}

/** What a watch's caller hears: that the API server accepted it, then each change as it comes. */
export interface NodeWatchHandlers {
  onOpen(): void;
  onEvent(event: NodeWatchEvent): void;
}

/**
 * The two calls that follow the Nodes (`node-view.ts`): a list, then watches from its `resourceVersion`.
 * Only a process that stays up uses them; a port without them (a test's fake, a Lambda) has no Node view.
 */
export interface NodeWatchPort {
  /** The Nodes a label selector selects, from the watch cache, and the `resourceVersion` to watch from. */
  listNodesToWatch(
    labelSelector: string,
    options?: KubeCallOptions,
  ): Promise<{ nodes: Node[]; resourceVersion: string }>;
  /**
   * Watches the Nodes a label selector selects from `resourceVersion`, with bookmarks, until the API server ends
   * the watch after `timeoutSeconds` (resolves) or it fails (rejects; `KubeGoneError` when `resourceVersion`
   * is too old and only a new list can go on).
   */
  watchNodes(
    labelSelector: string,
    resourceVersion: string,
    timeoutSeconds: number,
    handlers: NodeWatchHandlers,
    signal?: AbortSignal,
  ): Promise<void>;
}

/** Options every call takes: the phase's deadline, which bounds the request below the client's own limit. */
export interface KubeCallOptions {
  /** Epoch ms by which the call must be answered. */
  deadline?: number;
  /**
   * A list served from the API server's watch cache (`resourceVersion=0`), a moment behind, for what only
   * shows (a dry run's plan), never for what a fence acts on. A consistent list of a kind nothing writes waits
   * for the cache to catch up with etcd (up to 100 ms, its progress-notify period); this one does not.
   */
  fromCache?: boolean;
}

/**
 * Options of a call on one object by identity: the object must be the one read before (its UID), not another
 * created since under the same name. A mismatch throws `KubePreconditionError` and changes nothing.
 */
export interface ObjectCallOptions extends KubeCallOptions {
  uid?: string;
}

/**
 * Exactly the Kubernetes calls alertfence makes, and no more. The real implementation is
 * `createKubeClient` over the API server's REST API; unit tests pass an in-memory fake.
 *
 * Conventions: a read of a missing object returns `undefined`; a delete of a missing object is done;
 * a lost compare-and-swap throws `KubeConflictError`; an object that is not the UID named throws
 * `KubePreconditionError`; an unreachable or failing API server throws `KubeUnavailableError`.
 */
export interface KubePort {
  getNode(name: string, options?: KubeCallOptions): Promise<Node | undefined>;
  listNodes(options?: KubeCallOptions): Promise<Node[]>;
  /**
   * The Nodes that match a label selector, as name and readiness only: a server-side Table without the objects
   * (about 170 bytes a Node, where the Node itself is 4 KB or more), served from the API server's watch cache.
   * For counting (the storm guards), never for deciding about one Node: the cache may be a moment behind.
   */
  listNodeHealth(labelSelector?: string, options?: KubeCallOptions): Promise<NodeHealth[]>;
  /**
   * Adds a taint, keeping every other taint (JSON patch guarded by `resourceVersion`). No-op when present or
   * when the Node is gone; `KubePreconditionError` when the Node is not the UID named.
   */
  addTaint(node: string, taint: Taint, options?: ObjectCallOptions): Promise<void>;
  /** Removes the taints with this key, keeping every other taint. No-op when absent. */
  removeTaint(node: string, key: string, options?: ObjectCallOptions): Promise<void>;
  /** Deletes a Node; with `uid`, only that Node (a delete precondition), never one recreated under its name. */
  deleteNode(name: string, options?: ObjectCallOptions): Promise<void>;

  getLease(namespace: string, name: string, options?: KubeCallOptions): Promise<Lease | undefined>;
  listLeases(namespace: string, labelSelector?: string, options?: KubeCallOptions): Promise<Lease[]>;
  /** Creates a Lease; `KubeConflictError` when it already exists. */
  createLease(namespace: string, lease: Lease, options?: KubeCallOptions): Promise<Lease>;
  /** Replaces a Lease only if its `metadata.resourceVersion` is current; `KubeConflictError` otherwise. */
  replaceLease(namespace: string, lease: Lease, options?: KubeCallOptions): Promise<Lease>;

  listPodsOnNode(node: string, options?: KubeCallOptions): Promise<Pod[]>;
  /** Force-deletes a pod (grace period 0): only safe once the node is verified off. With `uid`, only that pod. */
  forceDeletePod(namespace: string, name: string, options?: ObjectCallOptions): Promise<void>;
  listVolumeAttachments(node: string, options?: KubeCallOptions): Promise<VolumeAttachment[]>;
  deleteVolumeAttachment(name: string, options?: ObjectCallOptions): Promise<void>;
  listPersistentVolumes(options?: KubeCallOptions): Promise<PersistentVolume[]>;

  createEvent(namespace: string, event: EventInput): Promise<KubeEvent | undefined>;
  /** Cheap reachability probe for `/readyz`. */
  ping(): Promise<void>;
}

/** Base of Kubernetes access errors; `status` is the HTTP status when the API server answered. */
export class KubeError extends Error {
  override name = 'KubeError';
  readonly status: number | undefined;
  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.status = options.status;
  }
}

/** A compare-and-swap lost (409, or a failed JSON patch `test`): someone changed the object; re-read. */
export class KubeConflictError extends KubeError {
  override name = 'KubeConflictError';
}

/**
 * The object is not the one named by UID: it was deleted and recreated under the same name (a delete's
 * precondition failed, or the live object's UID differs). Nothing was changed; never retried.
 */
export class KubePreconditionError extends KubeError {
  override name = 'KubePreconditionError';
}

/** The API server could not be reached or failed (5xx, 429, network): do nothing destructive, retry later. */
export class KubeUnavailableError extends KubeError {
  override name = 'KubeUnavailableError';
}

/** No answer before the call's deadline or time limit: unavailable as far as the caller can tell, retried. */
export class KubeDeadlineError extends KubeUnavailableError {
  override name = 'KubeDeadlineError';
}

/** 410: a watch's `resourceVersion` is older than the API server keeps; list again. */
export class KubeGoneError extends KubeError {
  override name = 'KubeGoneError';
}

/**
 * 401/403: alertfence's identity or RBAC is wrong, configuration to fix; or a restarted API server that has not
 * read its RBAC yet. A fence retries it for a minute (see the executor), then waits for a person.
 */
export class KubeForbiddenError extends KubeError {
  override name = 'KubeForbiddenError';
}
