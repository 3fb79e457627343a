/**
 * One real control plane per test file, and the objects the tests put in it. Objects are made with the admin
 * identity; alertfence's own calls go through `createKubeClient` with the alertfence ServiceAccount.
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
  type V1Lease,
  V1MicroTime,
  type V1Node,
  type V1PersistentVolume,
  type V1Pod,
  type V1Taint,
  type V1VolumeAttachment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createKubeClient } from '../../../functions/kube/client.js';
import type { EndpointSpec } from '../../../functions/kube/kubeconfig.js';
import type { Taint } from '../../../functions/kube/objects.js';
import type { KubePort } from '../../../functions/kube/port.js';
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from '../../peers/control-plane.js';

/** The suite's control plane and clients on it. */
export interface ClusterSuite {
  readonly cluster: ControlPlane;
  /** Admin clients, for the test's own set-up and checks. */
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly storage: StorageV1Api;
  /** alertfence's Kubernetes port as the alertfence ServiceAccount: the code under test. */
  readonly kube: KubePort;
}

/** The suite's clients, built once the control plane is up. */
export function clientsOf(cluster: ControlPlane) {
  return {
    core: cluster.admin.makeApiClient(CoreV1Api),
    coordination: cluster.admin.makeApiClient(CoordinationV1Api),
    storage: cluster.admin.makeApiClient(StorageV1Api),
    kube: createKubeClient(cluster.alertfenceEndpoint),
  };
}

/**
 * Starts one control plane for the file (stopped after it). When it cannot start (a peer not built), every
 * test fails with that error: a failing `beforeAll` alone would only mark the tests skipped.
 */
export function useControlPlane(options: ControlPlaneOptions = {}): ClusterSuite {
  let started: (ReturnType<typeof clientsOf> & { cluster: ControlPlane }) | undefined;
  let startError: unknown;
  beforeAll(async () => {
    try {
      const cluster = await startControlPlane(options);
      started = { cluster, ...clientsOf(cluster) };
    } catch (error) {
      startError = error;
    }
  });
  afterAll(async () => {
    await started?.cluster.stop();
  });
  beforeEach(() => {
    if (!started) throw startError;
  });
  const get = () => {
    if (!started) throw startError;
    return started;
  };
  return {
    get cluster() {
      return get().cluster;
    },
    get core() {
      return get().core;
    },
    get coordination() {
      return get().coordination;
    },
    get storage() {
      return get().storage;
    },
    get kube() {
      return get().kube;
    },
  };
}

/**
 * The alertfence ServiceAccount's identity (its kubeconfig's CA and token), as an endpoint given by code: at
 * `server` when given, else at the API server.
 */
export function alertfenceIdentity(cluster: ControlPlane, server?: string): EndpointSpec {
  const api = cluster.alertfence.getCurrentCluster();
  return {
    server: server ?? cluster.server,
    tls: server?.startsWith('http:') ? {} : { ca: Buffer.from(api?.caData ?? '', 'base64').toString('utf8') },
    token: cluster.alertfence.getCurrentUser()?.token ?? '',
    source: 'the alertfence ServiceAccount',
  };
}

export const isNotFound = (error: unknown) => error instanceof ApiException && error.code === 404;

/** Reads a Node as admin; undefined once it is gone. */
export async function readNode(core: CoreV1Api, name: string): Promise<V1Node | undefined> {
  return core.readNode({ name }).catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
}

export interface NodeFixture {
  name: string;
  /** `Ready=True` (renewed now) or `Ready=Unknown` since `downForMs` ago with a Lease as stale. */
  ready: boolean;
  downForMs?: number;
  providerID?: string;
  /** The library's model (`timeAdded` a `Date`) or alertfence's (as JSON carries it). */
  taints?: Array<V1Taint | Taint>;
  labels?: Record<string, string>;
}

/**
 * A Node written directly, with no kubelet and no controllers behind it: its status and its kubelet Lease say
 * exactly what the test needs (a node dead for an hour, say), which no real kubelet could be made to say.
 */
export async function putNode(suite: ClusterSuite, fixture: NodeFixture): Promise<V1Node> {
  const now = Date.now();
  const since = new Date(fixture.ready ? now : now - (fixture.downForMs ?? 3_600_000));
  await suite.core.createNode({
    body: {
      metadata: { name: fixture.name, labels: { 'kubernetes.io/hostname': fixture.name, ...fixture.labels } },
      spec: fixture.providerID ? { providerID: fixture.providerID } : {},
    },
  });
  // Admission (TaintNodesByCondition) gave the new Node a not-ready taint; the fixture says what it has.
  await suite.core.patchNode(
    { name: fixture.name, body: { spec: { taints: fixture.taints ?? null } } },
    mergePatchOptions,
  );
  const node = await suite.core.patchNodeStatus(
    {
      name: fixture.name,
      body: [
        {
          op: 'add',
          path: '/status',
          value: {
            conditions: [
              {
                type: 'Ready',
                status: fixture.ready ? 'True' : 'Unknown',
                reason: fixture.ready ? 'KubeletReady' : 'NodeStatusUnknown',
                message: fixture.ready
                  ? 'kubelet is posting ready status'
                  : 'Kubelet stopped posting node status.',
                lastHeartbeatTime: since.toISOString(),
                lastTransitionTime: since.toISOString(),
              },
            ],
            addresses: [{ type: 'InternalIP', address: '10.0.0.10' }],
          },
        },
      ],
    },
    jsonPatchOptions,
  );
  await putKubeletLease(suite, fixture.name, since);
  return node;
}

/** The node's kubelet heartbeat, `kube-node-lease/<node>`, last renewed at `renewTime`. */
export async function putKubeletLease(suite: ClusterSuite, node: string, renewTime: Date): Promise<V1Lease> {
  return suite.coordination.createNamespacedLease({
    namespace: 'kube-node-lease',
    body: {
      metadata: { name: node, namespace: 'kube-node-lease' },
      spec: {
        holderIdentity: node,
        leaseDurationSeconds: 40,
        renewTime: new V1MicroTime(renewTime.getTime()),
      },
    },
  });
}

/** Per-call option that sends a patch as a JSON patch (RFC 6902). */
export const jsonPatchOptions = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
/** Per-call option that sends a patch as a JSON merge patch (RFC 7386). */
export const mergePatchOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A pod bound to `node` (no scheduler involved), in a namespace made for it. */
export async function putPod(
  suite: ClusterSuite,
  node: string,
  name: string,
  namespace = 'apps',
  extra: Partial<V1Pod['spec']> = {},
): Promise<V1Pod> {
  await suite.cluster.ensureNamespace(namespace);
  return suite.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, namespace },
      spec: {
        nodeName: node,
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 300,
        containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
        ...extra,
      },
    },
  });
}

/** A CSI PersistentVolume backed by cloud volume `volumeHandle`. */
export async function putPersistentVolume(
  suite: ClusterSuite,
  name: string,
  volumeHandle: string,
): Promise<V1PersistentVolume> {
  return suite.core.createPersistentVolume({
    body: {
      metadata: { name },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        csi: { driver: 'ebs.csi.aws.com', volumeHandle },
      },
    },
  });
}

/** A VolumeAttachment of PV `pv` to `node`, as a CSI attacher would record it. */
export async function putVolumeAttachment(
  suite: ClusterSuite,
  node: string,
  pv: string,
): Promise<V1VolumeAttachment> {
  return suite.storage.createVolumeAttachment({
    body: {
      metadata: { name: `csi-${pv}-${node}` },
      spec: { attacher: 'ebs.csi.aws.com', nodeName: node, source: { persistentVolumeName: pv } },
    },
  });
}
