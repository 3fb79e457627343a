import type { Config } from '../config.js';
import {
  isControlPlane,
  isLeaseHeld,
  leaseRenewedAt,
  matchesSelector,
  readiness,
} from '../kube/node-facts.js';
import type { Lease, Node } from '../kube/objects.js';
import type { FenceJournal } from './journal.js';
import { KUBE_NAMES, type Outcome, REASONS, type Reason } from './vocabulary.js';

/** What the API server told us about one node at decision time. */
export interface NodeSnapshot {
  node: Node | undefined;
  kubeletLease: Lease | undefined;
  /** The node's journal Lease in the alertfence namespace, if any. */
  journalLease: Lease | undefined;
  journal: FenceJournal | undefined;
  /** A Lease in `medik8s-leases` held by another remediator. */
  remediatorLease: Lease | undefined;
}

/** What the API server told us about the whole cluster, read once per request. */
export interface ClusterSnapshot {
  nodes: Node[];
  /** Journals of fences that are running, by node. */
  runningFences: FenceJournal[];
}

export interface FenceRequest {
  node: string;
  trigger: 'alert' | 'manual';
  /** A manual fence of a node that looks healthy: skips the health checks, never the scope or storm checks. */
  force: boolean;
}

export interface Decision {
  outcome: Outcome;
  reason: Reason;
  message: string;
  /** Set when the decision is to continue an existing fence rather than start one. */
  resume?: FenceJournal;
}

type GuardConfig = Pick<
  Config,
  | 'nodeSelector'
  | 'excludeLabel'
  | 'allowControlPlane'
  | 'unhealthyForMs'
  | 'maxUnhealthy'
  | 'maxConcurrentFences'
  | 'cooldownMs'
>;

const refuse = (reason: Reason, message: string): Decision => ({ outcome: 'refused', reason, message });
const skip = (reason: Reason, message: string): Decision => ({ outcome: 'skipped', reason, message });

/** Whether a node is in alertfence's scope: opted in, not excluded, not control plane unless allowed. */
export function scopeRefusal(node: Node, config: GuardConfig): Decision | undefined {
  const labels = node.metadata?.labels ?? {};
  if (!matchesSelector(labels, config.nodeSelector)) {
    return refuse(
      REASONS.notInScope,
      `node does not match ALERTFENCE_NODE_SELECTOR "${config.nodeSelector}"`,
    );
  }
  for (const label of [config.excludeLabel, KUBE_NAMES.medik8sExcludeLabel]) {
    if (label in labels) return refuse(REASONS.excluded, `node carries the exclusion label ${label}`);
  }
  if (isControlPlane(node) && !config.allowControlPlane) {
    return refuse(
      REASONS.controlPlane,
      'node is a control-plane node (set ALERTFENCE_ALLOW_CONTROL_PLANE=true)',
    );
  }
  return undefined;
}

/**
 * Whether the node is down by the API server's own account: `Ready` not `True` for at least `unhealthyFor`,
 * and the kubelet's heartbeat Lease not renewed for as long. Alerts can be stale; this is the check that
 * keeps a live node from being fenced (safety invariant 2).
 */
export function healthRefusal(
  snapshot: Pick<NodeSnapshot, 'node' | 'kubeletLease'>,
  config: GuardConfig,
  now: number,
): Decision | undefined {
  const node = snapshot.node;
  if (!node) return undefined;
  const ready = readiness(node);
  if (ready.status === 'True') return refuse(REASONS.nodeReady, 'node is Ready');
  if (ready.since !== undefined && now - ready.since < config.unhealthyForMs) {
    const seconds = Math.round((now - ready.since) / 1000);
    return refuse(
      REASONS.notUnhealthyLongEnough,
      `Ready=${ready.status} for ${seconds}s, less than ALERTFENCE_UNHEALTHY_FOR (${config.unhealthyForMs / 1000}s)`,
    );
  }
  const renewed = leaseRenewedAt(snapshot.kubeletLease);
  if (renewed !== undefined && now - renewed < config.unhealthyForMs) {
    const seconds = Math.round((now - renewed) / 1000);
    return refuse(
      REASONS.kubeletLeaseFresh,
      `the kubelet renewed its Lease ${seconds}s ago: it may be alive`,
    );
  }
  return undefined;
}

/** Nodes in scope that are not Ready, against `maxUnhealthy` (count or percent of nodes in scope). */
export function stormRefusal(
  cluster: ClusterSnapshot,
  config: GuardConfig,
  node: string,
): Decision | undefined {
  const inScope = cluster.nodes.filter((candidate) => !scopeRefusal(candidate, config));
  const unhealthy = inScope.filter((candidate) => readiness(candidate).status !== 'True').length;
  const limit = config.maxUnhealthy;
  const allowed = limit.kind === 'count' ? limit.value : Math.floor((inScope.length * limit.value) / 100);
  if (unhealthy > allowed) {
    return refuse(
      REASONS.stormGuard,
      `${unhealthy} of ${inScope.length} nodes in scope are unhealthy, over ALERTFENCE_MAX_UNHEALTHY ` +
        `(${limit.kind === 'count' ? limit.value : `${limit.value}%`}): likely a partition or an API fault`,
    );
  }
  const others = cluster.runningFences.filter((journal) => journal.node !== node).length;
  if (others >= config.maxConcurrentFences) {
    return refuse(
      REASONS.tooManyFences,
      `${others} fence(s) already running, ALERTFENCE_MAX_CONCURRENT_FENCES is ${config.maxConcurrentFences}`,
    );
  }
  return undefined;
}

/**
 * The Confirm phase as a pure function: from what the API server says now, may this request start (or
 * resume) a fence of this node? Order matters: cheap, certain answers first; the health checks are the
 * heart of it.
 */
export function decide(
  request: FenceRequest,
  snapshot: NodeSnapshot,
  cluster: ClusterSnapshot,
  config: GuardConfig,
  now: number,
): Decision {
  const journal = snapshot.journal;
  if (journal && (journal.status === 'running' || journal.status === 'failed')) {
    if (isLeaseHeld(snapshot.journalLease, now)) {
      return {
        outcome: 'in-progress',
        reason: REASONS.fenceInProgress,
        message: `fence ${journal.id} is running`,
      };
    }
    // The last invocation stopped (timeout, crash, failure): continue from the last verified phase.
    return {
      outcome: 'accepted',
      reason: REASONS.resume,
      message: `resuming fence ${journal.id} after ${journal.phase}`,
      resume: journal,
    };
  }
  const node = snapshot.node;
  if (!node) return { outcome: 'not-found', reason: REASONS.nodeNotFound, message: 'no such Node' };

  if (journal?.status === 'succeeded' && journal.finishedAt) {
    const since = now - Date.parse(journal.finishedAt);
    if (since < config.cooldownMs) {
      return skip(
        REASONS.cooldown,
        `fenced ${Math.round(since / 1000)}s ago; ALERTFENCE_COOLDOWN is ${config.cooldownMs / 1000}s`,
      );
    }
  }
  const outOfScope = scopeRefusal(node, config);
  if (outOfScope) return outOfScope;
  if (isLeaseHeld(snapshot.remediatorLease, now)) {
    const holder = snapshot.remediatorLease?.spec?.holderIdentity;
    return refuse(REASONS.heldByOtherRemediator, `another remediator holds the node (${holder})`);
  }
  if (!request.force) {
    const unhealthy = healthRefusal(snapshot, config, now);
    if (unhealthy) return unhealthy;
  }
  const storm = stormRefusal(cluster, config, request.node);
  if (storm) return storm;
  return { outcome: 'accepted', reason: REASONS.accepted, message: 'node confirmed down' };
}
