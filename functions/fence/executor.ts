import type { V1Lease } from '@kubernetes/client-node';
import {
  DeadlineExceededError,
  DriverError,
  type InstanceRef,
  type PowerDriver,
} from '../../drivers/driver.js';
import type { DriverRegistry } from '../../drivers/registry.js';
import type { Config } from '../config.js';
import { fencingTaint, outOfServiceTaint, pvVolumeId, tolerates } from '../kube/node-facts.js';
import { KubeConflictError, type KubePort, KubeUnavailableError } from '../kube/port.js';
import type { Logger } from '../log.js';
import { LockLostError, PowerTimeoutError, SafetyViolationError } from './errors.js';
import { healthRefusal, type NodeSnapshot } from './guards.js';
import { completePhase, type FenceJournal, hasCompleted, journalLease, nextPhase } from './journal.js';
import { EVENT_REASONS, type Phase } from './vocabulary.js';

export interface ExecutorDeps {
  kube: KubePort;
  drivers: DriverRegistry;
  config: Config;
  log: Logger;
  now: () => number;
  /** Pause between looks at a phase that is still pending (injected so tests run on fake time). */
  sleep: (ms: number) => Promise<void>;
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

/** What a phase handler concluded. `pending` means "not yet; run me again", after a bounded wait. */
type StepResult =
  | { kind: 'done'; journal: FenceJournal; detail: string }
  | { kind: 'pending'; journal: FenceJournal; detail: string }
  | { kind: 'abort'; detail: string };

interface StepInput {
  journal: FenceJournal;
  /** Deadline of this step: never past the invocation's, and short enough to renew the Lease in time. */
  deadline: number;
  driver: PowerDriver;
  instance: InstanceRef;
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
  start: { journal: FenceJournal; lease: V1Lease },
  context: RunContext,
): Promise<RunResult> {
  const { kube, config, now } = deps;
  let { journal, lease } = start;
  const log = deps.log.child({ requestId: context.requestId, node: journal.node, fence: journal.id });

  const save = async (next: FenceJournal, holder: string | undefined): Promise<void> => {
    const body = journalLease(config.namespace, next, holder, config.lockDurationMs, now(), lease);
    try {
      lease = await kube.replaceLease(config.namespace, body);
    } catch (error) {
      if (error instanceof KubeConflictError) {
        throw new LockLostError(`fence ${next.id}: another invocation took the Lease over`, { cause: error });
      }
      throw error;
    }
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
      result = await HANDLERS[phase](deps, { journal, deadline: stepDeadline, driver, instance }, log);
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
function isRetryable(error: unknown): boolean {
  if (error instanceof KubeUnavailableError || error instanceof KubeConflictError) return true;
  if (error instanceof DriverError) return error.retryable;
  return false;
}

type Handler = (deps: ExecutorDeps, input: StepInput, log: Logger) => Promise<StepResult>;

const HANDLERS: Record<Phase, Handler> = {
  // Confirm and Lock complete before the executor runs (see fence-service.ts); nothing to do if replayed.
  Confirm: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'confirmed' }),
  Lock: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'locked' }),

  async Mark({ kube }, { journal }) {
    await kube.addTaint(journal.node, fencingTaint());
    return { kind: 'done', journal, detail: `taint ${fencingTaint().key}:NoSchedule added` };
  },

  async PowerOff(deps, { journal, deadline, driver, instance }) {
    if (!journal.trigger.force) {
      // Last look before the point of no return: a node that came back is left alone (invariant 2).
      const [node, kubeletLease] = await Promise.all([
        deps.kube.getNode(journal.node),
        deps.kube.getLease('kube-node-lease', journal.node),
      ]);
      if (!node) return { kind: 'abort', detail: 'the Node disappeared before power-off' };
      const snapshot: NodeSnapshot = {
        node,
        kubeletLease,
        journalLease: undefined,
        journal: undefined,
        remediatorLease: undefined,
      };
      const refusal = healthRefusal(snapshot, deps.config, deps.now());
      if (refusal) {
        await deps.kube.removeTaint(journal.node, fencingTaint().key);
        return { kind: 'abort', detail: `${refusal.reason}: ${refusal.message}` };
      }
    }
    const description = await driver.describe(instance, { deadline });
    if (description.power === 'off') {
      return { kind: 'done', journal, detail: `instance ${instance.id} already ${description.cloudState}` };
    }
    await driver.powerOff(instance, { deadline });
    return {
      kind: 'done',
      journal,
      detail: `power-off of ${instance.id} requested (was ${description.cloudState})`,
    };
  },

  async VerifyOff(deps, { journal, deadline, driver, instance }, log) {
    try {
      const description = await driver.waitForPower(instance, 'off', {
        deadline,
        onProgress: (detail) => log.info('progress', { phase: 'VerifyOff', reason: detail }),
      });
      const verified = { ...journal, verifiedOffAt: new Date(deps.now()).toISOString() };
      return {
        kind: 'done',
        journal: verified,
        detail: `instance ${instance.id} verified ${description.cloudState}`,
      };
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      const since = stepFinishedAt(journal, 'PowerOff');
      if (deps.now() - since > deps.config.powerTimeoutMs) {
        throw new PowerTimeoutError(
          `instance ${instance.id} not off after ${deps.config.powerTimeoutMs / 1000}s`,
          {
            cause: error,
          },
        );
      }
      return { kind: 'pending', journal, detail: error.message };
    }
  },

  async Release(deps, { journal, deadline, driver, instance }, log) {
    // Safety invariant 1: nothing is released before the instance was verified off in this fence.
    if (!journal.verifiedOffAt || !hasCompleted(journal, 'VerifyOff')) {
      throw new SafetyViolationError('release attempted before the instance was verified off');
    }
    const { kube, config } = deps;
    const now = deps.now();
    let release = journal.release;
    if (!release.outOfServiceTaintAt) {
      await kube.addTaint(journal.node, outOfServiceTaint());
      release = { ...release, outOfServiceTaintAt: new Date(now).toISOString() };
      log.info('out-of-service taint added', { phase: 'Release' });
    }

    const taint = outOfServiceTaint();
    const [pods, attachments] = await Promise.all([
      kube.listPodsOnNode(journal.node),
      kube.listVolumeAttachments(journal.node),
    ]);
    // Pods that tolerate the out-of-service taint stay by design; PodGC removes them with the Node.
    const blocking = pods.filter((pod) => !tolerates(pod, taint));
    // Terminating pods of a node that is verified off and tainted out-of-service are what PodGC force-deletes
    // (KEP-2268), but only on its next tick (20 s); doing it now takes that wait off the recovery.
    const terminating = blocking.filter((pod) => pod.metadata?.deletionTimestamp);
    for (const pod of terminating) {
      await kube.forceDeletePod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    }
    if (terminating.length > 0)
      log.info('force-deleted terminating pods', { phase: 'Release', pods: terminating.length });
    const remaining = blocking.length - terminating.length;
    if (remaining > 0 || attachments.length > 0) {
      const waited = now - Date.parse(release.outOfServiceTaintAt ?? new Date(now).toISOString());
      if (waited >= config.releaseTimeoutMs && !release.forcedAt) {
        // Kubernetes did not finish on its own; the machine is verified off, so forcing is safe.
        for (const pod of blocking) {
          await kube.forceDeletePod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
        }
        for (const attachment of attachments)
          await kube.deleteVolumeAttachment(attachment.metadata?.name ?? '');
        release = { ...release, forcedAt: new Date(now).toISOString() };
        log.warn('release timed out; forced pods and VolumeAttachments', { phase: 'Release' });
      }
      const detail = `${remaining} pod(s), ${attachments.length} VolumeAttachment(s) left`;
      return { kind: 'pending', journal: { ...journal, release }, detail };
    }

    // Kubernetes let go; now make sure the cloud did too (it can lose track: the seed write-up's failure).
    const volumeIds = new Set(
      (await kube.listPersistentVolumes()).map(pvVolumeId).filter((id) => id !== undefined),
    );
    const description = await driver.describe(instance, { deadline });
    const stuck = description.volumes
      .filter((volume) => !volume.root && volumeIds.has(volume.id))
      .map((v) => v.id);
    for (const volumeId of stuck) {
      if (!release.detachRequested.includes(volumeId)) {
        await driver.detachVolume(instance, volumeId, { deadline });
        release = { ...release, detachRequested: [...release.detachRequested, volumeId] };
      }
    }
    if (stuck.length > 0) {
      try {
        await driver.waitForDetached(instance, stuck, { deadline });
      } catch (error) {
        if (!(error instanceof DeadlineExceededError)) throw error;
        return { kind: 'pending', journal: { ...journal, release }, detail: error.message };
      }
    }
    const detached = release.detachRequested.length ? `; detached ${release.detachRequested.join(', ')}` : '';
    return {
      kind: 'done',
      journal: { ...journal, release },
      detail: `pods and VolumeAttachments gone${release.forcedAt ? ' (forced)' : ''}${detached}`,
    };
  },

  async DeleteNode({ kube }, { journal }) {
    // Delete the Node while the machine is off: a kubelet registers only at start, so the machine comes
    // back as a fresh Node after power-on.
    await kube.deleteNode(journal.node);
    return { kind: 'done', journal, detail: 'Node deleted' };
  },

  async PowerOn(deps, { journal, deadline, driver, instance }) {
    // Safety invariant 7: power on only after the Node is deleted and its volumes released.
    if (!hasCompleted(journal, 'Release') || !hasCompleted(journal, 'DeleteNode')) {
      throw new SafetyViolationError('power-on attempted before release and Node deletion');
    }
    if (journal.powerOn === 'off')
      return { kind: 'done', journal, detail: 'left off (ALERTFENCE_POWER_ON=off)' };
    const description = await driver.describe(instance, { deadline });
    if (description.gone)
      return { kind: 'done', journal, detail: `instance ${instance.id} is gone; nothing to power on` };
    if (description.power === 'off') await driver.powerOn(instance, { deadline });
    try {
      const on = await driver.waitForPower(instance, 'on', { deadline });
      return { kind: 'done', journal, detail: `instance ${instance.id} ${on.cloudState}` };
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      if (deps.now() - stepFinishedAt(journal, 'DeleteNode') > deps.config.powerTimeoutMs) {
        throw new PowerTimeoutError(
          `instance ${instance.id} not on after ${deps.config.powerTimeoutMs / 1000}s`,
        );
      }
      return { kind: 'pending', journal, detail: error.message };
    }
  },

  Done: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'fence complete' }),
};

function stepFinishedAt(journal: FenceJournal, phase: Phase): number {
  const step = journal.steps.find((candidate) => candidate.phase === phase);
  return step ? Date.parse(step.finishedAt) : Date.parse(journal.updatedAt);
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
