import { DeadlineExceededError, type InstanceRef, type PowerDriver } from '../../drivers/driver.js';
import { blockingPods, fencingTaint, outOfServiceTaint, volumesToDetach } from '../kube/node-facts.js';
import type { Logger } from '../log.js';
import { PowerTimeoutError, SafetyViolationError } from './errors.js';
import type { ExecutorDeps } from './executor.js';
import { healthRefusal } from './guards.js';
import { type FenceJournal, hasCompleted } from './journal.js';
import { KUBE_NAMES, type Phase } from './vocabulary.js';

/**
 * The fence's phases, one handler each, in the order of the runbook. A handler is idempotent: it looks
 * before it acts, so running it again after a crash or a retry does no harm. The executor runs them and
 * journals what they return.
 */

/** What a phase handler concluded. `pending` means "not yet; run me again", after a bounded wait. */
export type StepResult =
  | { kind: 'done'; journal: FenceJournal; detail: string }
  | { kind: 'pending'; journal: FenceJournal; detail: string }
  | { kind: 'abort'; detail: string };

export interface StepInput {
  journal: FenceJournal;
  /** Deadline of this step: never past the invocation's, and short enough to renew the Lease in time. */
  deadline: number;
  driver: PowerDriver;
  instance: InstanceRef;
}

export type Handler = (deps: ExecutorDeps, input: StepInput, log: Logger) => Promise<StepResult>;

export const PHASE_HANDLERS: Record<Phase, Handler> = {
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
        deps.kube.getLease(KUBE_NAMES.kubeletLeaseNamespace, journal.node),
      ]);
      if (!node) return { kind: 'abort', detail: 'the Node disappeared before power-off' };
      const refusal = healthRefusal({ node, kubeletLease }, deps.config, deps.now());
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
    const taintedAt = release.outOfServiceTaintAt ?? new Date(now).toISOString();
    if (!release.outOfServiceTaintAt) {
      await kube.addTaint(journal.node, outOfServiceTaint());
      release = { ...release, outOfServiceTaintAt: taintedAt };
      log.info('out-of-service taint added', { phase: 'Release' });
    }

    const [pods, attachments] = await Promise.all([
      kube.listPodsOnNode(journal.node),
      kube.listVolumeAttachments(journal.node),
    ]);
    const blocking = blockingPods(pods);
    // Terminating pods of a node that is verified off and tainted out-of-service are what PodGC force-deletes
    // (KEP-2268), but only on its next tick (20 s); doing it now takes that wait off the recovery.
    const terminating = blocking.filter((pod) => pod.metadata?.deletionTimestamp);
    for (const pod of terminating) {
      await kube.forceDeletePod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    }
    if (terminating.length > 0)
      log.info('force-deleted terminating pods', { phase: 'Release', pods: terminating.length });
    const remaining = blocking.filter((pod) => !pod.metadata?.deletionTimestamp);
    if (remaining.length > 0 || attachments.length > 0) {
      const waited = now - Date.parse(taintedAt);
      if (waited >= config.releaseTimeoutMs && !release.forcedAt) {
        // Kubernetes did not finish on its own; the machine is verified off, so forcing is safe.
        for (const pod of remaining) {
          await kube.forceDeletePod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
        }
        for (const attachment of attachments)
          await kube.deleteVolumeAttachment(attachment.metadata?.name ?? '');
        release = { ...release, forcedAt: new Date(now).toISOString() };
        log.warn('release timed out; forced pods and VolumeAttachments', { phase: 'Release' });
      }
      const detail = `${remaining.length} pod(s), ${attachments.length} VolumeAttachment(s) left`;
      return { kind: 'pending', journal: { ...journal, release }, detail };
    }

    // Kubernetes let go; now make sure the cloud did too (it can lose track: the seed write-up's failure).
    const [persistentVolumes, description] = await Promise.all([
      kube.listPersistentVolumes(),
      driver.describe(instance, { deadline }),
    ]);
    const stuck = volumesToDetach(description.volumes, persistentVolumes);
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
