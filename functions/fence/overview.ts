/**
 * What an operator reads of alertfence as a whole: the pause, the fences that run, failed or wait for an
 * operator (cluster-wide, from the journals), and a node's fence history.
 */
import { KUBE_NAMES } from '../kube/names.js';
import { isLeaseHeld } from '../kube/node-facts.js';
import type { KubeCallOptions } from '../kube/port.js';
import type { FenceListing, NodeHistory, Overview } from './api.js';
import type { FenceContext } from './context.js';
import { type FenceJournal, fenceRecords, isActive, isStale, journalLeaseName } from './journal.js';
import { readJournal } from './journal-store.js';
import { type Pause, pauseOf } from './pause.js';

function listing(journal: FenceJournal, held: boolean, stale: boolean): FenceListing {
  return {
    node: journal.node,
    id: journal.id,
    status: journal.status,
    phase: journal.phase,
    trigger: journal.trigger.kind,
    startedAt: journal.startedAt,
    updatedAt: journal.updatedAt,
    held,
    ...(journal.waiting
      ? { waiting: journal.waiting }
      : stale
        ? { waiting: { since: journal.updatedAt, reason: 'StaleFence' } }
        : {}),
    ...(journal.lastError ? { lastError: journal.lastError.message } : {}),
  };
}

/** The pause and every fence that is not over, cluster-wide, in one list of alertfence's Leases. */
export async function readOverview(context: FenceContext, options: KubeCallOptions): Promise<Overview> {
  const { kube, config, keys } = context;
  const now = context.now();
  const leases = await kube.listLeases(
    config.namespace,
    `app.kubernetes.io/managed-by=${KUBE_NAMES.component}`,
    options,
  );
  let pause: Pause | undefined;
  const fences: FenceListing[] = [];
  const rejected: Overview['rejected'] = [];
  let lastSucceeded: Overview['lastSucceeded'];
  for (const lease of leases) {
    const name = lease.metadata?.name ?? '';
    if (name === KUBE_NAMES.pauseLease) pause = pauseOf(lease, now);
    if (lease.metadata?.labels?.[KUBE_NAMES.kindLabel] !== 'journal') continue;
    const read = readJournal(lease, keys);
    if (read.kind === 'rejected') rejected.push({ node: name, reason: read.reason });
    if (read.kind !== 'trusted') continue;
    const { journal } = read;
    for (const record of fenceRecords(journal)) {
      if (record.status !== 'succeeded' || !record.finishedAt) continue;
      if (!lastSucceeded || record.finishedAt > lastSucceeded.finishedAt) {
        lastSucceeded = { node: journal.node, id: record.id, finishedAt: record.finishedAt };
      }
    }
    if (!isActive(journal)) continue;
    const held = isLeaseHeld(read.lease, now);
    fences.push(listing(journal, held, isStale(journal, held, config.resumeWithinMs, now)));
  }
  fences.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return { pause, fences, rejected, ...(lastSucceeded ? { lastSucceeded } : {}) };
}

/** A node's fences, the newest first; undefined when alertfence knows neither the Node nor a fence of it. */
export async function readHistory(
  context: FenceContext,
  node: string,
  options: KubeCallOptions,
): Promise<NodeHistory | undefined> {
  const { kube, config, keys } = context;
  const [live, lease] = await Promise.all([
    kube.getNode(node, options),
    kube.getLease(config.namespace, journalLeaseName(node), options),
  ]);
  const read = readJournal(lease, keys);
  if (read.kind === 'rejected') return { node, fences: [], rejected: read.reason };
  if (read.kind === 'none') return live ? { node, fences: [] } : undefined;
  return { node, fences: fenceRecords(read.journal) };
}
