import { DriverError } from '../../drivers/driver.js';
import type { DriverRegistry } from '../../drivers/registry.js';
import type { Config } from '../config.js';
import type { Lease } from '../kube/objects.js';
import { KubeConflictError, type KubePort, KubeUnavailableError } from '../kube/port.js';
import type { Logger } from '../log.js';
import { LockLostError, SafetyViolationError } from './errors.js';
import { completePhase, type FenceJournal, hasCompleted, journalLease, nextPhase } from './journal.js';
import { PHASE_HANDLERS, type StepResult } from './phases.js';
import { EVENT_REASONS } from './vocabulary.js';

export interface ExecutorDeps {
  kube: KubePort;
  drivers: DriverRegistry;
  config: Config;
  log: Logger;
  now: () => number;
  /** Pause between looks at a phase that is still pending (injected so tests run on fake time). */
  sleep: (ms: number) => Promise<void>;
}

/**
 * Writes a journal to its Lease with compare-and-swap (safety invariant 3): a create when there is no Lease
 * yet, else a replace at the version `previous` was read at. `'conflict'` when another writer got there first;
 * each caller knows what that means for it (lock taken, lock lost, resume taken).
 */
export async function writeJournal(
  deps: Pick<ExecutorDeps, 'kube' | 'config' | 'now'>,
  journal: FenceJournal,
  holder: string | undefined,
  previous: Lease | undefined,
): Promise<Lease | 'conflict'> {
  const { kube, config } = deps;
  const body = journalLease(config.namespace, journal, holder, config.lockDurationMs, deps.now(), previous);
  try {
    return previous
      ? await kube.replaceLease(config.namespace, body)
      : await kube.createLease(config.namespace, body);
  } catch (error) {
    if (error instanceof KubeConflictError) return 'conflict';
    throw error;
  }
}

/** Pause between looks at a pending phase whose handler did not wait by itself. */
const PENDING_PAUSE_MS = 1_000;

/** One invocation's hold on a fence: who it is and until when it may work. */
export interface RunContext {
  /** Identity written into the Lease's `holderIdentity` while this invocation works. */
  holder: string;
  /** Epoch ms by which this invocation must have saved its work and returned. */
  deadline: number;
  requestId: string;
  /** Checked between steps: when true (the process is shutting down), save and hand the fence on. */
  shouldStop?: () => boolean;
}

export type RunStatus = 'succeeded' | 'continue' | 'retry' | 'failed' | 'aborted' | 'lock-lost';

export interface RunResult {
  status: RunStatus;
  journal: FenceJournal;
}

/** Time kept back from the invocation's deadline to save the journal and hand off. */
const SAVE_MARGIN_MS = 3_000;

/**
 * Runs a fence's remaining phases, in order, until it is done or the invocation's time is up. Each phase is
 * idempotent and its completion is written to the journal Lease with compare-and-swap, so a crash at any
 * point resumes from the last completed phase, and a second invocation can never run the same fence.
 */
export async function runFence(
  deps: ExecutorDeps,
  start: { journal: FenceJournal; lease: Lease },
  context: RunContext,
): Promise<RunResult> {
  const { config, now } = deps;
  let { journal, lease } = start;
  const log = deps.log.child({ requestId: context.requestId, node: journal.node, fence: journal.id });

  const save = async (next: FenceJournal, holder: string | undefined): Promise<void> => {
    const written = await writeJournal(deps, next, holder, lease);
    if (written === 'conflict')
      throw new LockLostError(`fence ${next.id}: another invocation took the Lease over`);
    lease = written;
    journal = next;
  };

  const picked = journal.instance && deps.drivers.byName(journal.instance.provider);
  if (!picked || !journal.instance) {
    return finishWith('failed', new SafetyViolationError('journal names no instance or an unknown driver'));
  }
  const driver = picked;
  const instance = journal.instance;

  async function finishWith(status: 'failed' | 'retry', error: unknown): Promise<RunResult> {
    const phase = nextPhase(journal) ?? journal.phase;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const next: FenceJournal = {
      ...journal,
      status: status === 'failed' ? 'failed' : 'running',
      updatedAt: new Date(now()).toISOString(),
      lastError: { phase, message, at: new Date(now()).toISOString(), retryable: status === 'retry' },
    };
    log.warn('fence step failed', { phase, outcome: status, reason: message });
    try {
      // Release the hold so the next alert repeat or retry can resume at once.
      await save(next, undefined);
      await emitEvent(deps, next, 'Warning', EVENT_REASONS.phaseFailed, `${phase}: ${message}`);
    } catch (saveError) {
      log.error('could not record the failure in the journal', { phase, reason: String(saveError) });
    }
    return { status, journal };
  }

  for (;;) {
    const phase = nextPhase(journal);
    if (!phase) return { status: journal.status === 'aborted' ? 'aborted' : 'succeeded', journal };
    if (context.shouldStop?.()) {
      // Release the hold so the next invocation resumes at once instead of waiting out the Lease.
      await save({ ...journal, updatedAt: new Date(now()).toISOString() }, undefined).catch(() => {});
      log.info('stopping on request; the journal holds the progress', { phase, outcome: 'continue' });
      return { status: 'continue', journal };
    }
    if (now() >= context.deadline - SAVE_MARGIN_MS) {
      log.info('invocation time is up; handing the fence on', { phase, outcome: 'continue' });
      return { status: 'continue', journal };
    }
    const attemptStartedAt = now();
    // A phase that waited (maybe across invocations) started when its first attempt did.
    const startedAt =
      journal.pendingSince?.phase === phase ? Date.parse(journal.pendingSince.at) : attemptStartedAt;
    const stepDeadline = Math.min(
      context.deadline - SAVE_MARGIN_MS,
      attemptStartedAt + config.lockDurationMs / 2,
    );
    let result: StepResult;
    try {
      result = await PHASE_HANDLERS[phase](deps, { journal, deadline: stepDeadline, driver, instance }, log);
    } catch (error) {
      if (error instanceof LockLostError) return { status: 'lock-lost', journal };
      return finishWith(isRetryable(error) ? 'retry' : 'failed', error);
    }
    try {
      if (result.kind === 'abort') {
        const aborted: FenceJournal = {
          ...journal,
          status: 'aborted',
          finishedAt: new Date(now()).toISOString(),
          updatedAt: new Date(now()).toISOString(),
        };
        await save(aborted, undefined);
        log.warn('fence aborted', { phase, outcome: 'aborted', reason: result.detail });
        await emitEvent(deps, aborted, 'Warning', EVENT_REASONS.aborted, `${phase}: ${result.detail}`);
        return { status: 'aborted', journal };
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
      await save(done, phase === 'Done' ? undefined : context.holder);
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
        phase === 'Done' ? EVENT_REASONS.succeeded : EVENT_REASONS.phaseCompleted,
        `${phase}: ${result.detail}`,
      );
    } catch (error) {
      if (error instanceof LockLostError) {
        log.warn('lost the fence Lease to another invocation; stopping', { phase, outcome: 'lock-lost' });
        return { status: 'lock-lost', journal };
      }
      return finishWith('retry', error);
    }
  }
}

/** Remote trouble that a later attempt can overcome; everything else needs an operator. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof KubeUnavailableError || error instanceof KubeConflictError) return true;
  if (error instanceof DriverError) return error.retryable;
  return false;
}

/** Events go on the Node while it exists, then on the journal Lease. Best effort: never fails a fence. */
export async function emitEvent(
  deps: Pick<ExecutorDeps, 'kube' | 'config' | 'log'>,
  journal: FenceJournal,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  const onNode = !hasCompleted(journal, 'DeleteNode');
  try {
    await deps.kube.createEvent(deps.config.namespace, {
      subject: onNode
        ? {
            kind: 'Node',
            name: journal.node,
            apiVersion: 'v1',
            ...(journal.nodeUid ? { uid: journal.nodeUid } : {}),
          }
        : {
            kind: 'Lease',
            name: journal.node,
            namespace: deps.config.namespace,
            apiVersion: 'coordination.k8s.io/v1',
          },
      type,
      reason,
      message: `fence ${journal.id}: ${message}`,
    });
  } catch (error) {
    deps.log.warn('could not record a Kubernetes Event', { node: journal.node, reason: String(error) });
  }
}
