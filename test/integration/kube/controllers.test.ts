/**
 * alertfence against the real controllers: kube-controller-manager (node-lifecycle, taint-eviction, pod-gc)
 * and kwok's fake kubelets. A node "dies" for real when kwok stops its heartbeats.
 */
import { describe, expect, it } from 'vitest';
import { outOfServiceTaint } from '../../../functions/fence/fence-rules.js';
import { healthRefusal } from '../../../functions/fence/guards.js';
import { readiness } from '../../../functions/kube/node-facts.js';
import type { Node } from '../../../functions/kube/objects.js';
import { waitUntil } from '../../peers/process.js';
import { type ClusterSuite, putPod, readNode, useControlPlane } from './cluster.js';
import { createRealFence } from './fence.js';

const UNHEALTHY_FOR_MS = 10_000;
const env = {
  ALERTFENCE_UNHEALTHY_FOR: `${UNHEALTHY_FOR_MS / 1000}s`,
  ALERTFENCE_MAX_UNHEALTHY: '10',
  ALERTFENCE_MAX_CONCURRENT_FENCES: '5',
};

/** Waits until the node-lifecycle controller has marked the node `Ready=Unknown`. */
async function waitUntilUnknown(suite: ClusterSuite, name: string): Promise<Node> {
  return waitUntil(
    async () => {
      // As alertfence sees it: through its own client, with its own identity.
      const node = await suite.kube.getNode(name);
      return node && readiness(node).status === 'Unknown' ? node : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `node ${name} to become Ready=Unknown` },
  );
}

async function podsOn(suite: ClusterSuite, node: string) {
  return (await suite.kube.listPodsOnNode(node)).map((pod) => pod.metadata?.name).sort();
}

describe('alertfence with the real controllers and kwok kubelets', () => {
  const suite = useControlPlane({ controllers: true, kwok: true, nodeMonitorGracePeriod: '10s' });

  it('should agree with the node-lifecycle controller: refuse while Ready, confirm once Unknown long enough', async () => {
    // Prepare: a live kwok node.
    const fence = createRealFence(suite.kube, { env });
    fence.driver.addInstance('i-life-1');
    await suite.cluster.createNode('life-1', { providerID: 'simulated:///i-life-1' });
    const ask = async () => {
      const [result] = await fence.request(
        [{ node: 'life-1', trigger: { kind: 'alert', reason: 'KubeNodeNotReady', force: false } }],
        { requestId: 'confirm', dryRun: true, deadline: Date.now() + 10_000 },
      );
      return result;
    };

    // Act + Assess: alive, the node is refused.
    expect(await ask()).toMatchObject({ outcome: 'refused', reason: 'NodeReady' });

    // Act: the kubelet dies; the real controller notices.
    await suite.cluster.stopHeartbeat('life-1');
    const unknown = await waitUntilUnknown(suite, 'life-1');

    // Assess: alertfence reads what the controller wrote, and still refuses: not down long enough.
    const ready = readiness(unknown);
    expect(ready).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(await ask()).toMatchObject({ outcome: 'refused', reason: 'NotUnhealthyLongEnough' });

    // Act: wait out ALERTFENCE_UNHEALTHY_FOR after the controller's transition.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, (ready.since ?? Date.now()) + UNHEALTHY_FOR_MS + 500 - Date.now())),
    );
    const [node, kubeletLease] = await Promise.all([
      suite.kube.getNode('life-1'),
      suite.kube.getLease('kube-node-lease', 'life-1'),
    ]);

    // Assess: Confirm accepts (a dry-run plan), and the pure health check agrees.
    expect(await ask()).toMatchObject({ outcome: 'planned', reason: 'DryRun' });
    const snapshot = {
      node,
      kubeletLease,
      journalLease: undefined,
      journal: undefined,
      remediatorLease: undefined,
    };
    expect(healthRefusal(snapshot, fence.config, Date.now())).toBeUndefined();
    // The controller's own mark of the dead node. (Its NoExecute twin is rate-limited per zone and withheld
    // while every node of the zone is down: "full disruption" looks like a partition, not dead machines.)
    expect(node?.spec?.taints?.map((taint) => `${taint.key}:${taint.effect}`)).toContain(
      'node.kubernetes.io/unreachable:NoSchedule',
    );
    expect(fence.driver.calls.filter((call) => call.method !== 'describe')).toEqual([]);
  });

  it('should see the controllers force-delete the terminating pods of an out-of-service node, and only there', async () => {
    // Prepare: two dead nodes, each with a pod stuck Terminating (no kubelet to finish it) and one still
    // "Running"; only oos-1 gets the out-of-service taint.
    for (const name of ['oos-1', 'oos-2']) {
      await suite.cluster.createNode(name, { providerID: `simulated:///i-${name}` });
      await putPod(suite, name, `${name}-stuck`, 'apps');
      await putPod(suite, name, `${name}-running`, 'apps');
      await waitUntil(
        async () => {
          const pods = await suite.core.listNamespacedPod({
            namespace: 'apps',
            fieldSelector: `spec.nodeName=${name}`,
          });
          return pods.items.every((pod) => pod.status?.phase === 'Running');
        },
        { timeoutMs: 30_000, what: `kwok to run the pods on ${name}` },
      );
      await suite.cluster.stopHeartbeat(name);
    }
    await Promise.all(['oos-1', 'oos-2'].map((name) => waitUntilUnknown(suite, name)));
    for (const name of ['oos-1', 'oos-2']) {
      await suite.core.deleteNamespacedPod({ name: `${name}-stuck`, namespace: 'apps' });
    }
    const stuck = await suite.core.readNamespacedPod({ name: 'oos-1-stuck', namespace: 'apps' });
    expect(stuck.metadata?.deletionTimestamp).toBeInstanceOf(Date);

    // Act
    await suite.kube.addTaint('oos-1', outOfServiceTaint());

    // Assess: taint-eviction evicts the running pod, pod-gc force-deletes both terminating pods.
    await waitUntil(async () => (await podsOn(suite, 'oos-1')).length === 0, {
      timeoutMs: 90_000,
      intervalMs: 500,
      what: 'the controllers to remove the pods of oos-1',
    });
    expect(await podsOn(suite, 'oos-2')).toEqual(['oos-2-running', 'oos-2-stuck']);
    const untouched = await suite.core.readNamespacedPod({ name: 'oos-2-stuck', namespace: 'apps' });
    expect(untouched.metadata?.deletionTimestamp).toBeInstanceOf(Date);
  });

  it('should fence a dead kwok node with the controllers doing the release, no forcing', async () => {
    // Prepare: a node whose kubelet died with a pod on it; the release timeout is far beyond the test.
    const fence = createRealFence(suite.kube, { env: { ...env, ALERTFENCE_RELEASE_TIMEOUT: '10m' } });
    fence.driver.addInstance('i-dead-1', ['vol-dead-1']);
    await suite.cluster.createNode('dead-1', { providerID: 'simulated:///i-dead-1' });
    await putPod(suite, 'dead-1', 'db-0', 'apps');
    await suite.cluster.stopHeartbeat('dead-1');
    const since = readiness(await waitUntilUnknown(suite, 'dead-1')).since ?? Date.now();
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, since + UNHEALTHY_FOR_MS + 500 - Date.now())),
    );

    // Act
    const [result] = await fence.request(
      [{ node: 'dead-1', trigger: { kind: 'alert', reason: 'KubeNodeNotReady', force: false } }],
      { requestId: 'alert', dryRun: false, deadline: Date.now() + 10_000 },
    );
    await fence.drain();

    // Assess
    expect(result).toMatchObject({ outcome: 'accepted' });
    const journal = await fence.service.journal('dead-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.release.outOfServiceTaintAt).toBeDefined();
    expect(journal?.release.forcedAt).toBeUndefined();
    expect(await readNode(suite.core, 'dead-1')).toBeUndefined();
    expect(await podsOn(suite, 'dead-1')).toEqual([]);
    expect(fence.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
    expect(fence.logs.some((line) => line.includes('forced pods'))).toBe(false);
  });
});
