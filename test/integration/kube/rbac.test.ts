/**
 * alertfence's RBAC (`infra/kubernetes/`) on a real API server: a whole fence succeeds as the alertfence
 * ServiceAccount and nothing else, and that identity is refused what it has no business doing.
 */
import {
  ApiException,
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  StorageV1Api,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { KubeForbiddenError } from '../../../functions/kube/port.js';
import { ALERTFENCE_NAMESPACE } from '../../peers/control-plane.js';
import {
  putNode,
  putPersistentVolume,
  putPod,
  putVolumeAttachment,
  readNode,
  useControlPlane,
} from './cluster.js';
import { createRealFence, problems } from './fence.js';

/** The HTTP status a raw client-node call ends with (0 when it did not fail). */
async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 0;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

describe('alertfence RBAC on a real API server', () => {
  const suite = useControlPlane();

  it('should be the alertfence ServiceAccount, not an admin', async () => {
    // Act
    const review = await suite.cluster.alertfence.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: {},
    });

    // Assess
    expect(review.status?.userInfo?.username).toBe('system:serviceaccount:alertfence:alertfence');
    expect(review.status?.userInfo?.groups).not.toContain('system:masters');
  });

  it('should run a whole fence as the alertfence identity, forced release included', async () => {
    // Prepare: worker-1 dead for an hour with a pod, a VolumeAttachment and a PV-backed cloud volume;
    // two healthy nodes. A release timeout of 0 makes the executor force-delete the pod and the attachment
    // itself (no controllers run here), so every permission of the role is exercised.
    const fence = createRealFence(suite.kube, {
      env: { ALERTFENCE_MAX_UNHEALTHY: '50%', ALERTFENCE_RELEASE_TIMEOUT: '0s' },
    });
    fence.driver.addInstance('i-worker-1', ['vol-worker-1', 'vol-worker-1-scratch']);
    await putNode(suite, { name: 'worker-1', ready: false, providerID: 'simulated:///i-worker-1' });
    await putNode(suite, { name: 'worker-2', ready: true, providerID: 'simulated:///i-worker-2' });
    await putNode(suite, { name: 'worker-3', ready: true, providerID: 'simulated:///i-worker-3' });
    await putPod(suite, 'worker-1', 'db-0', 'apps');
    await putPersistentVolume(suite, 'pv-worker-1', 'vol-worker-1');
    await putVolumeAttachment(suite, 'worker-1', 'pv-worker-1');

    // Act
    const [result] = await fence.request(
      [{ node: 'worker-1', trigger: { kind: 'alert', reason: 'KubeNodeNotReady', force: false } }],
      { requestId: 'alert-1', dryRun: false, deadline: Date.now() + 30_000 },
    );
    const runs = await fence.drain();

    // Assess: the fence completed, in order, and left the cluster as designed.
    expect(result).toMatchObject({ node: 'worker-1', outcome: 'accepted', reason: 'Accepted' });
    expect(runs.at(-1)?.status).toBe('succeeded');
    const journal = await fence.service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.phases.map((step) => step.phase)).toEqual([...PHASES]);
    expect(journal?.release.forcedAt).toBeDefined();
    expect(journal?.release.detachRequested).toEqual(['vol-worker-1']);
    expect(await readNode(suite.core, 'worker-1')).toBeUndefined();
    expect(await suite.kube.listPodsOnNode('worker-1')).toEqual([]);
    expect(await suite.kube.listVolumeAttachments('worker-1')).toEqual([]);
    expect(
      fence.driver.calls.map((call) => `${call.method}${call.volumeId ? `:${call.volumeId}` : ''}`),
    ).toEqual(expect.arrayContaining(['powerOff', 'detachVolume:vol-worker-1', 'powerOn']));
    expect(fence.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
    expect(fence.driver.instances.get('i-worker-1')?.state).toBe('running');

    // Assess: every Event was recorded (on the Node while it existed, then on the journal Lease), and
    // nothing was refused or lost along the way.
    const events = await suite.core.listEventForAllNamespaces({
      fieldSelector: 'involvedObject.name=worker-1',
    });
    const byKind = (kind: string) =>
      events.items.filter((event) => event.involvedObject.kind === kind).map((event) => event.reason);
    // Mark, PowerOff, VerifyOff and Release complete while the Node exists; DeleteNode and PowerOn after.
    expect(byKind('Node').sort()).toEqual([
      'FencePhaseCompleted',
      'FencePhaseCompleted',
      'FencePhaseCompleted',
      'FencePhaseCompleted',
      'FenceStarted',
    ]);
    expect(byKind('Lease').sort()).toEqual(['FencePhaseCompleted', 'FencePhaseCompleted', 'FenceSucceeded']);
    expect(events.items.find((event) => event.involvedObject.kind === 'Node')?.metadata?.namespace).toBe(
      'default',
    );
    expect(problems(fence.logs).map((record) => record.msg)).toEqual([
      'release timed out; forced pods and VolumeAttachments',
    ]);
  });

  it('should refuse the alertfence identity as a KubeForbiddenError through the port', async () => {
    // Act: its Role lists Leases in its own namespace only.
    const list = suite.kube.listLeases('kube-node-lease');

    // Assess
    await expect(list).rejects.toBeInstanceOf(KubeForbiddenError);
    await expect(list).rejects.toMatchObject({ status: 403 });
  });

  const refused: Array<[string, (kc: KubeConfig) => Promise<unknown>]> = [
    [
      'reading a Secret',
      (kc) => kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'db-credentials', namespace: 'apps' }),
    ],
    ['listing Secrets', (kc) => kc.makeApiClient(CoreV1Api).listSecretForAllNamespaces()],
    [
      'reading a Secret in its own namespace',
      (kc) => kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: ALERTFENCE_NAMESPACE }),
    ],
    ['deleting a Namespace', (kc) => kc.makeApiClient(CoreV1Api).deleteNamespace({ name: 'apps' })],
    [
      'creating a pod',
      (kc) =>
        kc.makeApiClient(CoreV1Api).createNamespacedPod({
          namespace: 'apps',
          body: { metadata: { name: 'intruder' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
        }),
    ],
    [
      'updating a Node (taints go through patch only)',
      async (kc) => {
        const core = kc.makeApiClient(CoreV1Api);
        const node = await core.readNode({ name: 'rbac-bystander' });
        return core.replaceNode({ name: 'rbac-bystander', body: node });
      },
    ],
    [
      'watching Pods (only Nodes are watched)',
      (kc) => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces({ watch: true, timeoutSeconds: 1 }),
    ],
    [
      'writing a kubelet Lease',
      (kc) =>
        kc.makeApiClient(CoordinationV1Api).deleteNamespacedLease({
          name: 'rbac-bystander',
          namespace: 'kube-node-lease',
        }),
    ],
    [
      'deleting a PersistentVolume',
      (kc) => kc.makeApiClient(CoreV1Api).deletePersistentVolume({ name: 'pv-bystander' }),
    ],
    [
      'creating a VolumeAttachment',
      (kc) =>
        kc.makeApiClient(StorageV1Api).createVolumeAttachment({
          body: {
            metadata: { name: 'intruder' },
            spec: {
              attacher: 'x',
              nodeName: 'rbac-bystander',
              source: { persistentVolumeName: 'pv-bystander' },
            },
          },
        }),
    ],
  ];

  it.each(refused)('should refuse the alertfence identity %s (403)', async (_what, act) => {
    // Prepare: the objects exist, so a refusal cannot be mistaken for a 404.
    await suite.cluster.ensureNamespace('apps');
    await suite.core
      .createNamespacedSecret({
        namespace: 'apps',
        body: { metadata: { name: 'db-credentials' }, stringData: { password: 'hunter2' } },
      })
      .catch((error: unknown) => {
        if (!(error instanceof ApiException && error.code === 409)) throw error;
      });
    if (!(await readNode(suite.core, 'rbac-bystander'))) {
      await putNode(suite, { name: 'rbac-bystander', ready: true });
      await putPersistentVolume(suite, 'pv-bystander', 'vol-bystander');
    }

    // Act
    const status = await statusOf(() => act(suite.cluster.alertfence));

    // Assess
    expect(status).toBe(403);
    const [namespace, secret, node] = await Promise.all([
      suite.core.readNamespace({ name: 'apps' }),
      suite.core.readNamespacedSecret({ name: 'db-credentials', namespace: 'apps' }),
      readNode(suite.core, 'rbac-bystander'),
    ]);
    expect(namespace.metadata?.deletionTimestamp).toBeUndefined();
    expect(secret.metadata?.deletionTimestamp).toBeUndefined();
    expect(node?.metadata?.deletionTimestamp).toBeUndefined();
  });
});
