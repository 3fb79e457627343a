// Over 300 lines: the eighteen calls of the port, each a few lines over the helpers they share.
import { hostname } from 'node:os';
import { type ExecRunner, withAuthenticators } from './authenticators.js';
import { classify, isNotFound } from './classify.js';
import { type KubeEndpoint, toKubeConfig } from './kubeconfig.js';
import { KUBE_NAMES } from './names.js';
import { readiness } from './node-facts.js';
import type {
  KubeEvent,
  Lease,
  Node,
  ObjectList,
  PersistentVolume,
  Pod,
  Taint,
  VolumeAttachment,
} from './objects.js';
import {
  type EventInput,
  type KubeCallOptions,
  KubeConflictError,
  KubeError,
  type KubePort,
  KubePreconditionError,
  type NodeHealth,
  type ObjectCallOptions,
} from './port.js';
import { createTransport, type KubeRequest } from './transport.js';

export interface KubeClientOptions {
  /** Time limit of each request; default `DEFAULT_REQUEST_TIMEOUT_MS`. */
  requestTimeoutMs?: number;
  /** Runs an exec credential plugin; tests inject it. */
  runExec?: ExecRunner;
}

/** How many times a taint patch is retried when the Node changed between read and write. */
const PATCH_ATTEMPTS = 5;

/** Longest wait for one API request: a hung API server must not hang the invocation. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

const JSON_PATCH = 'application/json-patch+json';

/**
 * A server-side Table (`meta.k8s.io/v1`), what `kubectl get` prints, or a plain list from a server that cannot
 * print one (the `Accept` header offers both, as kubectl's does).
 */
const TABLE_OR_LIST = 'application/json;as=Table;v=v1;g=meta.k8s.io, application/json';

interface Table {
  kind: 'Table';
  columnDefinitions?: Array<{ name?: string }>;
  rows?: Array<{ cells?: unknown[] }>;
}

/**
 * Name and readiness of each row of a Node Table. The printer's Status column starts with `Ready` exactly when
 * the `Ready` condition is `True` (`NotReady` for False or Unknown, `Unknown` without the condition), then
 * `,SchedulingDisabled` for a cordoned Node (pkg/printers/internalversion/printers.go, printNode).
 */
function nodeHealthRows(table: Table): NodeHealth[] {
  const columns = (table.columnDefinitions ?? []).map((column) => column.name);
  const name = columns.indexOf('Name');
  const status = columns.indexOf('Status');
  if (name < 0 || status < 0) {
    throw new KubeError(`the API server's Node table has no Name or Status column (${columns.join(', ')})`);
  }
  return (table.rows ?? []).map((row) => ({
    name: String(row.cells?.[name] ?? ''),
    ready: String(row.cells?.[status] ?? '').split(',')[0] === 'Ready',
  }));
}

/** An Event about a cluster-scoped object (a Node) must be filed in `default` (legacyValidateEvent). */
const CLUSTER_SCOPED_EVENT_NAMESPACE = 'default';

/** API paths; every name is encoded, although Kubernetes names never need it. */
const segment = encodeURIComponent;
const paths = {
  nodes: '/api/v1/nodes',
  node: (name: string) => `/api/v1/nodes/${segment(name)}`,
  leases: (namespace: string) => `/apis/coordination.k8s.io/v1/namespaces/${segment(namespace)}/leases`,
  lease: (namespace: string, name: string) => `${paths.leases(namespace)}/${segment(name)}`,
  pods: '/api/v1/pods',
  pod: (namespace: string, name: string) => `/api/v1/namespaces/${segment(namespace)}/pods/${segment(name)}`,
  volumeAttachments: '/apis/storage.k8s.io/v1/volumeattachments',
  volumeAttachment: (name: string) => `/apis/storage.k8s.io/v1/volumeattachments/${segment(name)}`,
  persistentVolumes: '/api/v1/persistentvolumes',
  events: (namespace: string) => `/api/v1/namespaces/${segment(namespace)}/events`,
  version: '/version',
};

/**
 * JSON patch operation that makes a patch conditional on the object's `resourceVersion`: when the object
 * changed since it was read, the API server answers 409 Conflict (optimistic concurrency, as for a PUT).
 * Unlike a `test` operation, whose failure is a 422 like any invalid object, the status says what happened.
 */
function precondition(resourceVersion: string | undefined) {
  return resourceVersion
    ? [{ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion }]
    : [];
}

/**
 * The Kubernetes port over the API server's REST API: exactly the calls of `KubePort`, with errors classified
 * by HTTP status. Loading and authentication are `@kubernetes/client-node`'s `KubeConfig`; the calls go
 * through alertfence's thin call layer (`transport.ts`; why: `README.md`).
 *
 * @example
 * const kube = createKubeClient(loadKubeconfigFile(process.env.KUBECONFIG));
 * const node = await kube.getNode('worker-1');
 */
export function createKubeClient(endpoint: KubeEndpoint, options: KubeClientOptions = {}): KubePort {
  const { config, forget } = withAuthenticators(toKubeConfig(endpoint), options.runExec);
  const transport = createTransport(config, {
    timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    onUnauthorized: forget,
  });
  const fieldManager = KUBE_NAMES.component;

  /**
   * One request, its failure classified. `ifNotFound` says what a 404 means for this call (a read: not there;
   * a delete: already done); without it, a 404 is an error like any other.
   */
  async function call<T, Missing = never>(
    what: string,
    request: KubeRequest,
    ifNotFound?: () => Missing,
  ): Promise<T | Missing> {
    try {
      return await transport.request<T>(request);
    } catch (error) {
      if (ifNotFound && isNotFound(error)) return ifNotFound();
      throw classify(error, what);
    }
  }

  const notThere = () => undefined;

  const deadlineOf = (options?: KubeCallOptions) =>
    options?.deadline === undefined ? {} : { deadline: options.deadline };

  const read = <T>(what: string, path: string, options?: KubeCallOptions) =>
    call<T, undefined>(what, { method: 'GET', path, ...deadlineOf(options) }, notThere);

  async function list<T>(
    what: string,
    path: string,
    query?: KubeRequest['query'],
    options?: KubeCallOptions,
  ): Promise<T[]> {
    return (
      (
        await call<ObjectList<T>>(what, {
          method: 'GET',
          path,
          query: { ...query, ...(options?.fromCache ? { resourceVersion: '0' } : {}) },
          ...deadlineOf(options),
        })
      ).items ?? []
    );
  }

  /**
   * Deletes an object; with a UID, only that object (`preconditions.uid`): one deleted and recreated under the
   * same name answers 409, which means "not the object we read", never "try again".
   */
  async function remove(
    what: string,
    path: string,
    options: ObjectCallOptions & { gracePeriodSeconds?: number } = {},
  ): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
      ...(options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }),
    };
    try {
      await call(what, { method: 'DELETE', path, body, ...deadlineOf(options) }, notThere);
    } catch (error) {
      if (options.uid && error instanceof KubeConflictError) {
        throw new KubePreconditionError(`${what}: not the object of UID ${options.uid} (${error.message})`, {
          status: 409,
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Patches the taint list with a JSON patch conditional on `resourceVersion`: other taints are kept (a merge
   * patch would replace the whole list), and a concurrent change makes us re-read, not clobber. With a UID,
   * a Node recreated under the same name is refused, never tainted.
   */
  async function patchTaints(
    node: string,
    change: (taints: Taint[]) => Taint[] | undefined,
    options: ObjectCallOptions = {},
  ) {
    for (let attempt = 1; ; attempt++) {
      const current = await read<Node>(`get node ${node}`, paths.node(node), options);
      if (!current) return;
      if (options.uid && current.metadata?.uid !== options.uid) {
        throw new KubePreconditionError(
          `node ${node} is not the Node of UID ${options.uid} (it is ${current.metadata?.uid}): recreated under the same name`,
        );
      }
      const next = change(current.spec?.taints ?? []);
      if (!next) return;
      const patch = [
        ...precondition(current.metadata?.resourceVersion),
        { op: current.spec?.taints ? 'replace' : 'add', path: '/spec/taints', value: next },
      ];
      try {
        // A Node deleted meanwhile needs no taint.
        await call(
          `patch taints of node ${node}`,
          {
            method: 'PATCH',
            path: paths.node(node),
            query: { fieldManager },
            body: patch,
            contentType: JSON_PATCH,
            ...deadlineOf(options),
          },
          notThere,
        );
        return;
      } catch (error) {
        if (!(error instanceof KubeConflictError) || attempt >= PATCH_ATTEMPTS) throw error;
      }
    }
  }

  return {
    getNode: (name, options) => read<Node>(`get node ${name}`, paths.node(name), options),
    listNodes: (options) => list<Node>('list nodes', paths.nodes, undefined, options),
    listNodeHealth: async (labelSelector, options) => {
      const answer = await call<Table | (ObjectList<Node> & { kind?: string })>('list node health', {
        method: 'GET',
        path: paths.nodes,
        // resourceVersion=0: from the watch cache, never a read of every Node from etcd. Since 1.31 a list
        // without it is served from the cache too, but an older API server reads etcd and decodes every Node
        // (5 times the API server's CPU for 1,000 Nodes, measured with ConsistentListFromCache off).
        query: { labelSelector, includeObject: 'None', resourceVersion: '0' },
        accept: TABLE_OR_LIST,
        ...deadlineOf(options),
      });
      if (answer.kind === 'Table') return nodeHealthRows(answer as Table);
      return ((answer as ObjectList<Node>).items ?? []).map((node) => ({
        name: node.metadata?.name ?? '',
        ready: readiness(node).status === 'True',
      }));
    },
    addTaint: (node, taint, options) =>
      patchTaints(
        node,
        (taints) =>
          taints.some((existing) => existing.key === taint.key && existing.effect === taint.effect)
            ? undefined
            : [...taints, taint],
        options,
      ),
    removeTaint: (node, key, options) =>
      patchTaints(
        node,
        (taints) =>
          taints.some((taint) => taint.key === key) ? taints.filter((taint) => taint.key !== key) : undefined,
        options,
      ),
    deleteNode: (name, options) => remove(`delete node ${name}`, paths.node(name), options),

    getLease: (namespace, name, options) =>
      read<Lease>(`get lease ${namespace}/${name}`, paths.lease(namespace, name), options),
    listLeases: (namespace, labelSelector, options) =>
      list<Lease>(`list leases in ${namespace}`, paths.leases(namespace), { labelSelector }, options),
    createLease: (namespace, lease, options) =>
      call<Lease>(`create lease ${namespace}/${lease.metadata?.name}`, {
        method: 'POST',
        path: paths.leases(namespace),
        query: { fieldManager },
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
        ...deadlineOf(options),
      }),
    replaceLease: async (namespace, lease, options) => {
      const name = lease.metadata?.name ?? '';
      // Not a PUT: Leases allow create-on-update, so a PUT of a deleted Lease silently recreates it without
      // looking at resourceVersion (registry/coordination/lease/strategy.go). A PATCH never creates, and
      // replacing labels, annotations and spec whole is what a PUT would have written.
      const patch = [
        ...precondition(lease.metadata?.resourceVersion),
        { op: 'add', path: '/metadata/labels', value: lease.metadata?.labels ?? {} },
        { op: 'add', path: '/metadata/annotations', value: lease.metadata?.annotations ?? {} },
        { op: 'add', path: '/spec', value: lease.spec ?? {} },
      ];
      return call<Lease>(
        `replace lease ${namespace}/${name}`,
        {
          method: 'PATCH',
          path: paths.lease(namespace, name),
          query: { fieldManager },
          body: patch,
          contentType: JSON_PATCH,
          ...deadlineOf(options),
        },
        () => {
          // A Lease deleted under us is a lost compare-and-swap too.
          throw new KubeConflictError(`replace lease ${namespace}/${name}: gone`, { status: 404 });
        },
      );
    },

    listPodsOnNode: (node, options) =>
      list<Pod>(`list pods on ${node}`, paths.pods, { fieldSelector: `spec.nodeName=${node}` }, options),
    forceDeletePod: (namespace, name, options) =>
      remove(`delete pod ${namespace}/${name}`, paths.pod(namespace, name), {
        ...options,
        gracePeriodSeconds: 0,
      }),
    // VolumeAttachments have no field selector for the node: list and filter.
    listVolumeAttachments: async (node, options) =>
      (
        await list<VolumeAttachment>('list volumeattachments', paths.volumeAttachments, undefined, options)
      ).filter((attachment) => attachment.spec?.nodeName === node),
    deleteVolumeAttachment: (name, options) =>
      remove(`delete volumeattachment ${name}`, paths.volumeAttachment(name), options),
    listPersistentVolumes: (options) =>
      list<PersistentVolume>('list persistentvolumes', paths.persistentVolumes, undefined, options),

    createEvent: (namespace, event: EventInput) => {
      const now = new Date().toISOString();
      // The API server files an Event in its subject's namespace, and one about a cluster-scoped subject only
      // in `default`, where `kubectl describe node` looks; elsewhere it is refused with 422.
      const eventNamespace =
        event.subject.kind === 'Node'
          ? CLUSTER_SCOPED_EVENT_NAMESPACE
          : (event.subject.namespace ?? namespace);
      const body: KubeEvent = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${event.subject.name.slice(0, 200)}.`, namespace: eventNamespace },
        involvedObject: {
          apiVersion: event.subject.apiVersion,
          kind: event.subject.kind,
          name: event.subject.name,
          ...(event.subject.namespace ? { namespace: event.subject.namespace } : {}),
          ...(event.subject.uid ? { uid: event.subject.uid } : {}),
        },
        type: event.type,
        reason: event.reason,
        message: event.message.slice(0, 1024),
        source: { component: KUBE_NAMES.component },
        reportingComponent: KUBE_NAMES.component,
        reportingInstance: hostname().slice(0, 128),
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      return call<KubeEvent>(`create event in ${eventNamespace}`, {
        method: 'POST',
        path: paths.events(eventNamespace),
        body,
      });
    },
    ping: async () => {
      await call('get /version', { method: 'GET', path: paths.version });
    },
  };
}
