/**
 * The zone-outage scenario of issues #16 and #18, in steps the integration test and `npm run bench:scale`
 * share: 1,000 kwok Nodes in three zones, each zone's kubelets one kwok process (zone-c in three: most of it,
 * five that die alone later, six that die with the many-dead run), alertfence armed against it.
 */
import type { FenceJournal } from '../../../functions/fence/journal.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import { waitUntil } from '../../peers/process.js';
import { peekJournal } from '../../support/peek-journal.js';
import { type AlertAnswer, type AlertResult, postAlert } from './alerts.js';
import type { NodeGroup, ScaleCluster } from './scale-cluster.js';

/** 1,000 Nodes, three zones of about a third each. */
export const OUTAGE_GROUPS: NodeGroup[] = [
  { group: 'zone-a', zone: 'zone-a', count: 327 },
  { group: 'dead-a', zone: 'zone-a', count: 7 },
  { group: 'zone-b', zone: 'zone-b', count: 326 },
  { group: 'dead-b', zone: 'zone-b', count: 7 },
  { group: 'zone-c', zone: 'zone-c', count: 322 },
  { group: 'few-c', zone: 'zone-c', count: 5 },
  { group: 'dead-c', zone: 'zone-c', count: 6 },
];

/** The kwok groups of zone-c: stopping all three is the zone going dark. */
export const ZONE_C = ['zone-c', 'few-c', 'dead-c'];
/** Five Nodes of zone-c that die alone once the zone is back. */
export const FEW_C = 'few-c';
/** Twenty Nodes over the three zones, for the many-dead-nodes run. */
export const MANY_DEAD = ['dead-a', 'dead-b', 'dead-c'];

/** How long a Node must be down before alertfence fences it, in these runs. */
export const UNHEALTHY_FOR_MS = 10_000;

/** The armed function's settings: the defaults of the storm guards, five fences at once. */
export const ARMED_ENV: Record<string, string> = {
  ALERTFENCE_DRY_RUN: 'false',
  ALERTFENCE_UNHEALTHY_FOR: `${UNHEALTHY_FOR_MS / 1000}s`,
  ALERTFENCE_MAX_CONCURRENT_FENCES: '5',
  ALERTFENCE_RELEASE_TIMEOUT: '20s',
};

/** Nodes of several groups. */
export function namesOf(cluster: ScaleCluster, groups: readonly string[]): string[] {
  return groups.flatMap((group) => cluster.group(group).map((node) => node.name));
}

/**
 * The groups' kubelets die: their kwok processes stop, the node-lifecycle controller marks the Nodes not
 * Ready after its grace period, and then `ALERTFENCE_UNHEALTHY_FOR` passes. Returns the ms until all were
 * not Ready.
 */
export async function killGroups(
  cluster: ScaleCluster,
  groups: readonly string[],
  timeoutMs = 120_000,
): Promise<number> {
  for (const group of groups) await cluster.stopGroup(group);
  const ms = await cluster.waitReadiness(namesOf(cluster, groups), false, timeoutMs);
  // The guard counts from the condition's lastTransitionTime, set when the controller saw each Node go.
  await new Promise((resolve) => setTimeout(resolve, UNHEALTHY_FOR_MS + 1_000));
  return ms;
}

/** The groups' kubelets come back (their kwok processes start again); returns the ms until all were Ready. */
export async function reviveGroups(
  cluster: ScaleCluster,
  groups: readonly string[],
  timeoutMs = 120_000,
): Promise<number> {
  for (const group of groups) await cluster.startGroup(group);
  return cluster.waitReadiness(namesOf(cluster, groups), true, timeoutMs);
}

export interface Burst {
  grouped: AlertAnswer;
  singles: AlertAnswer[];
}

/** One grouped alert naming every node of `zone`, and a single-node alert for each of `singles`, at once. */
export async function outageBurst(
  fn: { url: string; token: string },
  zone: readonly string[],
  singles: readonly string[],
): Promise<Burst> {
  const [grouped, ...rest] = await Promise.all([
    postAlert(fn, zone),
    ...singles.map((node) => postAlert(fn, [node])),
  ]);
  return { grouped: grouped as AlertAnswer, singles: rest };
}

/** Results counted by `outcome reason`, e.g. `{"refused FailureDomainStormGuard": 333}`. */
export function tally(results: readonly AlertResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const result of results) {
    const key = `${result.outcome} ${result.reason}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The journals in alertfence's namespace, as the admin reads them (not the slots Lease). */
export async function journals(cluster: ScaleCluster): Promise<FenceJournal[]> {
  const leases = await cluster.admin.listLeases('alertfence');
  return leases
    .filter((lease) => lease.metadata?.name !== KUBE_NAMES.slotsLease)
    .map((lease) => peekJournal(lease))
    .filter((journal): journal is FenceJournal => journal !== undefined);
}

/** Nodes that carry alertfence's fencing taint. */
export async function fencingTaints(cluster: ScaleCluster): Promise<string[]> {
  const nodes = await cluster.admin.listNodes();
  return nodes
    .filter((node) => node.spec?.taints?.some((taint) => taint.key === KUBE_NAMES.fencingTaintKey))
    .map((node) => node.metadata?.name ?? '');
}

/** Waits until the journal of every named node says `succeeded`; returns the journals. */
export async function waitFenced(
  cluster: ScaleCluster,
  names: readonly string[],
  timeoutMs: number,
): Promise<FenceJournal[]> {
  return waitUntil(
    async () => {
      const all = (await journals(cluster)).filter((journal) => names.includes(journal.node));
      const failed = all.find((journal) => journal.status === 'failed' || journal.status === 'aborted');
      if (failed) throw new Error(`fence of ${failed.node} ${failed.status}: ${failed.lastError?.message}`);
      return all.length === names.length && all.every((journal) => journal.status === 'succeeded')
        ? all
        : undefined;
    },
    { timeoutMs, intervalMs: 500, what: `the fences of ${names.length} nodes to succeed` },
  );
}
