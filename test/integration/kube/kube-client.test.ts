/**
 * Every call of `createKubeClient` (the `KubePort` alertfence uses) against a real kube-apiserver and etcd,
 * made as the alertfence ServiceAccount: real patch semantics, real `resourceVersion` conflicts and
 * real status codes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { V1Taint } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { fencingTaint, outOfServiceTaint } from '../../../functions/fence/fence-rules.js';
import { createKubeClient } from '../../../functions/kube/client.js';
import { leaseRenewedAt } from '../../../functions/kube/node-facts.js';
import { type Lease, microTime } from '../../../functions/kube/objects.js';
import { type EventInput, KubeConflictError, KubeUnavailableError } from '../../../functions/kube/port.js';
import { ALERTFENCE_NAMESPACE } from '../../peers/control-plane.js';
import { freePort } from '../../peers/process.js';
import {
  alertfenceIdentity,
  type ClusterSuite,
  isNotFound,
  mergePatchOptions,
  putNode,
  putPersistentVolume,
  putPod,
  putVolumeAttachment,
  readNode,
  useControlPlane,
} from './cluster.js';

/** A taint the node-lifecycle controller would have put there, with its `timeAdded`. */
const UNREACHABLE: V1Taint = {
  key: 'node.kubernetes.io/unreachable',
  effect: 'NoExecute',
  timeAdded: new Date('2026-11-22T09:00:00Z'),
};
const OPERATOR_TAINT: V1Taint = { key: 'example.com/dedicated', value: 'db', effect: 'NoSchedule' };

const taintKeys = (taints: V1Taint[] | undefined) => (taints ?? []).map((taint) => taint.key).sort();

/**
 * A proxy in front of the API server that lets a test act at the moment alertfence's client sends a request:
 * alertfence talks plain HTTP to it with its own token, and it forwards each request over TLS once the
 * test's hook has run.
 */
async function startInterceptor(suite: ClusterSuite) {
  const target = alertfenceIdentity(suite.cluster);
  const requests: string[] = [];
  let onRequest: ((method: string, path: string) => Promise<void>) | undefined;
  const upstream = new URL(target.server);
  const forward = async (incoming: IncomingMessage, answer: ServerResponse) => {
    const path = new URL(incoming.url ?? '/', 'http://proxy').pathname;
    requests.push(`${incoming.method} ${path}`);
    await onRequest?.(incoming.method ?? '', path);
    const outgoing = httpsRequest(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        path: incoming.url,
        method: incoming.method,
        headers: { ...incoming.headers, host: upstream.host },
        ca: target.tls.ca,
      },
      (response) => {
        answer.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(answer);
      },
    );
    outgoing.on('error', () => answer.destroy());
    incoming.pipe(outgoing);
  };
  const server: Server = createServer((incoming, answer) => {
    forward(incoming, answer).catch(() => answer.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    requests,
    set onRequest(hook: typeof onRequest) {
      onRequest = hook;
    },
    endpoint: alertfenceIdentity(suite.cluster, `http://127.0.0.1:${port}`),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function journalLeaseBody(name: string, holder: string, previous?: Lease): Lease {
  return {
    metadata: {
      name,
      namespace: ALERTFENCE_NAMESPACE,
      labels: { 'app.kubernetes.io/managed-by': 'alertfence' },
      ...(previous?.metadata?.resourceVersion ? { resourceVersion: previous.metadata.resourceVersion } : {}),
    },
    spec: { holderIdentity: holder, leaseDurationSeconds: 60, renewTime: microTime(Date.now()) },
  };
}

async function eventsAbout(suite: ClusterSuite, kind: string, name: string) {
  const list = await suite.core.listEventForAllNamespaces({
    fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}`,
  });
  return list.items;
}

describe('createKubeClient against a real API server', () => {
  const suite = useControlPlane();

  describe('reads', () => {
    it('should read a Node and its kubelet Lease, and list the Nodes', async () => {
      // Prepare
      await putNode(suite, { name: 'read-1', ready: false, providerID: 'simulated:///i-read-1' });

      // Act
      const [node, lease, nodes] = await Promise.all([
        suite.kube.getNode('read-1'),
        suite.kube.getLease('kube-node-lease', 'read-1'),
        suite.kube.listNodes(),
      ]);

      // Assess
      expect(node?.spec?.providerID).toBe('simulated:///i-read-1');
      expect(node?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('Unknown');
      // Timestamps arrive as the API server writes them: RFC 3339, with microseconds for a Lease.
      expect(node?.status?.conditions?.[0]?.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(lease?.spec?.renewTime).toMatch(/\.\d{6}Z$/);
      expect(lease?.spec?.holderIdentity).toBe('read-1');
      expect(Date.now() - (leaseRenewedAt(lease) ?? 0)).toBeGreaterThan(3_500_000);
      expect(nodes.map((n) => n.metadata?.name)).toContain('read-1');
    });

    it('should return undefined for a Node, a Lease or a namespace that does not exist', async () => {
      // Act
      const [node, lease, remediatorLease] = await Promise.all([
        suite.kube.getNode('no-such-node'),
        suite.kube.getLease('kube-node-lease', 'no-such-node'),
        // medik8s-leases does not exist in this cluster, as in most.
        suite.kube.getLease('medik8s-leases', 'node-no-such-node'),
      ]);

      // Assess
      expect(node).toBeUndefined();
      expect(lease).toBeUndefined();
      expect(remediatorLease).toBeUndefined();
    });

    it('should list the pods bound to the node from every namespace, and only those', async () => {
      // Prepare
      await putPod(suite, 'pods-1', 'db-0', 'apps');
      await putPod(suite, 'pods-1', 'agent', 'monitoring');
      await putPod(suite, 'pods-2', 'db-1', 'apps');

      // Act
      const pods = await suite.kube.listPodsOnNode('pods-1');

      // Assess
      expect(pods.map((pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`).sort()).toEqual([
        'apps/db-0',
        'monitoring/agent',
      ]);
    });

    it('should list the VolumeAttachments of the node only, and every PersistentVolume', async () => {
      // Prepare
      await putPersistentVolume(suite, 'pv-va-1', 'vol-0001');
      await putPersistentVolume(suite, 'pv-va-2', 'vol-0002');
      await putVolumeAttachment(suite, 'va-1', 'pv-va-1');
      await putVolumeAttachment(suite, 'va-2', 'pv-va-2');

      // Act
      const [attachments, volumes] = await Promise.all([
        suite.kube.listVolumeAttachments('va-1'),
        suite.kube.listPersistentVolumes(),
      ]);

      // Assess
      expect(attachments.map((a) => a.spec?.source?.persistentVolumeName)).toEqual(['pv-va-1']);
      expect(
        volumes
          .filter((pv) => pv.metadata?.name?.startsWith('pv-va-'))
          .map((pv) => pv.spec?.csi?.volumeHandle)
          .sort(),
      ).toEqual(['vol-0001', 'vol-0002']);
    });

    it('should answer ping', async () => {
      // Act + Assess
      await expect(suite.kube.ping()).resolves.toBeUndefined();
    });
  });

  describe('taints', () => {
    it('should add a taint with a JSON patch and keep every other taint as it was', async () => {
      // Prepare
      await putNode(suite, { name: 'taint-1', ready: false, taints: [UNREACHABLE, OPERATOR_TAINT] });

      // Act
      await suite.kube.addTaint('taint-1', fencingTaint());

      // Assess
      const taints = (await readNode(suite.core, 'taint-1'))?.spec?.taints;
      expect(taints).toEqual([
        expect.objectContaining({ ...UNREACHABLE }),
        expect.objectContaining({ ...OPERATOR_TAINT }),
        expect.objectContaining({ ...fencingTaint() }),
      ]);
      expect(taints?.[0]?.timeAdded?.toISOString()).toBe(UNREACHABLE.timeAdded?.toISOString());
    });

    it('should show why: a merge patch of the taint list drops the other taints', async () => {
      // Prepare: the same node as above.
      await putNode(suite, { name: 'taint-merge', ready: false, taints: [UNREACHABLE, OPERATOR_TAINT] });

      // Act: what a naive client would send (RFC 7386 replaces whole lists).
      await suite.core.patchNode(
        { name: 'taint-merge', body: { spec: { taints: [fencingTaint()] } } },
        mergePatchOptions,
      );

      // Assess: the controller's and the operator's taints are gone.
      const taints = (await readNode(suite.core, 'taint-merge'))?.spec?.taints;
      expect(taintKeys(taints)).toEqual([fencingTaint().key]);
    });

    it('should add a taint to a node that has none', async () => {
      // Prepare
      await putNode(suite, { name: 'taint-none', ready: false });

      // Act
      await suite.kube.addTaint('taint-none', outOfServiceTaint());

      // Assess
      const taints = (await readNode(suite.core, 'taint-none'))?.spec?.taints;
      expect(taints).toEqual([expect.objectContaining({ ...outOfServiceTaint() })]);
    });

    it('should not write at all when the taint is already there or already absent', async () => {
      // Prepare
      await putNode(suite, { name: 'taint-idem', ready: false, taints: [fencingTaint()] });
      const before = (await readNode(suite.core, 'taint-idem'))?.metadata?.resourceVersion;

      // Act
      await suite.kube.addTaint('taint-idem', fencingTaint());
      await suite.kube.removeTaint('taint-idem', 'example.com/not-there');

      // Assess
      expect((await readNode(suite.core, 'taint-idem'))?.metadata?.resourceVersion).toBe(before);
    });

    it('should remove only the taints with that key', async () => {
      // Prepare
      await putNode(suite, {
        name: 'taint-remove',
        ready: false,
        taints: [UNREACHABLE, fencingTaint(), OPERATOR_TAINT],
      });

      // Act
      await suite.kube.removeTaint('taint-remove', fencingTaint().key);

      // Assess
      const taints = (await readNode(suite.core, 'taint-remove'))?.spec?.taints;
      expect(taintKeys(taints)).toEqual([OPERATOR_TAINT.key, UNREACHABLE.key].sort());
    });

    it('should re-read and keep a taint another writer added between its read and its patch', async () => {
      // Prepare: the moment alertfence sends its first patch, a controller adds a taint of its own.
      await putNode(suite, { name: 'taint-race', ready: false });
      const proxy = await startInterceptor(suite);
      let raced = false;
      proxy.onRequest = async (method, path) => {
        if (method !== 'PATCH' || raced || !path.endsWith('/nodes/taint-race')) return;
        raced = true;
        await suite.core.patchNode(
          { name: 'taint-race', body: { spec: { taints: [UNREACHABLE] } } },
          mergePatchOptions,
        );
      };
      const kube = createKubeClient(proxy.endpoint);

      // Act
      await kube.addTaint('taint-race', fencingTaint()).finally(proxy.close);

      // Assess: the stale patch was refused by its resourceVersion test, re-read, and applied on top.
      const taints = (await readNode(suite.core, 'taint-race'))?.spec?.taints;
      expect(taintKeys(taints)).toEqual([fencingTaint().key, UNREACHABLE.key].sort());
      expect(proxy.requests).toEqual([
        'GET /api/v1/nodes/taint-race',
        'PATCH /api/v1/nodes/taint-race',
        'GET /api/v1/nodes/taint-race',
        'PATCH /api/v1/nodes/taint-race',
      ]);
    });

    it('should keep every taint when five writers add taints at the same time', async () => {
      // Prepare
      await putNode(suite, { name: 'taint-five', ready: false });
      const keys = [1, 2, 3, 4, 5].map((n) => `example.com/writer-${n}`);

      // Act
      await Promise.all(
        keys.map((key) => suite.kube.addTaint('taint-five', { key, value: 'x', effect: 'NoSchedule' })),
      );

      // Assess
      expect(taintKeys((await readNode(suite.core, 'taint-five'))?.spec?.taints)).toEqual(keys);
    });

    it('should do nothing when the node does not exist', async () => {
      // Act + Assess
      await expect(suite.kube.addTaint('no-such-node', fencingTaint())).resolves.toBeUndefined();
      await expect(suite.kube.removeTaint('no-such-node', fencingTaint().key)).resolves.toBeUndefined();
    });
  });

  describe('pods and volumes', () => {
    it('should force-delete a Terminating pod at once, and count a missing one as deleted', async () => {
      // Prepare: a graceful delete on a node without a kubelet leaves the pod Terminating for good.
      await putPod(suite, 'force-1', 'stuck-0', 'apps');
      await suite.core.deleteNamespacedPod({ name: 'stuck-0', namespace: 'apps' });
      const terminating = await suite.core.readNamespacedPod({ name: 'stuck-0', namespace: 'apps' });
      expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);

      // Act
      await suite.kube.forceDeletePod('apps', 'stuck-0');

      // Assess
      const gone = await suite.core.readNamespacedPod({ name: 'stuck-0', namespace: 'apps' }).then(
        () => false,
        (error: unknown) => isNotFound(error),
      );
      expect(gone).toBe(true);
      await expect(suite.kube.forceDeletePod('apps', 'stuck-0')).resolves.toBeUndefined();
    });

    it('should delete a VolumeAttachment, and count a missing one as deleted', async () => {
      // Prepare
      const attachment = await putVolumeAttachment(suite, 'va-del', 'pv-va-del');
      const name = attachment.metadata?.name ?? '';

      // Act
      await suite.kube.deleteVolumeAttachment(name);

      // Assess
      expect(await suite.kube.listVolumeAttachments('va-del')).toEqual([]);
      await expect(suite.kube.deleteVolumeAttachment(name)).resolves.toBeUndefined();
    });
  });

  describe('journal Leases', () => {
    it('should create a Lease once: a second create is a KubeConflictError', async () => {
      // Prepare
      await suite.kube.createLease(ALERTFENCE_NAMESPACE, journalLeaseBody('lease-once', 'first'));

      // Act
      const second = suite.kube.createLease(ALERTFENCE_NAMESPACE, journalLeaseBody('lease-once', 'second'));

      // Assess
      await expect(second).rejects.toBeInstanceOf(KubeConflictError);
      await expect(second).rejects.toMatchObject({ status: 409 });
      const stored = await suite.kube.getLease(ALERTFENCE_NAMESPACE, 'lease-once');
      expect(stored?.spec?.holderIdentity).toBe('first');
    });

    it('should let exactly one of two competing writers replace a Lease', async () => {
      // Prepare: two invocations read the same version.
      const created = await suite.kube.createLease(ALERTFENCE_NAMESPACE, journalLeaseBody('lease-cas', 'a'));
      const writers = [
        createKubeClient(suite.cluster.alertfenceEndpoint),
        createKubeClient(suite.cluster.alertfenceEndpoint),
      ];

      // Act
      const outcomes = await Promise.allSettled(
        writers.map((kube, index) =>
          kube.replaceLease(ALERTFENCE_NAMESPACE, journalLeaseBody('lease-cas', `writer-${index}`, created)),
        ),
      );

      // Assess
      const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]?.reason).toBeInstanceOf(KubeConflictError);
      expect(lost[0]?.reason).toMatchObject({ status: 409 });
      const winner = won[0]?.value.spec?.holderIdentity;
      const stored = await suite.kube.getLease(ALERTFENCE_NAMESPACE, 'lease-cas');
      expect(stored?.spec?.holderIdentity).toBe(winner);
      expect(stored?.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);
    });

    it('should report a replace of a deleted Lease as a lost compare-and-swap', async () => {
      // Prepare
      const created = await suite.kube.createLease(ALERTFENCE_NAMESPACE, journalLeaseBody('lease-gone', 'a'));
      await suite.coordination.deleteNamespacedLease({ name: 'lease-gone', namespace: ALERTFENCE_NAMESPACE });

      // Act
      const replace = suite.kube.replaceLease(
        ALERTFENCE_NAMESPACE,
        journalLeaseBody('lease-gone', 'b', created),
      );

      // Assess
      await expect(replace).rejects.toBeInstanceOf(KubeConflictError);
      await expect(replace).rejects.toMatchObject({ status: 404 });
    });

    it('should not mistake an invalid Lease for a lost compare-and-swap', async () => {
      // Prepare: a name the API server refuses (422 Invalid), as it would refuse an oversized journal.
      const invalid = journalLeaseBody('Not_A_DNS_Name', 'a');

      // Act
      const create = suite.kube.createLease(ALERTFENCE_NAMESPACE, invalid);

      // Assess: a conflict would tell the fence service "someone else holds the lock" and hide the fault.
      await expect(create).rejects.toMatchObject({ name: 'KubeError', status: 422 });
      await expect(create).rejects.not.toBeInstanceOf(KubeConflictError);
    });

    it('should list the Leases of its namespace by label selector', async () => {
      // Prepare
      await suite.kube.createLease(ALERTFENCE_NAMESPACE, journalLeaseBody('lease-listed', 'a'));
      await suite.coordination.createNamespacedLease({
        namespace: ALERTFENCE_NAMESPACE,
        body: { metadata: { name: 'lease-unlabelled' }, spec: {} },
      });

      // Act
      const leases = await suite.kube.listLeases(
        ALERTFENCE_NAMESPACE,
        'app.kubernetes.io/managed-by=alertfence',
      );

      // Assess
      const names = leases.map((lease) => lease.metadata?.name);
      expect(names).toContain('lease-listed');
      expect(names).not.toContain('lease-unlabelled');
    });
  });

  describe('events', () => {
    it('should record an Event about a journal Lease in the alertfence namespace', async () => {
      // Prepare
      const event: EventInput = {
        subject: {
          kind: 'Lease',
          name: 'event-lease',
          namespace: ALERTFENCE_NAMESPACE,
          apiVersion: 'coordination.k8s.io/v1',
        },
        type: 'Normal',
        reason: 'FenceSucceeded',
        message: 'fence f-1: Done: fence complete',
      };

      // Act
      const created = await suite.kube.createEvent(ALERTFENCE_NAMESPACE, event);

      // Assess
      expect(created?.metadata?.namespace).toBe(ALERTFENCE_NAMESPACE);
      const found = await eventsAbout(suite, 'Lease', 'event-lease');
      expect(found).toEqual([
        expect.objectContaining({
          type: 'Normal',
          reason: 'FenceSucceeded',
          message: 'fence f-1: Done: fence complete',
          reportingComponent: 'alertfence',
        }),
      ]);
    });

    it('should record an Event about a Node where `kubectl describe node` finds it', async () => {
      // Prepare
      const node = await putNode(suite, { name: 'event-node', ready: false });
      const event: EventInput = {
        subject: { kind: 'Node', name: 'event-node', apiVersion: 'v1', uid: node.metadata?.uid ?? '' },
        type: 'Warning',
        reason: 'FencePhaseFailed',
        message: 'fence f-2: PowerOff: DriverError',
      };

      // Act
      await suite.kube.createEvent(ALERTFENCE_NAMESPACE, event);

      // Assess
      const found = await eventsAbout(suite, 'Node', 'event-node');
      expect(found).toEqual([
        expect.objectContaining({
          type: 'Warning',
          reason: 'FencePhaseFailed',
          involvedObject: expect.objectContaining({
            kind: 'Node',
            name: 'event-node',
            uid: node.metadata?.uid,
          }),
        }),
      ]);
    });
  });

  describe('Node deletion', () => {
    it('should delete a Node, and count a missing one as deleted', async () => {
      // Prepare
      await putNode(suite, { name: 'delete-1', ready: false });

      // Act
      await suite.kube.deleteNode('delete-1');

      // Assess
      expect(await readNode(suite.core, 'delete-1')).toBeUndefined();
      await expect(suite.kube.deleteNode('delete-1')).resolves.toBeUndefined();
    });
  });

  describe('an API server that cannot be reached', () => {
    it('should throw KubeUnavailableError for reads, mutations and ping', async () => {
      // Prepare: the cluster's CA and token, but a port nothing listens on.
      const port = await freePort();
      const kube = createKubeClient(alertfenceIdentity(suite.cluster, `https://127.0.0.1:${port}`));

      // Act
      const calls = [
        kube.getNode('worker-1'),
        kube.listNodes(),
        kube.getLease('kube-node-lease', 'worker-1'),
        kube.addTaint('worker-1', fencingTaint()),
        kube.createLease(ALERTFENCE_NAMESPACE, journalLeaseBody('x', 'y')),
        kube.deleteNode('worker-1'),
        kube.ping(),
      ];
      const outcomes = await Promise.allSettled(calls);

      // Assess
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        if (outcome.status === 'rejected') {
          expect(outcome.reason).toBeInstanceOf(KubeUnavailableError);
          expect(outcome.reason.status).toBeUndefined();
        }
      }
    });
  });
});
