/**
 * The storm guard (safety invariant 4): many dead nodes at once, in one zone or region or everywhere, is a
 * partition, an outage or an API fault, not dead machines. The cluster is counted once per request.
 */
import type { Limit } from '../config.js';
import { KUBE_NAMES } from '../kube/names.js';
import { readiness } from '../kube/node-facts.js';
import type { Node } from '../kube/objects.js';
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

/**
 * Counts, once per request, the nodes in scope and the unhealthy ones: in the whole cluster, per zone and per
 * region (`topology.kubernetes.io/zone` and `/region`). A node without the label belongs to no domain: only
 * the cluster-wide count holds it.
 */
export function summarizeCluster(nodes: Node[], config: GuardConfig): ClusterSnapshot {
  const cluster: DomainCount = { inScope: 0, unhealthy: 0 };
  const zones = new Map<string, DomainCount>();
  const regions = new Map<string, DomainCount>();
  const add = (map: Map<string, DomainCount>, key: string, unhealthy: boolean) => {
    const count = map.get(key) ?? { inScope: 0, unhealthy: 0 };
    count.inScope += 1;
    if (unhealthy) count.unhealthy += 1;
    map.set(key, count);
  };
  for (const node of nodes) {
    if (scopeRefusal(node, config)) continue;
    const unhealthy = readiness(node).status !== 'True';
    cluster.inScope += 1;
    if (unhealthy) cluster.unhealthy += 1;
    const labels = node.metadata?.labels ?? {};
    const zone = labels[KUBE_NAMES.zoneLabel];
    const region = labels[KUBE_NAMES.regionLabel];
    if (zone) add(zones, zone, unhealthy);
    if (region) add(regions, region, unhealthy);
  }
  return { nodes, health: { cluster, zones, regions } };
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
