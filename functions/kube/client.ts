import { hostname } from 'node:os';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  type KubeConfig,
  PatchStrategy,
  ServerConfiguration,
  StorageV1Api,
  setHeaderOptions,
  type V1Lease,
  V1MicroTime,
  type V1Taint,
  VersionApi,
} from '@kubernetes/client-node';
import { KUBE_NAMES } from '../fence/vocabulary.js';
import {
  type EventInput,
  KubeConflictError,
  KubeError,
  KubeForbiddenError,
  type KubePort,
  KubeUnavailableError,
  type MutationOptions,
} from './port.js';

export interface KubeClientOptions {
  /**
   * Supplies a bearer token per request, for tokens that expire (the EKS IAM token). Without it, the
   * kubeconfig's own credentials are used.
   */
  bearerToken?: () => Promise<string>;
  /** Time limit of each request; default `DEFAULT_REQUEST_TIMEOUT_MS`. */
  requestTimeoutMs?: number;
}

/** How many times a taint patch is retried when the Node changed between read and write. */
const PATCH_ATTEMPTS = 5;

const dryRunParam = (options?: MutationOptions) => (options?.dryRun ? { dryRun: 'All' } : {});
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/**
 * Maps a client failure to the port's errors by HTTP status; anything without a status is unreachable.
 * 422 (Invalid) is not a conflict: the API server refused the object itself, and a retry would be refused
 * again.
 */
function classify(error: unknown, what: string): KubeError {
  if (error instanceof KubeError) return error;
  if (error instanceof ApiException) {
    const status = error.code;
    const body = (typeof error.body === 'string' ? safeJson(error.body) : error.body) as
      | { reason?: string; message?: string }
      | undefined;
    const message = `${what}: HTTP ${status}${body?.reason ? ` ${body.reason}` : ''}${body?.message ? `: ${body.message}` : ''}`;
    if (status === 409) return new KubeConflictError(message, { status, cause: error });
    if (status === 401 || status === 403) return new KubeForbiddenError(message, { status, cause: error });
    if (status === 429 || status >= 500) return new KubeUnavailableError(message, { status, cause: error });
    return new KubeError(message, { status, cause: error });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new KubeUnavailableError(`${what}: API server unreachable (${reason})`, { cause: error });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}

const isNotFound = (error: unknown) => error instanceof ApiException && error.code === 404;

/**
 * A Lease's `acquireTime` and `renewTime` are `metav1.MicroTime`: the API server parses them with six
 * fractional digits and refuses the whole Lease (400) when a plain `Date` serialises with three.
 * client-node's `V1MicroTime` writes six; values read back from the server (strings) pass unchanged.
 */
function withMicroTimes(lease: V1Lease): V1Lease {
  const spec = lease.spec;
  if (!spec) return lease;
  const micro = (value: Date | undefined) =>
    value instanceof Date && !(value instanceof V1MicroTime) ? new V1MicroTime(value.getTime()) : value;
  return {
    ...lease,
    spec: {
      ...spec,
      ...(spec.acquireTime ? { acquireTime: micro(spec.acquireTime) } : {}),
      ...(spec.renewTime ? { renewTime: micro(spec.renewTime) } : {}),
    },
  };
}

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

/** An Event about a cluster-scoped object (a Node) must be filed in `default` (legacyValidateEvent). */
const CLUSTER_SCOPED_EVENT_NAMESPACE = 'default';

async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw classify(error, what);
  }
}

/** A read where 404 means "not there". */
async function read<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw classify(error, what);
  }
}

/** A delete where 404 means "already done". */
async function remove(what: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (isNotFound(error)) return;
    throw classify(error, what);
  }
}

/** Longest wait for one API request: a hung API server must not hang the invocation. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

function makeClient<T>(
  kc: KubeConfig,
  api: new (config: ReturnType<typeof createConfiguration>) => T,
  options: KubeClientOptions,
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const { bearerToken } = options;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return new api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: {
        default: {
          getName: () => 'alertfence',
          async applySecurityAuthentication(context) {
            // TLS settings and the kubeconfig's credentials; an expiring token (EKS) replaces the latter.
            await kc.applySecurityAuthentication(context);
            if (bearerToken) context.setHeaderParam('Authorization', `Bearer ${await bearerToken()}`);
            // Runs once per request, so every request gets its own time limit; an abort is "unreachable".
            context.setSignal(AbortSignal.timeout(timeoutMs));
          },
        },
      },
    }),
  );
}

/**
 * The Kubernetes port over `@kubernetes/client-node`: exactly the calls of `KubePort`, with errors classified
 * by HTTP status.
 */
export function createKubeClient(kc: KubeConfig, options: KubeClientOptions = {}): KubePort {
  const core = makeClient(kc, CoreV1Api, options);
  const coordination = makeClient(kc, CoordinationV1Api, options);
  const storage = makeClient(kc, StorageV1Api, options);
  const version = makeClient(kc, VersionApi, options);
  const fieldManager = KUBE_NAMES.component;

  /**
   * Patches the taint list with a JSON patch conditional on `resourceVersion`: other taints are kept (a merge
   * patch would replace the whole list), and a concurrent change makes us re-read, not clobber.
   */
  async function patchTaints(
    node: string,
    change: (taints: V1Taint[]) => V1Taint[] | undefined,
    options?: MutationOptions,
  ) {
    for (let attempt = 1; ; attempt++) {
      const current = await read(`get node ${node}`, () => core.readNode({ name: node }));
      if (!current) return;
      const taints = current.spec?.taints ?? [];
      const next = change(taints);
      if (!next) return;
      const patch = [
        ...precondition(current.metadata?.resourceVersion),
        { op: current.spec?.taints ? 'replace' : 'add', path: '/spec/taints', value: next },
      ];
      try {
        await core.patchNode({ name: node, body: patch, fieldManager, ...dryRunParam(options) }, jsonPatch);
        return;
      } catch (error) {
        const classified = classify(error, `patch taints of node ${node}`);
        if (isNotFound(error)) return;
        if (!(classified instanceof KubeConflictError) || attempt >= PATCH_ATTEMPTS) throw classified;
      }
    }
  }

  return {
    getNode: (name) => read(`get node ${name}`, () => core.readNode({ name })),
    listNodes: async () => (await call('list nodes', () => core.listNode())).items,
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
    deleteNode: (name, options) =>
      remove(`delete node ${name}`, () => core.deleteNode({ name, ...dryRunParam(options) })),

    getLease: (namespace, name) =>
      read(`get lease ${namespace}/${name}`, () => coordination.readNamespacedLease({ name, namespace })),
    listLeases: async (namespace, labelSelector) =>
      (
        await call(`list leases in ${namespace}`, () =>
          coordination.listNamespacedLease({ namespace, ...(labelSelector ? { labelSelector } : {}) }),
        )
      ).items,
    createLease: (namespace, lease, options) =>
      call(`create lease ${namespace}/${lease.metadata?.name}`, () =>
        coordination.createNamespacedLease({
          namespace,
          body: withMicroTimes(lease),
          fieldManager,
          ...dryRunParam(options),
        }),
      ),
    replaceLease: async (namespace, lease: V1Lease, options) => {
      const name = lease.metadata?.name ?? '';
      const body = withMicroTimes(lease);
      // Not a PUT: Leases allow create-on-update, so a PUT of a deleted Lease silently recreates it without
      // looking at resourceVersion (registry/coordination/lease/strategy.go). A PATCH never creates, and
      // replacing labels, annotations and spec whole is what a PUT would have written.
      const patch = [
        ...precondition(lease.metadata?.resourceVersion),
        { op: 'add', path: '/metadata/labels', value: body.metadata?.labels ?? {} },
        { op: 'add', path: '/metadata/annotations', value: body.metadata?.annotations ?? {} },
        { op: 'add', path: '/spec', value: body.spec ?? {} },
      ];
      try {
        return await coordination.patchNamespacedLease(
          { name, namespace, body: patch, fieldManager, ...dryRunParam(options) },
          jsonPatch,
        );
      } catch (error) {
        // A Lease deleted under us is a lost compare-and-swap too.
        if (isNotFound(error))
          throw new KubeConflictError(`replace lease ${namespace}/${name}: gone`, { status: 404 });
        throw classify(error, `replace lease ${namespace}/${name}`);
      }
    },

    listPodsOnNode: async (node) =>
      (
        await call(`list pods on ${node}`, () =>
          core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` }),
        )
      ).items,
    forceDeletePod: (namespace, name, options) =>
      remove(`delete pod ${namespace}/${name}`, () =>
        core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0, ...dryRunParam(options) }),
      ),
    // VolumeAttachments have no field selector for the node: list and filter.
    listVolumeAttachments: async (node) =>
      (await call('list volumeattachments', () => storage.listVolumeAttachment())).items.filter(
        (attachment) => attachment.spec?.nodeName === node,
      ),
    deleteVolumeAttachment: (name, options) =>
      remove(`delete volumeattachment ${name}`, () =>
        storage.deleteVolumeAttachment({ name, ...dryRunParam(options) }),
      ),
    listPersistentVolumes: async () =>
      (await call('list persistentvolumes', () => core.listPersistentVolume())).items,

    createEvent: (namespace, event: EventInput, options) => {
      const now = new Date();
      // The API server files an Event in its subject's namespace, and one about a cluster-scoped subject only
      // in `default`, where `kubectl describe node` looks; elsewhere it is refused with 422.
      const eventNamespace =
        event.subject.kind === 'Node'
          ? CLUSTER_SCOPED_EVENT_NAMESPACE
          : (event.subject.namespace ?? namespace);
      return call(`create event in ${eventNamespace}`, () =>
        core.createNamespacedEvent({
          namespace: eventNamespace,
          ...dryRunParam(options),
          body: {
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
          },
        }),
      );
    },
    ping: async () => {
      await call('get /version', () => version.getCode());
    },
  };
}
