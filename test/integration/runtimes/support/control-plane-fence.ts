import { type V1Node, type V1Taint, Watch } from '@kubernetes/client-node';
import { expect } from 'vitest';
import { outOfServiceTaint } from '../../../../functions/fence/fence-rules.js';
import { type FenceJournal, journalLeaseName } from '../../../../functions/fence/journal.js';
import { PHASES } from '../../../../functions/fence/vocabulary.js';
import { waitUntil } from '../../../peers/process.js';
import { peekJournal as readJournal } from '../../../support/peek-journal.js';
import { type ClusterSuite, isNotFound, putNode, putPod, readNode } from '../../kube/cluster.js';

/** The dead node of `seedDeadNode` and its pod stuck Terminating. */
export const DEAD_NODE = 'worker-1';
const STUCK_POD = { name: 'db-0', namespace: 'apps' };

/**
 * Seeds the real API server for one fence: `worker-1` dead for an hour with a pod stuck Terminating on it (no
 * kubelet to finish it, no controllers to force it), `worker-2` to `worker-4` Ready (one dead of four is within
 * the default storm guard, 30%), all on the simulated cloud. Only alertfence's Release can make that pod go.
 */
export async function seedDeadNode(suite: ClusterSuite): Promise<void> {
  await putNode(suite, { name: DEAD_NODE, ready: false, providerID: `simulated:///i-${DEAD_NODE}` });
  for (const name of ['worker-2', 'worker-3', 'worker-4']) {
    await putNode(suite, { name, ready: true, providerID: `simulated:///i-${name}` });
  }
  await putPod(suite, DEAD_NODE, STUCK_POD.name, STUCK_POD.namespace);
  await suite.core.deleteNamespacedPod(STUCK_POD);
}

/** The taints of one Node at each change the API server's watch reported, up to its deletion. */
export interface NodeTaintWatch {
  events: Array<{ type: string; taints: V1Taint[] }>;
  /** Waits for the DELETED event, then ends the watch. */
  deleted(timeoutMs?: number): Promise<V1Taint[]>;
  stop(): void;
}

/** Watches `name` as admin from now on, so a taint put on and deleted with the Node is still seen. */
export async function watchNodeTaints(suite: ClusterSuite, name: string): Promise<NodeTaintWatch> {
  const events: NodeTaintWatch['events'] = [];
  let ended: unknown;
  const controller = await new Watch(suite.cluster.admin).watch(
    '/api/v1/nodes',
    { fieldSelector: `metadata.name=${name}` },
    (type, node: V1Node) => events.push({ type, taints: node.spec?.taints ?? [] }),
    (error) => {
      ended = error ?? 'the watch ended';
    },
  );
  return {
    events,
    async deleted(timeoutMs = 10_000) {
      const last = await waitUntil(
        () => {
          if (ended && !events.some((event) => event.type === 'DELETED')) throw new Error(String(ended));
          return events.find((event) => event.type === 'DELETED');
        },
        { timeoutMs, intervalMs: 50, what: `the watch to report ${name} DELETED` },
      );
      controller.abort();
      return last.taints;
    },
    stop: () => controller.abort(),
  };
}

/**
 * Assesses, on the API server, what a fence of `seedDeadNode`'s node left: the journal Lease in the
 * alertfence namespace succeeded at Done after `attempts` invocations with every phase once, the Node
 * deleted while it carried the out-of-service taint, the Terminating pod force-deleted without waiting out
 * the release timeout, the Ready nodes untouched. Returns the journal.
 */
export async function assessFencedOnApiServer(
  suite: ClusterSuite,
  taints: NodeTaintWatch,
  attempts: number,
): Promise<FenceJournal | undefined> {
  const journal = readJournal(await suite.kube.getLease('alertfence', journalLeaseName(DEAD_NODE)));
  expect(journal).toMatchObject({
    node: DEAD_NODE,
    status: 'succeeded',
    phase: 'Done',
    attempt: attempts,
    instance: { provider: 'simulated', id: `i-${DEAD_NODE}` },
    release: { outOfServiceTaintAt: expect.any(String), detachRequested: [] },
  });
  expect(journal?.release.forcedAt).toBeUndefined();
  expect(journal?.phases.map((step) => step.phase)).toEqual([...PHASES]);

  const oos = outOfServiceTaint();
  expect(await taints.deleted()).toContainEqual(expect.objectContaining(oos));
  expect(taints.events.some((event) => event.type === 'MODIFIED' && hasTaint(event.taints, oos))).toBe(true);
  expect(await readNode(suite.core, DEAD_NODE)).toBeUndefined();
  const pod = await suite.core.readNamespacedPod(STUCK_POD).catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
  expect(pod, 'the Terminating pod of the fenced node').toBeUndefined();
  for (const name of ['worker-2', 'worker-3']) {
    expect((await readNode(suite.core, name))?.spec?.taints ?? []).toEqual([]);
  }
  return journal;
}

function hasTaint(taints: V1Taint[], wanted: { key: string; value?: string; effect: string }): boolean {
  return taints.some(
    (taint) => taint.key === wanted.key && taint.value === wanted.value && taint.effect === wanted.effect,
  );
}
