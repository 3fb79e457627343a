/**
 * A fence that stopped part-way, picked up again by a later request (an alert repeat, a manual request, the
 * tick): only under the guards its remaining phases need, only if it does not wait for an operator, and driven
 * from then on by the resuming request (its force, never the old one's).
 */
import { InstanceNotFoundError } from '../../drivers/driver.js';
import { KUBE_NAMES } from '../kube/names.js';
import { isLeaseHeld } from '../kube/node-facts.js';
import type { Lease } from '../kube/objects.js';
import { slotRefusal, summary } from './answers.js';
import type { NodeResult, RequestOptions } from './api.js';
import { type FenceContext, holderOf } from './context.js';
import type { ResumeRefusal } from './decision.js';
import { emitEvent } from './events.js';
import { nodeIdentity } from './fence-rules.js';
import { type NodeSnapshot, resumeRefusal } from './guards.js';
import type { Handoff } from './handoff.js';
import { runOrHandOver } from './handover.js';
import { type FenceJournal, type FenceTrigger, hasCompleted, isStale, nextPhase } from './journal.js';
import { writeJournal } from './journal-store.js';
import { tell } from './observer.js';
import { releaseSlot, takeSlot } from './slots.js';
import type { ClusterSnapshot } from './storm-guard.js';
import { EVENT_REASONS, REASONS } from './vocabulary.js';

/**
 * Takes over a fence with compare-and-swap, as `holder`, driven from now on by a request that forces it or
 * not; `handoffDigest` is kept only by the continuation it belongs to (a retried event may present it again),
 * any other takeover voids it. Undefined when someone else won.
 */
export async function takeOver(
  context: FenceContext,
  stored: { journal: FenceJournal; lease: Lease },
  holder: string,
  force: boolean,
  handoffDigest?: string,
) {
  const { waiting: _answered, ...journal } = stored.journal;
  const next: FenceJournal = {
    ...journal,
    // A failed fence is taken over only by an operator's request (see `resumeGate`): it runs again.
    status: 'running',
    force,
    attempt: stored.journal.attempt + 1,
    updatedAt: new Date(context.now()).toISOString(),
  };
  const updated = await writeJournal(context, next, { holder, handoffDigest }, stored.lease);
  return updated === 'conflict' ? undefined : { journal: next, lease: updated };
}

/** Ends a fence that has not powered anything off: the node came back, was excluded or replaced. */
export async function abandon(
  context: FenceContext,
  stored: { journal: FenceJournal; lease: Lease },
  refusal: ResumeRefusal,
  requestId: string,
): Promise<void> {
  const { kube, log } = context;
  const { journal } = stored;
  const taken = await takeOver(context, stored, holderOf(context, requestId), false);
  if (!taken) return;
  await kube
    .removeTaint(journal.node, KUBE_NAMES.fencingTaintKey, { uid: journal.nodeUid })
    .catch((error) =>
      log.warn('could not remove the fencing taint', { node: journal.node, reason: String(error) }),
    );
  const at = new Date(context.now()).toISOString();
  const aborted: FenceJournal = { ...taken.journal, status: 'aborted', finishedAt: at, updatedAt: at };
  await writeJournal(context, aborted, { holder: undefined }, taken.lease);
  tell(context, {
    kind: 'finished',
    journal: aborted,
    status: 'aborted',
    durationMs: context.now() - Date.parse(aborted.startedAt),
    why: {
      phase: nextPhase(taken.journal) ?? aborted.phase,
      reason: refusal.reason,
      message: refusal.message,
    },
  });
  log.warn('fence aborted on resume', {
    requestId,
    node: journal.node,
    fence: journal.id,
    reason: refusal.message,
  });
  await emitEvent(
    context,
    aborted,
    'Warning',
    EVENT_REASONS.aborted,
    `${refusal.reason}: ${refusal.message}`,
  );
  await releaseSlot(context, journal.node, journal.id).catch(() => {});
}

/**
 * Whether the instance a fence names is still the one its live Node resolves to now (before power-off, when
 * the cloud must show it): a journal never points the power-off at another machine.
 */
export async function instanceProblem(
  context: FenceContext,
  journal: FenceJournal,
  snapshot: NodeSnapshot,
  deadline: number,
): Promise<string | undefined> {
  if (hasCompleted(journal, 'PowerOff') || !snapshot.node) return undefined;
  const identity = nodeIdentity(snapshot.node);
  const picked = context.drivers.pick(identity);
  if (!('driver' in picked)) return picked.reason;
  try {
    const ref = await picked.driver.resolve(identity, { deadline });
    if (ref.provider !== journal.instance.provider || ref.id !== journal.instance.id) {
      return `the Node resolves to ${ref.provider}:${ref.id}, not the journal's ${journal.instance.provider}:${journal.instance.id}`;
    }
    return undefined;
  } catch (error) {
    if (error instanceof InstanceNotFoundError) return error.message;
    throw error;
  }
}

/**
 * A fence that waits for an operator: stopped longer ago than ALERTFENCE_RESUME_WITHIN, or failed for a
 * reason a retry cannot fix. Reported, and resumed by nothing but a manual request.
 */
export function waitsForOperator(context: FenceContext, journal: FenceJournal): NodeResult | undefined {
  const { config, log } = context;
  const base = { node: journal.node, fence: summary(journal) };
  const stopped = `fence ${journal.id} stopped after ${journal.phase} at ${journal.updatedAt}${journal.lastError ? ` (${journal.lastError.message})` : ''}`;
  if (isStale(journal, false, config.resumeWithinMs, context.now())) {
    log.warn('stale fence waits for an operator', {
      node: journal.node,
      fence: journal.id,
      outcome: 'refused',
      reason: REASONS.staleFence,
    });
    return {
      ...base,
      outcome: 'refused',
      reason: REASONS.staleFence,
      message: `${stopped}, longer ago than ALERTFENCE_RESUME_WITHIN (${config.resumeWithinMs / 1000}s); check the node and the machine, then resume it with a manual request`,
    };
  }
  if (journal.status === 'failed') {
    return {
      ...base,
      outcome: 'refused',
      reason: REASONS.needsOperator,
      message: `${stopped}; a retry cannot fix it: check, then resume it with a manual request`,
    };
  }
  return undefined;
}

/**
 * Records, once, that a stopped fence now waits for an operator, and says so to the observers (a notification
 * goes out once, not at every tick). Best effort: the fence waits either way.
 */
async function markWaiting(
  context: FenceContext,
  stored: { journal: FenceJournal; lease: Lease },
  result: NodeResult,
): Promise<void> {
  const { journal, lease } = stored;
  if (journal.waiting) return;
  const since = new Date(context.now()).toISOString();
  const next: FenceJournal = { ...journal, waiting: { since, reason: result.reason } };
  const written = await writeJournal(context, next, { holder: undefined }, lease).catch(() => 'conflict');
  if (written === 'conflict') return;
  tell(context, {
    kind: 'waiting-for-operator',
    node: journal.node,
    fence: journal.id,
    reason: result.reason,
    message: result.message,
  });
}

/** Refusals a resume gets before anything else: a fence in progress, or one that waits for an operator. */
function resumeGate(
  context: FenceContext,
  stored: { journal: FenceJournal; lease: Lease },
  trigger: FenceTrigger,
): NodeResult | undefined {
  const { journal, lease } = stored;
  if (isLeaseHeld(lease, context.now())) {
    return {
      node: journal.node,
      fence: summary(journal),
      outcome: 'in-progress',
      reason: REASONS.fenceInProgress,
      message: `fence ${journal.id} is running`,
    };
  }
  return trigger.kind === 'manual' ? undefined : waitsForOperator(context, journal);
}

/**
 * Resumes a fence that stopped part-way, under the guards its remaining phases need, driven from now on by
 * `trigger` (its force, never the old request's).
 */
export async function resumeFence(
  context: FenceContext,
  trigger: FenceTrigger,
  snapshot: NodeSnapshot,
  stored: { journal: FenceJournal; lease: Lease },
  cluster: ClusterSnapshot,
  options: RequestOptions,
  handoffs: Handoff[],
): Promise<NodeResult> {
  const { journal, lease } = stored;
  const gate = resumeGate(context, stored, trigger);
  if (gate) {
    if (gate.reason === REASONS.staleFence && !options.dryRun) await markWaiting(context, stored, gate);
    return gate;
  }
  const base = { node: journal.node, fence: summary(journal) };
  const refusal = resumeRefusal(journal, snapshot, cluster, context.config, context.now(), trigger.force);
  if (refusal) {
    if (refusal.abort && !options.dryRun) await abandon(context, stored, refusal, options.requestId);
    return { ...base, outcome: refusal.outcome, reason: refusal.reason, message: refusal.message };
  }
  const mismatch = await instanceProblem(context, journal, snapshot, options.deadline);
  if (mismatch) {
    return {
      ...base,
      outcome: 'refused',
      reason: REASONS.journalRejected,
      message: `fence ${journal.id} is not resumed: ${mismatch}`,
    };
  }
  const message = `resuming fence ${journal.id} after ${journal.phase}`;
  if (options.dryRun) return { ...base, outcome: 'planned', reason: REASONS.resume, message };
  const slot = await takeSlot(context, journal.node, journal.id, { deadline: options.deadline });
  if (!slot.taken) return { ...base, ...slotRefusal(context, slot) };
  const holder = holderOf(context, options.requestId);
  const taken = await takeOver(context, { journal, lease }, holder, trigger.force);
  if (!taken) {
    return {
      node: journal.node,
      outcome: 'in-progress',
      reason: REASONS.fenceInProgress,
      message: 'another invocation resumed it',
    };
  }
  const latest = await runOrHandOver(context, taken, holder, options, handoffs);
  return {
    node: journal.node,
    outcome: 'accepted',
    reason: REASONS.resume,
    message,
    fence: summary(latest),
    ...(options.wait ? { journal: latest } : {}),
  };
}
