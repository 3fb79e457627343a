/**
 * A continuation: the invocation a fence handed itself to. It runs only with the nonce the fence's Lease
 * expects, only while armed, and under the same guards as any resume; then it runs the fence's remaining
 * phases until done or out of time, and hands the rest over again.
 */

import { KUBE_NAMES } from '../kube/names.js';
import { isLeaseHeld } from '../kube/node-facts.js';
import { TIME_MARGINS } from '../lib/deadline.js';
import { journalRejected, slotRefusal } from './answers.js';
import type { Answered, ContinueAnswer, InvocationOptions } from './api.js';
import { type FenceContext, holderOf } from './context.js';
import { runFence } from './executor.js';
import { resumeRefusal } from './guards.js';
import type { Handoff } from './handoff.js';
import { handOver } from './handover.js';
import { isActive } from './journal.js';
import { nonceMatches } from './journal-store.js';
import { pauseRefusal, readPause } from './pause.js';
import { abandon, instanceProblem, takeOver, waitsForOperator } from './resume.js';
import { takeSlot } from './slots.js';
import { readCounts, readNodeSnapshot } from './snapshot.js';
import { type ContinuationRefusal, REASONS, type Reason } from './vocabulary.js';

/** Backoff of in-invocation retries after a transient failure; then the next alert repeat or tick resumes. */
const RETRY_DELAYS_MS = [2_000, 5_000, 15_000] as const;

async function continueOnce(
  context: FenceContext,
  handoff: Handoff,
  options: InvocationOptions,
  handoffs: Handoff[],
): Promise<ContinueAnswer> {
  const { config, log } = context;
  const refused = (status: Exclude<ContinuationRefusal, 'disarmed'>, reason: Reason, message: string) => {
    log.warn('continuation refused', {
      requestId: options.requestId,
      node: handoff.node,
      fence: handoff.fenceId,
      outcome: status,
      reason: message,
    });
    return { status, reason, message };
  };
  const deadline = options.deadline;
  const snapshot = await readNodeSnapshot(context, handoff.node, { deadline });
  const read = snapshot.journal;
  if (read.kind === 'rejected') {
    const answer = await journalRejected(context, handoff.node, read, options.requestId, false);
    return { status: 'refused', reason: REASONS.journalRejected, message: answer.message };
  }
  if (read.kind !== 'trusted' || read.journal.id !== handoff.fenceId || !isActive(read.journal)) {
    return refused(
      'stale',
      REASONS.staleContinuation,
      `fence ${handoff.fenceId} of ${handoff.node} is not running`,
    );
  }
  // The nonce proves this is the continuation the fence handed itself to, and no replay or forgery.
  if (!nonceMatches(handoff.nonce, read.handoffDigest)) {
    return refused(
      'stale',
      REASONS.staleContinuation,
      `not the continuation fence ${handoff.fenceId} expects (replayed, forged or superseded)`,
    );
  }
  const { journal, lease } = read;
  const holder = lease.spec?.holderIdentity;
  if (holder && holder !== KUBE_NAMES.handoffHolder && isLeaseHeld(lease, context.now())) {
    return refused('in-progress', REASONS.fenceInProgress, `fence ${journal.id} is running`);
  }
  const waiting = waitsForOperator(context, journal);
  if (waiting) return refused('refused', waiting.reason as Reason, waiting.message);
  const paused = pauseRefusal(await readPause(context, { deadline }), journal);
  if (paused) return refused('refused', paused.reason, paused.message);
  const cluster = await readCounts(context, snapshot.node ? [snapshot.node] : [], { deadline });
  const refusal = resumeRefusal(journal, snapshot, cluster, config, context.now(), journal.force);
  if (refusal) {
    if (refusal.abort) await abandon(context, read, refusal, options.requestId);
    return refused('refused', refusal.reason, refusal.message);
  }
  const mismatch = await instanceProblem(context, journal, snapshot, deadline);
  if (mismatch) return refused('refused', REASONS.journalRejected, mismatch);
  const slot = await takeSlot(context, journal.node, journal.id, { deadline });
  if (!slot.taken) {
    const answer = slotRefusal(context, slot);
    return refused(
      answer.outcome === 'in-progress' ? 'in-progress' : 'refused',
      answer.reason as Reason,
      answer.message,
    );
  }
  const runner = holderOf(context, options.requestId);
  const taken = await takeOver(context, read, runner, journal.force, read.handoffDigest);
  if (!taken)
    return refused('in-progress', REASONS.fenceInProgress, 'another invocation took the fence over');
  const result = await runFence(context, taken, {
    holder: runner,
    deadline,
    requestId: options.requestId,
    force: taken.journal.force,
    handoffDigest: read.handoffDigest,
    shouldStop: options.shouldStop,
  });
  if (result.status === 'continue') await handOver(context, result.journal, result.lease, options, handoffs);
  return result;
}

/**
 * Continues a fence handed over by an earlier invocation. Disarmed means disarmed: a fence handed over while
 * armed waits, journaled, until the deployment is armed again (then the tick or an alert repeat resumes it).
 */
export async function continueFence(
  context: FenceContext,
  handoff: Handoff,
  options: InvocationOptions,
): Promise<Answered<ContinueAnswer>> {
  const { config, log } = context;
  const handoffs: Handoff[] = [];
  if (config.dryRun) {
    log.warn('continuation refused: the deployment is disarmed', {
      requestId: options.requestId,
      node: handoff.node,
      fence: handoff.fenceId,
      outcome: 'disarmed',
    });
    return {
      answer: {
        status: 'disarmed',
        reason: REASONS.disarmed,
        message: 'alertfence is disarmed (ALERTFENCE_DRY_RUN is not false): the fence waits in its journal',
      },
      handoffs,
    };
  }
  for (let retry = 0; ; retry++) {
    const answer = await continueOnce(context, handoff, options, handoffs);
    // A transient failure (throttling, an API server blip) is retried here with backoff rather than left to
    // Alertmanager's next repeat, which may be many minutes away. The run kept the nonce's digest, so the same
    // hand-over may take the fence again.
    const delay = RETRY_DELAYS_MS[retry];
    const done =
      answer.status !== 'retry' ||
      delay === undefined ||
      options.shouldStop?.() ||
      context.now() + delay >= options.deadline - TIME_MARGINS.retryMs;
    if (done) return { answer, handoffs };
    log.info('retrying after a transient failure', {
      requestId: options.requestId,
      node: handoff.node,
      fence: handoff.fenceId,
      reason: 'journal' in answer ? answer.journal.lastError?.message : undefined,
      retryInMs: delay,
    });
    await context.sleep(delay);
  }
}
