import {
  DeadlineExceededError,
  type InstanceDescription,
  type InstanceRef,
  type PowerDriver,
} from '../../drivers/driver.js';
import { KUBE_NAMES } from '../kube/names.js';
import type { Pod } from '../kube/objects.js';
import { KubePreconditionError } from '../kube/port.js';
import type { Logger } from '../log.js';
import type { ExecutorDeps } from './deps.js';
import { FencePausedError, PowerTimeoutError, SafetyViolationError } from './errors.js';
import { blockingPods, fencingTaint, outOfServiceTaint, volumesToDetach } from './fence-rules.js';
import { healthRefusal, identityProblem } from './guards.js';
import { type FenceJournal, hasCompleted } from './journal.js';
import { pauseRefusal, readPause } from './pause.js';
import type { Phase } from './vocabulary.js';

/**
 * The fence's phases, one handler each, in the order of the runbook. A handler is idempotent: it looks
 * before it acts, so running it again after a crash or a retry does no harm. The executor runs them and
 * journals what they return.
 *
 * Nothing here trusts the journal's word about the world: before each release action the instance is read
 * from the cloud again and must be off, and every Node and pod is acted on by UID.
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
  /** The force of the request this run belongs to (a manual fence's own chain), never an older request's. */
  force: boolean;
}

export type Handler = (deps: ExecutorDeps, input: StepInput, log: Logger) => Promise<StepResult>;

/**
 * Reads the instance now and insists it is off by the cloud's own record: stopped, terminated, or "not found"
 * after this fence saw it terminated (`instanceEnded`). A machine on again means someone powered it on since it
 * was verified off; one not found after any other state may be a credentials change while it runs. Either
 * way: stop releasing, an operator must look.
 */
async function requireOffNow(input: StepInput, action: string): Promise<InstanceDescription> {
  const { driver, instance, deadline, journal } = input;
  const description = await driver.describe(instance, { deadline });
  if (description.power === 'off') return description;
  if (description.missing && journal.instanceEnded) return description;
  throw new SafetyViolationError(
    description.missing
      ? `instance ${instance.id} is not found before ${action}, and this fence never saw it terminated: the credentials, role or region may have changed while it runs; nothing more is released`
      : `instance ${instance.id} is ${description.cloudState}, not off, before ${action}: someone powered it on after it was verified off; nothing more is released`,
  );
}

/** The journal with the cloud's record that the instance ended, when this description shows it. */
function noteEnded(journal: FenceJournal, description: InstanceDescription, at: number): FenceJournal {
  if (!description.gone || journal.instanceEnded) return journal;
  return {
    ...journal,
    instanceEnded: { at: new Date(at).toISOString(), cloudState: description.cloudState },
  };
}

/**
 * The live Node, checked to be the fence's own. Undefined when it is gone; a SafetyViolation when another
 * Node of that name stands in its place (never release what a new Node holds).
 */
async function ownNode(deps: ExecutorDeps, input: StepInput) {
  const node = await deps.kube.getNode(input.journal.node, { deadline: input.deadline });
  if (!node) return undefined;
  const problem = identityProblem(input.journal, node);
  if (problem) throw new SafetyViolationError(`${problem}; nothing of the new Node is touched`);
  return node;
}

/** Force-deletes pods by UID: a pod recreated under the same name (a StatefulSet's) is never deleted. */
async function forceDelete(deps: ExecutorDeps, pods: readonly Pod[], deadline: number): Promise<number> {
  let deleted = 0;
  for (const pod of pods) {
    if (deps.now() >= deadline) break;
    try {
      await deps.kube.forceDeletePod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '', {
        deadline,
        ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
      });
      deleted += 1;
    } catch (error) {
      // The pod we saw is gone already; a new one of the same name is not ours to delete.
      if (!(error instanceof KubePreconditionError)) throw error;
    }
  }
  return deleted;
}

export const PHASE_HANDLERS: Record<Phase, Handler> = {
  // Confirm and Lock complete before the executor runs (see fence-service.ts); nothing to do if replayed.
  Confirm: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'confirmed' }),
  Lock: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'locked' }),

  async Mark(deps, input) {
    const { journal, deadline } = input;
    const node = await deps.kube.getNode(journal.node, { deadline });
    if (!node) return { kind: 'abort', detail: 'the Node disappeared before power-off' };
    const problem = identityProblem(journal, node);
    if (problem) return { kind: 'abort', detail: problem };
    try {
      await deps.kube.addTaint(journal.node, fencingTaint(), { uid: journal.nodeUid, deadline });
    } catch (error) {
      if (error instanceof KubePreconditionError) return { kind: 'abort', detail: error.message };
      throw error;
    }
    return { kind: 'done', journal, detail: `taint ${fencingTaint().key}:NoSchedule added` };
  },

  async PowerOff(deps, input) {
    const { journal, deadline, driver, instance } = input;
    // Last look before the point of no return: the Node is still the fence's own, and (unless this very
    // request forced it) still down — a kubelet Lease that moved since Confirm means it is alive (invariant 2).
    const [node, kubeletLease, pause] = await Promise.all([
      deps.kube.getNode(journal.node, { deadline }),
      deps.kube.getLease(KUBE_NAMES.kubeletLeaseNamespace, journal.node, { deadline }),
      readPause(deps, { deadline }),
    ]);
    // Paused since this fence was decided on: it stops here, resumable, and waits for the pause to end.
    const paused = pauseRefusal(pause, journal);
    if (paused) throw new FencePausedError(paused.message);
    if (!node) return { kind: 'abort', detail: 'the Node disappeared before power-off' };
    const problem = identityProblem(journal, node);
    if (problem) return { kind: 'abort', detail: problem };
    if (!input.force) {
      const refusal = healthRefusal(
        { node, kubeletLease },
        deps.config,
        deps.now(),
        journal.kubeletRenewTime,
      );
      if (refusal) {
        await deps.kube.removeTaint(journal.node, fencingTaint().key, { uid: journal.nodeUid, deadline });
        return { kind: 'abort', detail: `${refusal.reason}: ${refusal.message}` };
      }
    }
    const description = await driver.describe(instance, { deadline });
    if (description.missing) {
      // It existed when the fence started; not found now is a configuration change (credentials, role,
      // region) far likelier than an instance terminated and aged out within the fence. Never guess.
      throw new SafetyViolationError(
        `instance ${instance.id}, seen ${journal.instanceSeen.cloudState} at ${journal.instanceSeen.at}, is not found right before power-off: check the credentials, role and region; nothing was done`,
      );
    }
    if (description.power === 'off') {
      return {
        kind: 'done',
        journal: noteEnded(journal, description, deps.now()),
        detail: `instance ${instance.id} already ${description.cloudState}`,
      };
    }
    if (description.stopping) {
      // A stop is under way (this fence's own, sent before a crash kept it from being journaled): one stop
      // request per fence; VerifyOff waits for it.
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
        // "Not found" means ended only after this fence saw the cloud record it terminated.
        notFoundMeansOff: journal.instanceEnded !== undefined,
        onProgress: (detail) => log.info('progress', { phase: 'VerifyOff', reason: detail }),
      });
      const verified = {
        ...noteEnded(journal, description, deps.now()),
        verifiedOffAt: new Date(deps.now()).toISOString(),
      };
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
          { cause: error },
        );
      }
      return { kind: 'pending', journal, detail: error.message };
    }
  },

  async Release(deps, input, log) {
    const { journal, deadline, driver, instance } = input;
    // Safety invariant 1: nothing is released before the instance was verified off in this fence, and it
    // must still be off now, by the cloud's record, each time this phase runs.
    if (!journal.verifiedOffAt || !hasCompleted(journal, 'VerifyOff')) {
      throw new SafetyViolationError('release attempted before the instance was verified off');
    }
    const { kube, config } = deps;
    try {
      await requireOffNow(input, 'release');
    } catch (error) {
      if (error instanceof SafetyViolationError && journal.release.outOfServiceTaintAt) {
        // Its premise (the machine is shut down) no longer holds; removing a taint releases nothing.
        await kube
          .removeTaint(journal.node, KUBE_NAMES.outOfServiceTaintKey, { uid: journal.nodeUid, deadline })
          .catch((cause) => log.warn('could not remove the out-of-service taint', { reason: String(cause) }));
      }
      throw error;
    }
    const node = await ownNode(deps, input);
    const now = deps.now();
    let release = journal.release;
    const taintedAt = release.outOfServiceTaintAt ?? new Date(now).toISOString();
    if (!release.outOfServiceTaintAt) {
      if (node) await kube.addTaint(journal.node, outOfServiceTaint(), { uid: journal.nodeUid, deadline });
      release = { ...release, outOfServiceTaintAt: taintedAt };
      log.info('out-of-service taint added', { phase: 'Release' });
    }

    const [pods, attachments] = await Promise.all([
      kube.listPodsOnNode(journal.node, { deadline }),
      kube.listVolumeAttachments(journal.node, { deadline }),
    ]);
    const blocking = blockingPods(pods);
    // Terminating pods of a node that is verified off and tainted out-of-service are what PodGC force-deletes
    // (KEP-2268), but only on its next tick (20 s); doing it now takes that wait off the recovery.
    const terminating = blocking.filter((pod) => pod.metadata?.deletionTimestamp);
    const cleared = await forceDelete(deps, terminating, deadline);
    if (cleared > 0) log.info('force-deleted terminating pods', { phase: 'Release', pods: cleared });
    const remaining = blocking.filter((pod) => !pod.metadata?.deletionTimestamp);
    if (remaining.length > 0 || attachments.length > 0) {
      const waited = now - Date.parse(taintedAt);
      if (waited >= config.releaseTimeoutMs && !release.forcedAt) {
        // Kubernetes did not finish on its own; the machine is verified off (just now), so forcing is safe.
        await forceDelete(deps, remaining, deadline);
        for (const attachment of attachments) {
          if (deps.now() >= deadline) break;
          await kube
            .deleteVolumeAttachment(attachment.metadata?.name ?? '', {
              deadline,
              ...(attachment.metadata?.uid ? { uid: attachment.metadata.uid } : {}),
            })
            .catch((error) => {
              if (!(error instanceof KubePreconditionError)) throw error;
            });
        }
        if (deps.now() < deadline) release = { ...release, forcedAt: new Date(now).toISOString() };
        log.warn('release timed out; forced pods and VolumeAttachments', { phase: 'Release' });
      }
      const detail = `${remaining.length} pod(s), ${attachments.length} VolumeAttachment(s) left`;
      return { kind: 'pending', journal: { ...journal, release }, detail };
    }

    // Kubernetes let go; now make sure the cloud did too (it can lose track: the seed write-up's failure).
    const [persistentVolumes, description] = await Promise.all([
      kube.listPersistentVolumes({ deadline }),
      driver.describe(instance, { deadline }),
    ]);
    const stuck = volumesToDetach(description.volumes, persistentVolumes);
    for (const volumeId of stuck) {
      if (!release.detachRequested.includes(volumeId)) {
        await requireOffNow(input, `detaching ${volumeId}`);
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

  async DeleteNode(deps, input) {
    const { journal, deadline } = input;
    // Delete the Node while the machine is off (checked again now): a kubelet registers only at start, so the
    // machine comes back as a fresh Node after power-on. By UID: a Node recreated under the name is not ours.
    await requireOffNow(input, 'deleting the Node');
    try {
      await deps.kube.deleteNode(journal.node, { uid: journal.nodeUid, deadline });
    } catch (error) {
      if (!(error instanceof KubePreconditionError)) throw error;
      throw new SafetyViolationError(
        `a Node ${journal.node} with another UID stands where the fenced one was (${error.message}); it is left alone and the machine stays off`,
      );
    }
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
    if (description.gone || description.missing)
      return {
        kind: 'done',
        journal,
        detail: `instance ${instance.id} is ${description.cloudState}; nothing to power on`,
      };
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
