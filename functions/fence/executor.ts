import type { Lease } from '../kube/objects.js';
import { KubeDeadlineError, KubeForbiddenError } from '../kube/port.js';
import { DeadlineExceededError, TIME_MARGINS } from '../lib/deadline.js';
import type { ExecutorDeps } from './deps.js';
import { describeError, isRetryable, LockLostError, SafetyViolationError } from './errors.js';
import { emitEvent } from './events.js';
import { completePhase, type FenceJournal, nextPhase } from './journal.js';
import { writeJournal } from './journal-store.js';
import { tell } from './observer.js';
import { PHASE_HANDLERS, type PhaseResult } from './phases.js';
import { releaseSlot } from './slots.js';
import { EVENT_REASONS, REASONS, type RunStatus } from './vocabulary.js';

/** Pause between looks at a pending phase whose handler did not wait by itself. */
const PENDING_PAUSE_MS = 1_000;

export type { ExecutorDeps } from './deps.js';

/** One invocation's hold on a fence: who it is, until when it may work, and with what authority. */
export interface RunContext {
  /** Identity written into the Lease's `holderIdentity` while this invocation works. */
  holder: string;
  /** Epoch ms by which this invocation must have saved its work and returned. */
  deadline: number;
  requestId: string;
  /** The force of the request this run belongs to; never an older request's (see `resumeRefusal`). */
  force: boolean;
  /** Digest of the hand-over nonce the Lease keeps while this run works (a retried event may present it). */
  handoffDigest?: string | undefined;
  /** Checked between phases: when true (the process is shutting down), save and hand the fence on. */
  shouldStop?: () => boolean;
}

export type { RunStatus };

export interface RunResult {
  status: RunStatus;
  journal: FenceJournal;
  /** The Lease as last written by this run, for the hand-over that follows a `continue`. */
  lease: Lease;
}

/** Time kept back from the invocation's deadline to save the journal and hand off. */
const SAVE_MARGIN_MS = TIME_MARGINS.saveMs;

/**
 * How long 401/403 answers are retried before the fence waits for a person: a restarted kube-apiserver refuses
 * everyone for its first moments, until its authorizer has read the RBAC objects; a refusal that lasts is RBAC
 * to fix.
 */
const FORBIDDEN_GRACE_MS = 60_000;

/** Whether `error`, or what it wraps (a phase may wrap it), is one of `kinds`. */
function causedBy(error: unknown, ...kinds: Array<abstract new (...args: never[]) => Error>): boolean {
  let seen: unknown = error;
  for (let depth = 0; seen instanceof Error && depth < 5; depth++) {
    if (kinds.some((kind) => seen instanceof kind)) return true;
    seen = seen.cause;
  }
  return false;
}

/**
 * Whether a phase failed because a deadline passed: a deadline error (a driver's call, a wait), or a Kubernetes
 * call the deadline cut short (`KubeDeadlineError`), maybe wrapped by the phase.
 */
function isDeadlineError(error: unknown): boolean {
  return causedBy(error, DeadlineExceededError, KubeDeadlineError);
}

/**
 * Runs a fence's remaining phases, in order, until it is done or the invocation's time is up. Each phase is
 * idempotent and its completion is written to the journal Lease with compare-and-swap, so a crash at any
 * point resumes from the last completed phase, and a second invocation can never run the same fence.
 *
 * The caller has checked the journal (seal, consistency, the live Node's identity, the instance) and run the
 * guards of the remaining phases; the phases look at the world again before each action.
 */
export async function runFence(
  deps: ExecutorDeps,
  start: { journal: FenceJournal; lease: Lease },
  context: RunContext,
): Promise<RunResult> {
  const { config, now } = deps;
  let { journal, lease } = start;
  const log = deps.log.child({ requestId: context.requestId, node: journal.node, fence: journal.id });

  const save = async (
    next: FenceJournal,
    holder: string | undefined,
    handoffDigest = context.handoffDigest,
  ): Promise<void> => {
    const written = await writeJournal(deps, next, { holder, handoffDigest }, lease);
    if (written === 'conflict')
      throw new LockLostError(`fence ${next.id}: another invocation took the Lease over`);
    lease = written;
    journal = next;
  };

  // A fence's whole duration, across invocations: from its start to now.
  const elapsed = (of: FenceJournal) => now() - Date.parse(of.startedAt);

  const driver = deps.drivers.byName(journal.instance.provider);
  if (!driver) {
    return finishWith('failed', new SafetyViolationError(`no enabled driver ${journal.instance.provider}`));
  }
  const instance = journal.instance;

  /** Retried, or handed to a person: the error's own word, but a refusal (401/403) only while it is young. */
  function failedPhase(error: unknown): Promise<RunResult> {
    if (!causedBy(error, KubeForbiddenError))
      return finishWith(isRetryable(error) ? 'retry' : 'failed', error);
    const since = journal.lastError?.forbiddenSince ?? new Date(now()).toISOString();
    return finishWith(now() - Date.parse(since) < FORBIDDEN_GRACE_MS ? 'retry' : 'failed', error, since);
  }

  async function finishWith(
    status: 'failed' | 'retry',
    error: unknown,
    forbiddenSince?: string,
  ): Promise<RunResult> {
    const phase = nextPhase(journal) ?? journal.phase;
    const message = describeError(error);
    const at = new Date(now()).toISOString();
    const next: FenceJournal = {
      ...journal,
      // A failure a retry may overcome leaves the fence running (resumable); any other one failed and waits
      // for an operator.
      status: status === 'failed' ? 'failed' : 'running',
      updatedAt: at,
      lastError: {
        phase,
        message,
        at,
        retryable: status === 'retry',
        ...(forbiddenSince ? { forbiddenSince } : {}),
      },
      ...(status === 'failed' ? { waiting: { since: at, reason: REASONS.needsOperator } } : {}),
    };
    log.warn('fence phase failed', { phase, outcome: status, reason: message });
    try {
      // Release the hold so the next alert repeat or retry can resume at once. A failure no retry can fix
      // also forgets the hand-over: nothing continues it but an operator.
      await save(next, undefined, status === 'retry' ? context.handoffDigest : undefined);
      await emitEvent(deps, next, 'Warning', EVENT_REASONS.phaseFailed, `${phase}: ${message}`);
      if (status === 'failed') {
        tell(deps, {
          kind: 'finished',
          journal: next,
          status: 'failed',
          durationMs: elapsed(next),
          why: { phase, reason: REASONS.needsOperator, message },
        });
        tell(deps, {
          kind: 'waiting-for-operator',
          node: next.node,
          fence: next.id,
          reason: REASONS.needsOperator,
          message: `${phase} failed: ${message}`,
        });
        await emitEvent(
          deps,
          next,
          'Warning',
          EVENT_REASONS.needsOperator,
          `${phase} failed for a reason a retry cannot fix; after looking, resume it with a manual request`,
        );
      }
    } catch (saveError) {
      log.error('could not record the failure in the journal', { phase, reason: String(saveError) });
    }
    return { status, journal, lease };
  }

  for (;;) {
    const phase = nextPhase(journal);
    if (!phase) {
      await releaseSlot(deps, journal.node, journal.id).catch(() => {});
      return { status: journal.status === 'aborted' ? 'aborted' : 'succeeded', journal, lease };
    }
    if (context.shouldStop?.()) {
      // Release the hold so the next invocation resumes at once instead of waiting out the Lease.
      await save({ ...journal, updatedAt: new Date(now()).toISOString() }, undefined).catch(() => {});
      log.info('stopping on request; the journal holds the progress', { phase, outcome: 'continue' });
      return { status: 'continue', journal, lease };
    }
    if (now() >= context.deadline - SAVE_MARGIN_MS) {
      log.info('invocation time is up; handing the fence on', { phase, outcome: 'continue' });
      return { status: 'continue', journal, lease };
    }
    const attemptStartedAt = now();
    // A phase that waited (maybe across invocations) started when its first attempt did.
    const startedAt =
      journal.pendingSince?.phase === phase ? Date.parse(journal.pendingSince.at) : attemptStartedAt;
    const invocationDeadline = context.deadline - SAVE_MARGIN_MS;
    const phaseDeadline = Math.min(invocationDeadline, attemptStartedAt + config.lockDurationMs / 2);
    let result: PhaseResult;
    try {
      result = await PHASE_HANDLERS[phase](
        deps,
        {
          journal,
          deadline: phaseDeadline,
          driver,
          instance,
          force: context.force,
          writeAhead: (next) => save({ ...next, updatedAt: new Date(now()).toISOString() }, context.holder),
        },
        log,
      );
    } catch (error) {
      if (error instanceof LockLostError) return { status: 'lock-lost', journal, lease };
      if (isDeadlineError(error) && phaseDeadline === invocationDeadline && now() >= invocationDeadline) {
        // The invocation's own time ran out, not the phase's (its lock/2 bound): nothing failed, so no error
        // goes into the journal; the fence is handed on with the hold kept, as at the top of the loop.
        log.info('invocation time ran out during the phase; handing the fence on', {
          phase,
          outcome: 'continue',
          reason: describeError(error),
        });
        return { status: 'continue', journal, lease };
      }
      return failedPhase(error);
    }
    try {
      if (result.kind === 'abort') {
        const aborted: FenceJournal = {
          ...journal,
          status: 'aborted',
          finishedAt: new Date(now()).toISOString(),
          updatedAt: new Date(now()).toISOString(),
        };
        await save(aborted, undefined, undefined);
        tell(deps, {
          kind: 'finished',
          journal: aborted,
          status: 'aborted',
          durationMs: elapsed(aborted),
          why: { phase, reason: result.reason, message: result.detail },
        });
        const why = `${result.reason}: ${result.detail}`;
        log.warn('fence aborted', { phase, outcome: 'aborted', reason: why });
        await emitEvent(deps, aborted, 'Warning', EVENT_REASONS.aborted, `${phase}: ${why}`);
        await releaseSlot(deps, journal.node, journal.id).catch(() => {});
        return { status: 'aborted', journal, lease };
      }
      if (result.kind === 'pending') {
        // Renew the hold and record progress; the loop runs the same phase again.
        await save(
          {
            ...result.journal,
            pendingSince: { phase, at: new Date(startedAt).toISOString() },
            updatedAt: new Date(now()).toISOString(),
          },
          context.holder,
        );
        log.info('waiting', {
          phase,
          outcome: 'pending',
          reason: result.detail,
          durationMs: now() - startedAt,
        });
        const pause = Math.min(
          PENDING_PAUSE_MS - (now() - attemptStartedAt),
          context.deadline - SAVE_MARGIN_MS - now(),
        );
        if (pause > 0) await deps.sleep(pause);
        continue;
      }
      const done = completePhase(result.journal, phase, startedAt, now(), result.detail);
      const finished = phase === 'Done';
      await save(done, finished ? undefined : context.holder, finished ? undefined : context.handoffDigest);
      tell(deps, { kind: 'phase-completed', journal: done, phase, durationMs: now() - startedAt });
      if (finished)
        tell(deps, { kind: 'finished', journal: done, status: 'succeeded', durationMs: elapsed(done) });
      log.info('phase completed', {
        phase,
        outcome: 'ok',
        reason: result.detail,
        durationMs: now() - startedAt,
      });
      await emitEvent(
        deps,
        done,
        'Normal',
        finished ? EVENT_REASONS.succeeded : EVENT_REASONS.phaseCompleted,
        `${phase}: ${result.detail}`,
      );
    } catch (error) {
      if (error instanceof LockLostError) {
        log.warn('lost the fence Lease to another invocation; stopping', { phase, outcome: 'lock-lost' });
        return { status: 'lock-lost', journal, lease };
      }
      return finishWith('retry', error);
    }
  }
}
