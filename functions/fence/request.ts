/**
 * A request names nodes (an Alertmanager webhook, a manual fence, the tick): for each, a journal alertfence
 * will not obey is refused, a fence that stopped part-way is resumed, and otherwise Confirm decides whether a
 * new fence starts. One look at the cluster serves the whole request; the cluster is counted only for a node
 * that could be fenced.
 */
import { readiness } from '../kube/node-facts.js';

import { journalRejected, summary } from './answers.js';
import type { FenceTarget, NodeResult, RequestOptions } from './api.js';
import type { FenceContext } from './context.js';
import { refuse } from './decision.js';
import { describeError, isRetryable } from './errors.js';
import { capRefusal, decide, nodeRefusal } from './guards.js';
import type { Handoff } from './handoff.js';
import { isActive } from './journal.js';
import { tell } from './observer.js';
import { pauseRefusal } from './pause.js';
import { resumeFence } from './resume.js';
import { completeSnapshot, type RequestSnapshot, readRequestSnapshot } from './snapshot.js';
import { startFence } from './start.js';
import { stormRefusal } from './storm-guard.js';
import { REASONS } from './vocabulary.js';

/** One node of a request: a journal refused, a fence resumed, or a new fence decided on. */
async function decideNode(
  context: FenceContext,
  target: FenceTarget,
  cluster: RequestSnapshot,
  options: RequestOptions,
  handoffs: Handoff[],
): Promise<NodeResult> {
  const callOptions = { deadline: options.deadline };
  const node = cluster.nodes.get(target.node);
  const read = cluster.journals.get(target.node) ?? { kind: 'none', lease: undefined };
  if (read.kind === 'rejected') {
    return journalRejected(context, target.node, read, options.requestId, options.dryRun);
  }
  if (read.kind === 'trusted' && isActive(read.journal)) {
    const paused = pauseRefusal(cluster.pause, read.journal);
    if (paused) return { node: target.node, ...paused, fence: summary(read.journal) };
    const leases = cluster.leases.get(target.node);
    const snapshot = await completeSnapshot(context, target.node, node, read, callOptions, leases);
    const counts = await cluster.counts();
    return resumeFence(context, target.trigger, snapshot, read, counts, options, handoffs);
  }
  const fence = read.kind === 'trusted' ? { fence: summary(read.journal) } : {};
  const paused = node ? pauseRefusal(cluster.pause) : undefined;
  if (paused) return { node: target.node, ...paused, ...fence };
  const early = nodeRefusal({ node, journal: read }, context.config, context.now());
  if (early) return { node: target.node, ...early, ...fence };
  // A Ready node is never fenced without force (safety invariant 2), whatever the counts would say: its own
  // consistent read answers, and the cluster is not counted for it.
  if (!target.trigger.force && node && readiness(node).status === 'True') {
    return { node: target.node, ...refuse(REASONS.nodeReady, 'node is Ready'), ...fence };
  }
  const counts = await cluster.counts();
  const storm = stormRefusal(counts, context.config, node);
  if (storm) return { node: target.node, ...storm, ...fence };
  const previous = read.kind === 'trusted' ? read.journal : undefined;
  const capped =
    target.trigger.kind === 'manual' ? undefined : capRefusal(previous, context.config, context.now());
  if (capped) return { node: target.node, ...capped, ...fence };
  const leases = cluster.leases.get(target.node);
  const snapshot = await completeSnapshot(context, target.node, node, read, callOptions, leases);
  const decision = decide({ force: target.trigger.force }, snapshot, counts, context.config, context.now());
  if (decision.outcome !== 'accepted') return { node: target.node, ...decision, ...fence };
  return startFence(context, target.trigger, snapshot, decision.message, options, handoffs);
}

function decided(context: FenceContext, target: FenceTarget, result: NodeResult, options: RequestOptions) {
  tell(context, {
    kind: 'decided',
    node: target.node,
    outcome: result.outcome,
    reason: result.reason,
    message: result.message,
    trigger: target.trigger.kind,
    dryRun: options.dryRun,
  });
}

/** Decides on each node in turn, failing closed per node (safety invariant 6). */
export async function requestFences(
  context: FenceContext,
  targets: FenceTarget[],
  options: RequestOptions,
  handoffs: Handoff[],
  /** The look at the cluster the caller made already (the tick's); read here otherwise. */
  read?: RequestSnapshot,
): Promise<NodeResult[]> {
  const { log } = context;
  let snapshot: Promise<RequestSnapshot> | undefined = read ? Promise.resolve(read) : undefined;
  const results: NodeResult[] = [];
  const names = targets.map((target) => target.node);
  for (const target of targets) {
    try {
      // Read once for the whole request; a failed read is tried again for the next node.
      snapshot ??= readRequestSnapshot(context, names, { deadline: options.deadline }).catch((error) => {
        snapshot = undefined;
        throw error;
      });
      const result = await decideNode(context, target, await snapshot, options, handoffs);
      log.info('decision', {
        requestId: options.requestId,
        node: target.node,
        outcome: result.outcome,
        reason: result.reason,
      });
      decided(context, target, result, options);
      results.push(result);
    } catch (error) {
      // Nothing destructive happened; ask for a retry when it may help.
      const retryable = isRetryable(error);
      const message = describeError(error);
      log.warn('could not decide', {
        requestId: options.requestId,
        node: target.node,
        outcome: 'failed',
        reason: message,
      });
      const result: NodeResult = {
        node: target.node,
        outcome: 'failed',
        reason: retryable ? REASONS.apiUnavailable : REASONS.error,
        message,
        retryable,
      };
      decided(context, target, result, options);
      results.push(result);
    }
  }
  return results;
}
