/**
 * The release of Cinder volumes at the cloud: a detach through Nova checked on a fresh read (not the root
 * disk, the server off), and the wait until Cinder shows them detached, asking again when Nova rolled a
 * detach back.
 */

import { type PollOptions, pollUntil } from '../../functions/lib/wait.js';
import { type CallOptions, DriverError, type InstanceRef, VolumeDetachRefusedError } from '../driver.js';
import type { Volume } from './client/cinder.js';
import { OpenStackError } from './client/errors.js';
import { deleteVolumeAttachment } from './client/nova.js';
import type { OpenStackAccess } from './openstack-access.js';
import { cloudStateOf, isDeleted, isDetachedFrom, isMissing, powerStateOf } from './server-state.js';

/** How many polls a volume may stay attached and idle before the detach is issued again. */
const ATTACHED_POLLS_BEFORE_REISSUE = 3;

/** Detaches one volume from the server, after checking on a fresh read that the server is off. */
export async function detachCinderVolume(
  cloud: OpenStackAccess,
  ref: InstanceRef,
  volumeId: string,
  options: CallOptions,
): Promise<void> {
  // A fresh read every time, never the state `describe` saw: the server must be off now, not earlier.
  const reading = await cloud.readServer(ref, options);
  // Deleted: Nova detached everything with it. Not found: there is nothing these credentials may detach.
  if (isMissing(reading) || isDeleted(reading)) return;
  let roots = cloud.rootsOf(ref.id);
  if (!roots) {
    const description = await cloud.describe(ref, reading, options);
    if (description.gone || !description.volumes.some((v) => v.id === volumeId)) return;
    roots = cloud.rootsOf(ref.id) ?? new Set();
  }
  const refusal = roots.has(volumeId)
    ? `it is the root disk of server ${ref.id}`
    : powerStateOf(reading) !== 'off'
      ? `server ${ref.id} is ${cloudStateOf(reading)}, not off`
      : undefined;
  if (refusal)
    throw new VolumeDetachRefusedError(`refusing to detach volume ${volumeId}: ${refusal}`, { volumeId });
  try {
    await deleteVolumeAttachment(await cloud.nova(ref, options), ref.id, volumeId, options);
  } catch (error) {
    if (!(error instanceof OpenStackError)) throw error;
    // Not attached (any more), or the server is gone and Nova detached everything: already done.
    if (error.status === 404) return;
    if (error.status !== 400 && error.status !== 409) throw error;
    // 400: the volume is not `in-use` (a detach already running); 409: the server is locked or busy.
    // Either way, look at the volume before calling it a failure.
    const volume = await cloud.readVolume(ref, volumeId, options);
    if (volume === undefined || isDetachedFrom(volume, ref.id) || volume.status === 'detaching') return;
    throw new DriverError(
      `Nova refused to detach volume ${volumeId} (${volume.status}) from server ${ref.id}: ${error.message}`,
      { retryable: error.status === 409, cause: error },
    );
  }
}

/**
 * Polls Cinder until none of `volumeIds` is attached to the server; a volume `in-use` and idle for several
 * polls (Nova rolled the detach back or never got it) is detached again with `detach`.
 */
export async function waitForCinderDetached(
  cloud: OpenStackAccess,
  ref: InstanceRef,
  volumeIds: readonly string[],
  options: CallOptions,
  pace: Pick<PollOptions<unknown>, 'schedule' | 'probeReserveMs' | 'sleep' | 'now'>,
  detach: (volumeId: string) => Promise<void>,
): Promise<void> {
  const pending = new Set(volumeIds);
  const attachedPolls = new Map<string, number>();
  await pollUntil<Volume[]>({
    ...options,
    ...pace,
    what: `volumes ${volumeIds.join(', ')} to detach from server ${ref.id}`,
    probe: async () => {
      const left: Volume[] = [];
      for (const id of pending) {
        const volume = await cloud.readVolume(ref, id, options);
        if (volume === undefined || isDetachedFrom(volume, ref.id)) pending.delete(id);
        else left.push(volume);
      }
      return left;
    },
    done: (left) => left.length === 0,
    describeState: (left) => left.map((v) => `${v.id} ${v.status}`).join(', '),
    onPending: async (left) => {
      for (const volume of left) {
        const count = volume.status === 'in-use' ? (attachedPolls.get(volume.id) ?? 0) + 1 : 0;
        attachedPolls.set(volume.id, count < ATTACHED_POLLS_BEFORE_REISSUE ? count : 0);
        if (count >= ATTACHED_POLLS_BEFORE_REISSUE) {
          options.onProgress?.(`volume ${volume.id} is still in-use; issuing the detach again`);
          await detach(volume.id);
        }
      }
    },
  });
}
