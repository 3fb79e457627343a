/**
 * The guards of a fence: is the node down by the API server's own account, may a new fence start (Confirm),
 * and may a stopped fence go on (resume). Pure functions of what was read, so every path runs the same ones.
 */
import { isLeaseHeld, leaseRenewedAt, readiness } from '../kube/node-facts.js';
import type { Lease, Node } from '../kube/objects.js';
import { type Decision, type GuardConfig, type ResumeRefusal, refuse, skip } from './decision.js';
import { type FenceJournal, hasCompleted, powerOffsSince } from './journal.js';
import type { JournalRead } from './journal-store.js';
import { scopeRefusal } from './scope.js';
import { type ClusterSnapshot, stormRefusal } from './storm-guard.js';
import { REASONS } from './vocabulary.js';

/** What the API server told us about one node at decision time. */
export interface NodeSnapshot {
  node: Node | undefined;
  kubeletLease: Lease | undefined;
  /** The node's journal, read from its Lease in the alertfence namespace and checked. */
  journal: JournalRead;
  /** A Lease in `medik8s-leases` held by another remediator. */
  remediatorLease: Lease | undefined;
}

/**
 * Whether the node is down by the API server's own account: `Ready` not `True` for at least `unhealthyFor`,
 * and the kubelet's heartbeat Lease not renewed for as long. Alerts can be stale; this is the check that
 * keeps a live node from being fenced (safety invariant 2).
 *
 * Clocks can disagree (a kubelet's clock behind makes its renewals look old), so when the fence recorded the
 * Lease's `renewTime` at Confirm, any change since is taken for what it is: the kubelet is alive.
 */
export function healthRefusal(
  snapshot: Pick<NodeSnapshot, 'node' | 'kubeletLease'>,
  config: GuardConfig,
  now: number,
  confirmedRenewTime?: string,
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
  const renewTime = snapshot.kubeletLease?.spec?.renewTime;
  if (confirmedRenewTime !== undefined && renewTime !== undefined && renewTime !== confirmedRenewTime) {
    return refuse(
      REASONS.kubeletLeaseFresh,
      `the kubelet renewed its Lease since the fence was confirmed (${confirmedRenewTime} → ${renewTime}): it is alive`,
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

/** Whether the live Node is the one a fence is about: same UID, same providerID. */
export function identityProblem(journal: FenceJournal, node: Node): string | undefined {
  const uid = node.metadata?.uid;
  if (uid !== journal.nodeUid) {
    return `the Node ${journal.node} is not the one fence ${journal.id} is about (UID ${uid}, not ${journal.nodeUid}): it was recreated under the same name`;
  }
  const providerID = node.spec?.providerID || undefined;
  if (providerID !== journal.providerID) {
    return `the Node ${journal.node} now names ${providerID ?? 'no providerID'}, not ${journal.providerID ?? 'none'}`;
  }
  return undefined;
}

/**
 * The Confirm phase of a new fence as a pure function: from what the API server says now, may this request
 * start a fence of this node? Order matters: cheap, certain answers first; the health checks are the heart
 * of it. (A node with an active fence is the resume's business: see `resumeRefusal`.)
 */
export function decide(
  request: { force: boolean },
  snapshot: NodeSnapshot,
  cluster: ClusterSnapshot,
  config: GuardConfig,
  now: number,
): Decision {
  const early = clusterRefusal(snapshot, cluster, config, now);
  if (early) return early;
  if (isLeaseHeld(snapshot.remediatorLease, now)) {
    const holder = snapshot.remediatorLease?.spec?.holderIdentity;
    return refuse(REASONS.heldByOtherRemediator, `another remediator holds the node (${holder})`);
  }
  if (!request.force) {
    const unhealthy = healthRefusal(snapshot, config, now);
    if (unhealthy) return unhealthy;
  }
  return { outcome: 'accepted', reason: REASONS.accepted, message: 'node confirmed down' };
}

/**
 * The part of Confirm the node's own Node and journal answer: it exists, is not cooling down, is in scope.
 * Asked before anything is counted.
 */
export function nodeRefusal(
  snapshot: Pick<NodeSnapshot, 'node' | 'journal'>,
  config: GuardConfig,
  now: number,
): Decision | undefined {
  const node = snapshot.node;
  if (!node) return { outcome: 'not-found', reason: REASONS.nodeNotFound, message: 'no such Node' };
  const last = snapshot.journal.kind === 'trusted' ? snapshot.journal.journal : undefined;
  if (last?.status === 'succeeded' && last.finishedAt) {
    const since = now - Date.parse(last.finishedAt);
    if (since < config.cooldownMs) {
      return skip(
        REASONS.cooldown,
        `fenced ${Math.round(since / 1000)}s ago; ALERTFENCE_COOLDOWN is ${config.cooldownMs / 1000}s`,
      );
    }
  }
  return scopeRefusal(node, config);
}

/**
 * The part of Confirm the request's look at the cluster answers alone (no read of the node's own Leases):
 * `nodeRefusal`, then whether its zone, region and cluster are in a storm. Asked first, so a grouped alert of a
 * whole zone is refused without a read per node.
 */
export function clusterRefusal(
  snapshot: Pick<NodeSnapshot, 'node' | 'journal'>,
  cluster: ClusterSnapshot,
  config: GuardConfig,
  now: number,
): Decision | undefined {
  return nodeRefusal(snapshot, config, now) ?? stormRefusal(cluster, config, snapshot.node);
}

/**
 * The cap: a node whose machine alertfence powered off ALERTFENCE_MAX_FENCES_PER_NODE times within
 * ALERTFENCE_FENCE_WINDOW keeps dying for a reason fencing does not fix; a human must look. It holds for
 * alerts, the tick and detection; an operator's own request is that human.
 */
export function capRefusal(
  journal: FenceJournal | undefined,
  config: GuardConfig,
  now: number,
): Decision | undefined {
  if (!journal) return undefined;
  const fences = powerOffsSince(journal, now - config.fenceWindowMs);
  if (fences < config.maxFencesPerNode) return undefined;
  const hours = Math.round((config.fenceWindowMs / 3_600_000) * 10) / 10;
  return refuse(
    REASONS.fenceCap,
    `fenced ${fences} times in the last ${hours}h (ALERTFENCE_MAX_FENCES_PER_NODE is ${config.maxFencesPerNode}): a node that keeps dying needs a human; see GET /v1/nodes/${journal.node}/fences, then fence it by hand if that is the fix`,
  );
}

/**
 * The guards a resumed fence's remaining phases need, re-run on every resume (an alert, a manual request, a
 * continuation, the tick) from what the API server says now. `force` is the force of the request resuming it,
 * never the force of the request that started it.
 *
 * - Before power-off, all of Confirm: the Node is the fence's own, in scope, not held by another remediator,
 *   down (unless forced), and the cluster not in a storm. A node that came back, was excluded or replaced ends
 *   the fence here (`abort`): nothing but a taint to undo.
 * - After power-off, the machine is off and only identity matters: a Node recreated under the same name must
 *   never have its pods, attachments or itself released by this fence; that waits for an operator.
 */
export function resumeRefusal(
  journal: FenceJournal,
  snapshot: NodeSnapshot,
  cluster: ClusterSnapshot,
  config: GuardConfig,
  now: number,
  force: boolean,
): ResumeRefusal | undefined {
  const node = snapshot.node;
  const identity = node ? identityProblem(journal, node) : undefined;
  if (!hasCompleted(journal, 'PowerOff')) {
    if (!node) return { ...refuse(REASONS.nodeNotFound, 'the Node is gone; nothing to fence'), abort: true };
    if (identity) return { ...refuse(REASONS.nodeReplaced, identity), abort: true };
    const outOfScope = scopeRefusal(node, config);
    if (outOfScope) return { ...outOfScope, abort: true };
    if (isLeaseHeld(snapshot.remediatorLease, now)) {
      const holder = snapshot.remediatorLease?.spec?.holderIdentity;
      return {
        ...refuse(REASONS.heldByOtherRemediator, `another remediator holds the node (${holder})`),
        abort: true,
      };
    }
    if (!force) {
      const unhealthy = healthRefusal(snapshot, config, now, journal.kubeletRenewTime);
      if (unhealthy) return { ...unhealthy, abort: true };
    }
    const storm = stormRefusal(cluster, config, node);
    if (storm) return { ...storm, abort: false };
    return undefined;
  }
  if (identity && !hasCompleted(journal, 'DeleteNode')) {
    return { ...refuse(REASONS.nodeReplaced, identity), abort: false };
  }
  return undefined;
}
