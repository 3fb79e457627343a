/**
 * The storm guard (safety invariant 4): many dead nodes at once, in one zone or region or everywhere, is a
 * partition, an outage or an API fault, not dead machines. The cluster is counted once per request.
 */
import type { Limit } from '../config.js';
import { KUBE_NAMES } from '../kube/names.js';
import { readiness } from '../kube/node-facts.js';
import type { Node } from '../kube/objects.js';
import type { NodeHealth } from '../kube/port.js';
import { type Decision, type GuardConfig, refuse } from './decision.js';
import { scopeRefusal } from './scope.js';
import { REASONS } from './vocabulary.js';

/** Nodes in scope of one part of the cluster, and how many of them are not Ready. */
export interface DomainCount {
  inScope: number;
  unhealthy: number;
}

/** What the API server told us about the whole cluster, read once per request and counted once. */
export interface ClusterSnapshot {
  nodes: Node[];
  /** The whole cluster's count, and each labelled zone's and region's. */
  health: { cluster: DomainCount; zones: Map<string, DomainCount>; regions: Map<string, DomainCount> };
}

/** Adds one node's part to the counts (`sign` 1), or takes it out (-1); a node out of scope has none. */
function countNode(health: ClusterSnapshot['health'], node: Node, config: GuardConfig, sign: 1 | -1) {
  if (scopeRefusal(node, config)) return;
  const unhealthy = readiness(node).status !== 'True' ? sign : 0;
  const add = (count: DomainCount) => {
    count.inScope += sign;
    count.unhealthy += unhealthy;
  };
  add(health.cluster);
  const labels = node.metadata?.labels ?? {};
  for (const [label, domains] of [
    [KUBE_NAMES.zoneLabel, health.zones],
    [KUBE_NAMES.regionLabel, health.regions],
  ] as const) {
    const key = labels[label];
    if (!key) continue;
    const count = domains.get(key) ?? { inScope: 0, unhealthy: 0 };
    add(count);
    domains.set(key, count);
  }
}

/**
 * Counts, once per request, the nodes in scope and the unhealthy ones: in the whole cluster, per zone and per
 * region (`topology.kubernetes.io/zone` and `/region`). A node without the label belongs to no domain: only
 * the cluster-wide count holds it.
 */
export function summarizeCluster(nodes: Node[], config: GuardConfig): ClusterSnapshot {
  const health: ClusterSnapshot['health'] = {
    cluster: { inScope: 0, unhealthy: 0 },
    zones: new Map(),
    regions: new Map(),
  };
  for (const node of nodes) countNode(health, node, config, 1);
  return { nodes, health };
}

/**
 * The counts with one node as `now` shows it instead of as `before` did (absent: not counted before): what a
 * node's own consistent read changes in counts made from elsewhere. `snapshot` is left as it was.
 */
export function recountNode(
  snapshot: ClusterSnapshot,
  before: Node | undefined,
  now: Node,
  config: GuardConfig,
): ClusterSnapshot {
  const copy = (domains: Map<string, DomainCount>) =>
    new Map([...domains].map(([key, count]) => [key, { ...count }]));
  const health = {
    cluster: { ...snapshot.health.cluster },
    zones: copy(snapshot.health.zones),
    regions: copy(snapshot.health.regions),
  };
  if (before) countNode(health, before, config, -1);
  countNode(health, now, config, 1);
  return { nodes: snapshot.nodes, health };
}

/**
 * The label part of alertfence's scope (`scopeRefusal`) as a selector the API server applies: the operator's
 * selector, without the exclusion labels, without control-plane nodes unless allowed. Taints are not labels:
 * a Node an autoscaler is removing is in what it selects (see `countHealthRows`).
 */
export function scopeSelector(config: GuardConfig): string {
  return [
    ...(config.nodeSelector ? [config.nodeSelector] : []),
    `!${config.excludeLabel}`,
    `!${KUBE_NAMES.medik8sExcludeLabel}`,
    ...(config.allowControlPlane ? [] : KUBE_NAMES.controlPlaneLabels.map((label) => `!${label}`)),
  ].join(',');
}

/**
 * The storm guards' counts from a table of the Nodes `scopeSelector` selects (name and readiness, from the
 * watch cache), when that table settles them; `undefined` when only the Nodes themselves can.
 *
 * A table has no taints, so its rows include Nodes an autoscaler is removing, which the guards leave out of
 * every count (`scopeRefusal`). It can only overcount the unhealthy nodes in scope, and the guards always allow
 * one: with at most one unhealthy row in the whole cluster, no zone, region or cluster count can refuse, which
 * is exactly what the full list would say. With more, the taints can change the numbers both ways (an
 * autoscaler's Ready nodes out of the base, its NotReady ones out of the unhealthy), so the caller reads the
 * full list. The named nodes are taken from their own consistent read: an unhealthy one in scope counts
 * whatever the cache says, one out of scope not at all.
 */
export function countHealthRows(
  rows: readonly NodeHealth[],
  named: readonly Node[],
  config: GuardConfig,
): ClusterSnapshot | undefined {
  const reserved = new Set<string>([KUBE_NAMES.slotsLease, KUBE_NAMES.pauseLease]);
  const inScope = new Set<string>();
  const unhealthy = new Set<string>();
  for (const row of rows) {
    if (reserved.has(row.name)) continue;
    inScope.add(row.name);
    if (!row.ready) unhealthy.add(row.name);
  }
  for (const node of named) {
    const name = node.metadata?.name ?? '';
    if (scopeRefusal(node, config)) {
      inScope.delete(name);
      unhealthy.delete(name);
      continue;
    }
    inScope.add(name);
    if (readiness(node).status !== 'True') unhealthy.add(name);
  }
  if (unhealthy.size > 1) return undefined;
  return {
    nodes: [...named],
    // Zones and regions hold at most the cluster's one unhealthy node: no domain count can refuse, none kept.
    health: {
      cluster: { inScope: inScope.size, unhealthy: unhealthy.size },
      zones: new Map(),
      regions: new Map(),
    },
  };
}

/** How many unhealthy nodes of `size` a limit allows: a count, or a percent rounded down. */
export function allowedUnhealthy(limit: Limit, size: number): number {
  return limit.kind === 'count' ? limit.value : Math.floor((size * limit.value) / 100);
}

const limitText = (limit: Limit) => (limit.kind === 'count' ? `${limit.value}` : `${limit.value}%`);

/**
 * The storm guard, for a node: no new fence when its zone or region has more unhealthy nodes than
 * `maxUnhealthyPerZone` allows, or the cluster more than `maxUnhealthy`. One dead node always is, per domain and
 * cluster-wide: a percentage of a small cluster rounds down to none, and one dead machine is what fencing is for.
 * Many dead nodes at once, in one domain or everywhere, is a partition, an outage or an API fault, not dead
 * machines (safety invariant 4).
 */
export function stormRefusal(
  cluster: ClusterSnapshot,
  config: GuardConfig,
  node?: Node,
): Decision | undefined {
  const labels = node?.metadata?.labels ?? {};
  const domains = [
    ['zone', KUBE_NAMES.zoneLabel, cluster.health.zones],
    ['region', KUBE_NAMES.regionLabel, cluster.health.regions],
  ] as const;
  for (const [kind, label, counts] of node ? domains : []) {
    const key = labels[label];
    const count = key ? counts.get(key) : undefined;
    if (!count) continue;
    const allowed = Math.max(1, allowedUnhealthy(config.maxUnhealthyPerZone, count.inScope));
    if (count.unhealthy > allowed) {
      return refuse(
        REASONS.domainStormGuard,
        `${kind} ${key}: ${count.unhealthy} of ${count.inScope} nodes in scope are unhealthy, over ` +
          `ALERTFENCE_MAX_UNHEALTHY_PER_ZONE (${limitText(config.maxUnhealthyPerZone)}): likely an outage or a ` +
          `partition of the ${kind}; nothing there is fenced until it recovers`,
      );
    }
  }
  const { inScope, unhealthy } = cluster.health.cluster;
  if (unhealthy > Math.max(1, allowedUnhealthy(config.maxUnhealthy, inScope))) {
    return refuse(
      REASONS.stormGuard,
      `${unhealthy} of ${inScope} nodes in scope are unhealthy, over ALERTFENCE_MAX_UNHEALTHY ` +
        `(${limitText(config.maxUnhealthy)}): likely a partition or an API fault`,
    );
  }
  return undefined;
}
