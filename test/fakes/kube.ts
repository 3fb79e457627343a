import { matchesSelector, readiness } from '../../functions/kube/node-facts.js';
import type {
  KubeEvent,
  Lease,
  Node,
  PersistentVolume,
  Pod,
  Taint,
  VolumeAttachment,
} from '../../functions/kube/objects.js';
import {
  type EventInput,
  KubeConflictError,
  type KubePort,
  KubePreconditionError,
  KubeUnavailableError,
  type ObjectCallOptions,
} from '../../functions/kube/port.js';

export interface KubeCall {
  method: keyof KubePort;
  target: string;
  mutating: boolean;
  /** The UID precondition the call carried, if any. */
  uid?: string;
}

const MUTATING: ReadonlySet<keyof KubePort> = new Set([
  'addTaint',
  'removeTaint',
  'deleteNode',
  'createLease',
  'replaceLease',
  'forceDeletePod',
  'deleteVolumeAttachment',
  'createEvent',
]);

/** Methods whose calls release the node's workloads; safety invariant 1 is stated over these. */
export const RELEASE_CALLS: ReadonlySet<string> = new Set([
  'forceDeletePod',
  'deleteVolumeAttachment',
  'deleteNode',
]);

/**
 * An in-memory API server for unit tests. It keeps the semantics alertfence relies on: `resourceVersion`
 * compare-and-swap on Leases (409 on a stale write, as the API server does), create conflicts, deep copies
 * on every read and write, and an `await` in every call so concurrent callers interleave.
 */
export class FakeKube implements KubePort {
  readonly nodes = new Map<string, Node>();
  readonly leases = new Map<string, Lease>();
  pods: Pod[] = [];
  attachments: VolumeAttachment[] = [];
  persistentVolumes: PersistentVolume[] = [];
  readonly events: EventInput[] = [];
  readonly calls: KubeCall[] = [];
  /** Set to make every call fail as an unreachable API server would. */
  unavailable = false;
  /** Called before each call; throw from it to inject a failure. */
  beforeCall?: (call: KubeCall) => void;
  /** Simulates the node-lifecycle/PodGC/attach-detach controllers reacting to the out-of-service taint. */
  controllersReactToOutOfService = true;
  private version = 1;

  private async enter(method: keyof KubePort, target: string, uid?: string): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    const call: KubeCall = { method, target, mutating: MUTATING.has(method), ...(uid ? { uid } : {}) };
    this.calls.push(call);
    if (this.unavailable) throw new KubeUnavailableError('connect ECONNREFUSED 127.0.0.1:6443');
    this.beforeCall?.(call);
  }

  private nextVersion(): string {
    this.version += 1;
    return String(this.version);
  }

  mutations(): KubeCall[] {
    return this.calls.filter((call) => call.mutating);
  }

  // --- test setup helpers -------------------------------------------------------------------------------

  putNode(node: Node): void {
    const name = node.metadata?.name ?? '';
    this.nodes.set(
      name,
      structuredClone({ ...node, metadata: { ...node.metadata, resourceVersion: this.nextVersion() } }),
    );
  }

  putLease(namespace: string, lease: Lease): void {
    const name = lease.metadata?.name ?? '';
    this.leases.set(
      `${namespace}/${name}`,
      structuredClone({
        ...lease,
        metadata: { ...lease.metadata, namespace, resourceVersion: this.nextVersion() },
      }),
    );
  }

  // --- KubePort -----------------------------------------------------------------------------------------

  async getNode(name: string) {
    await this.enter('getNode', name);
    const node = this.nodes.get(name);
    return node && structuredClone(node);
  }

  async listNodes() {
    await this.enter('listNodes', '*');
    return [...this.nodes.values()].map((node) => structuredClone(node));
  }

  async listNodeHealth(labelSelector?: string) {
    await this.enter('listNodeHealth', labelSelector ?? '*');
    return [...this.nodes.values()]
      .filter((node) => matchesSelector(node.metadata?.labels, labelSelector))
      .map((node) => ({ name: node.metadata?.name ?? '', ready: readiness(node).status === 'True' }));
  }

  /** A UID precondition, as the API server applies it: the object of that name must have that UID. */
  private requireUid(kind: string, name: string, actual: string | undefined, options?: ObjectCallOptions) {
    if (options?.uid && actual !== options.uid) {
      throw new KubePreconditionError(
        `${kind} ${name}: UID in precondition ${options.uid}, object has ${actual}`,
        {
          status: 409,
        },
      );
    }
  }

  async addTaint(node: string, taint: Taint, options?: ObjectCallOptions) {
    await this.enter('addTaint', `${node}:${taint.key}`, options?.uid);
    const current = this.nodes.get(node);
    if (!current) return;
    this.requireUid('node', node, current.metadata?.uid, options);
    const taints = current.spec?.taints ?? [];
    if (taints.some((existing) => existing.key === taint.key && existing.effect === taint.effect)) return;
    current.spec = { ...current.spec, taints: [...taints, structuredClone(taint)] };
    current.metadata = { ...current.metadata, resourceVersion: this.nextVersion() };
    if (taint.key === 'node.kubernetes.io/out-of-service' && this.controllersReactToOutOfService) {
      this.pods = this.pods.filter((pod) => pod.spec?.nodeName !== node);
      this.attachments = this.attachments.filter((va) => va.spec?.nodeName !== node);
    }
  }

  async removeTaint(node: string, key: string, options?: ObjectCallOptions) {
    await this.enter('removeTaint', `${node}:${key}`, options?.uid);
    const current = this.nodes.get(node);
    if (!current) return;
    this.requireUid('node', node, current.metadata?.uid, options);
    current.spec = {
      ...current.spec,
      taints: (current.spec?.taints ?? []).filter((taint) => taint.key !== key),
    };
  }

  async deleteNode(name: string, options?: ObjectCallOptions) {
    await this.enter('deleteNode', name, options?.uid);
    const current = this.nodes.get(name);
    if (!current) return;
    this.requireUid('node', name, current.metadata?.uid, options);
    this.nodes.delete(name);
  }

  async getLease(namespace: string, name: string) {
    await this.enter('getLease', `${namespace}/${name}`);
    const lease = this.leases.get(`${namespace}/${name}`);
    return lease && structuredClone(lease);
  }

  async listLeases(namespace: string, labelSelector?: string) {
    await this.enter('listLeases', namespace);
    const wanted = (labelSelector ?? '')
      .split(',')
      .filter((term) => term.includes('='))
      .map((term) => term.split('=') as [string, string]);
    return [...this.leases.entries()]
      .filter(([key]) => key.startsWith(`${namespace}/`))
      .filter(([, lease]) => wanted.every(([k, v]) => lease.metadata?.labels?.[k] === v))
      .map(([, lease]) => structuredClone(lease));
  }

  async createLease(namespace: string, lease: Lease) {
    const key = `${namespace}/${lease.metadata?.name}`;
    await this.enter('createLease', key);
    if (this.leases.has(key))
      throw new KubeConflictError(`leases "${lease.metadata?.name}" already exists`, { status: 409 });
    const stored = structuredClone({
      ...lease,
      metadata: { ...lease.metadata, namespace, resourceVersion: this.nextVersion() },
    });
    this.leases.set(key, stored);
    return structuredClone(stored);
  }

  async replaceLease(namespace: string, lease: Lease) {
    const key = `${namespace}/${lease.metadata?.name}`;
    await this.enter('replaceLease', key);
    const current = this.leases.get(key);
    if (!current) throw new KubeConflictError(`leases "${lease.metadata?.name}" not found`, { status: 404 });
    // The API server's optimistic concurrency: a write must name the version it read.
    if (lease.metadata?.resourceVersion !== current.metadata?.resourceVersion) {
      throw new KubeConflictError(
        'the object has been modified; please apply your changes to the latest version',
        {
          status: 409,
        },
      );
    }
    const stored = structuredClone({
      ...lease,
      metadata: { ...lease.metadata, namespace, resourceVersion: this.nextVersion() },
    });
    this.leases.set(key, stored);
    return structuredClone(stored);
  }

  async listPodsOnNode(node: string) {
    await this.enter('listPodsOnNode', node);
    return this.pods.filter((pod) => pod.spec?.nodeName === node).map((pod) => structuredClone(pod));
  }

  async forceDeletePod(namespace: string, name: string, options?: ObjectCallOptions) {
    await this.enter('forceDeletePod', `${namespace}/${name}`, options?.uid);
    const current = this.pods.find(
      (pod) => pod.metadata?.namespace === namespace && pod.metadata?.name === name,
    );
    if (!current) return;
    this.requireUid('pod', `${namespace}/${name}`, current.metadata?.uid, options);
    this.pods = this.pods.filter((pod) => pod !== current);
  }

  async listVolumeAttachments(node: string) {
    await this.enter('listVolumeAttachments', node);
    return this.attachments.filter((va) => va.spec?.nodeName === node).map((va) => structuredClone(va));
  }

  async deleteVolumeAttachment(name: string, options?: ObjectCallOptions) {
    await this.enter('deleteVolumeAttachment', name, options?.uid);
    const current = this.attachments.find((va) => va.metadata?.name === name);
    if (!current) return;
    this.requireUid('volumeattachment', name, current.metadata?.uid, options);
    this.attachments = this.attachments.filter((va) => va !== current);
  }

  async listPersistentVolumes() {
    await this.enter('listPersistentVolumes', '*');
    return this.persistentVolumes.map((pv) => structuredClone(pv));
  }

  async createEvent(_namespace: string, event: EventInput): Promise<KubeEvent | undefined> {
    await this.enter('createEvent', event.subject.name);
    this.events.push(structuredClone(event));
    return undefined;
  }

  async ping() {
    await this.enter('ping' as keyof KubePort, '/version');
  }
}
