/**
 * The Release phase: the machine is verified off (and read off again now), so its workloads may move: the
 * out-of-service taint, then pods and VolumeAttachments gone (Kubernetes first, forced after
 * ALERTFENCE_RELEASE_TIMEOUT), then the volumes detached at the cloud if it lost track of them.
 */
import { DeadlineExceededError } from '../../drivers/driver.js';
import { KUBE_NAMES } from '../kube/names.js';
import type { Pod } from '../kube/objects.js';
import { KubePreconditionError } from '../kube/port.js';
import type { ExecutorDeps } from './deps.js';
import { SafetyViolationError } from './errors.js';
import { blockingPods, outOfServiceTaint, volumesToDetach } from './fence-rules.js';
import { hasCompleted } from './journal.js';
import { type Handler, ownNode, requireOffNow } from './phase-support.js';

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

export const releaseWorkloads: Handler = async (deps, input, log) => {
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
};
