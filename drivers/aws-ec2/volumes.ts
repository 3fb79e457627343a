/**
 * The release of EBS volumes at the cloud: a detach checked on a fresh read (attached here, not the root
 * volume, the instance off), and the wait until DescribeVolumes shows them detached, asking again when a
 * detach was lost and forcing it as a last resort.
 */

import { DescribeVolumesCommand, DetachVolumeCommand } from '@aws-sdk/client-ec2';
import { pollUntil } from '../../functions/lib/wait.js';
import { type CallOptions, type InstanceRef, VolumeDetachRefusedError } from '../driver.js';
import type { Ec2Access } from './ec2-access.js';
import { classifyEc2Error, toDriverError } from './errors.js';
import { attachedVolumes, type VolumeAttachmentState } from './instance-state.js';

/** How patient the wait for a detach is. */
export interface DetachWaitOptions {
  /** After this long, a detach that did not complete is sent again with `Force: true`; `false` never forces. */
  forceDetachAfterMs: number | false;
  /** Delays between polls; `DEFAULT_POLL_SCHEDULE` when undefined. */
  schedule: readonly number[] | undefined;
}

/**
 * Detaches one volume after checking, on a fresh DescribeInstances, that it is attached to this instance
 * (never touch another instance's disk), is not its root volume, and that the instance is off.
 */
export async function detachEbsVolume(
  ec2: Ec2Access,
  ref: InstanceRef,
  volumeId: string,
  force: boolean,
  options: CallOptions,
): Promise<void> {
  const { description, instance } = await ec2.read(ref, options);
  const mapping = instance?.BlockDeviceMappings?.find((candidate) => candidate.Ebs?.VolumeId === volumeId);
  if (!instance || !mapping || mapping.Ebs?.Status === 'detached') return;
  const refusal = !instance.RootDeviceName
    ? `${ref.id} reports no root device, so the root volume is unknown`
    : mapping.DeviceName === instance.RootDeviceName
      ? `it is the root volume of ${ref.id}`
      : description.power !== 'off'
        ? `${ref.id} is ${description.cloudState}, not off`
        : undefined;
  if (refusal) throw new VolumeDetachRefusedError(`refusing to detach ${volumeId}: ${refusal}`, { volumeId });
  if (!force && mapping.Ebs?.Status === 'detaching') return;
  const input = { VolumeId: volumeId, InstanceId: ref.id, ...(force ? { Force: true } : {}) };
  try {
    await ec2.call(ref, `ec2:DetachVolume ${volumeId}`, options, (client, abortSignal) =>
      client.send(new DetachVolumeCommand(input), { abortSignal }),
    );
  } catch (error) {
    // Detached meanwhile, or deleted: nothing left to detach.
    if (classifyEc2Error(error) === 'volume-not-attached') return;
    throw toDriverError(error, 'ec2:DetachVolume', ref.id);
  }
}

/**
 * Polls DescribeVolumes until none of `volumeIds` is attached to the instance. A volume still `attached`
 * (not `detaching`) on a second look gets one more plain detach; one still attached after
 * `forceDetachAfterMs` gets one forced detach.
 */
export async function waitForEbsDetached(
  ec2: Ec2Access,
  ref: InstanceRef,
  volumeIds: readonly string[],
  options: CallOptions,
  patience: DetachWaitOptions,
): Promise<void> {
  if (volumeIds.length === 0) return;
  const { now } = ec2.retry;
  const startedAt = now();
  const reissued = new Set<string>();
  const forced = new Set<string>();
  await pollUntil<VolumeAttachmentState[]>({
    ...ec2.pollOptions(options, patience.schedule),
    what: `${volumeIds.join(', ')} to detach from ${ref.id}`,
    probe: () => attachedTo(ec2, ref, volumeIds, options),
    done: (attached) => attached.length === 0,
    describeState: (attached) => attached.map((volume) => `${volume.id} ${volume.state}`).join(', '),
    onPending: async (attached, attempt) => {
      for (const volume of attached) {
        // Still `attached` (not `detaching`) on a second look: the detach request was lost; ask again.
        if (volume.state === 'attached' && attempt >= 1 && !reissued.has(volume.id)) {
          reissued.add(volume.id);
          options.onProgress?.(`${volume.id} is still attached to ${ref.id}: detaching it again`);
          await detachEbsVolume(ec2, ref, volume.id, false, options);
        } else if (
          patience.forceDetachAfterMs !== false &&
          now() - startedAt >= patience.forceDetachAfterMs &&
          !forced.has(volume.id)
        ) {
          // Last resort (EC2 docs: Force risks data the instance has not flushed), taken only because
          // `detachEbsVolume` has verified the instance off, so nothing can be writing to the volume.
          forced.add(volume.id);
          options.onProgress?.(`${volume.id} did not detach from ${ref.id}: forcing the detach`);
          await detachEbsVolume(ec2, ref, volume.id, true, options);
        }
      }
    },
  });
}

async function attachedTo(
  ec2: Ec2Access,
  ref: InstanceRef,
  volumeIds: readonly string[],
  options: CallOptions,
): Promise<VolumeAttachmentState[]> {
  // Filters rather than VolumeIds: a volume deleted meanwhile is simply absent instead of failing the call.
  const Filters = [
    { Name: 'attachment.instance-id', Values: [ref.id] },
    { Name: 'volume-id', Values: [...volumeIds] },
  ];
  try {
    const output = await ec2.call(ref, `ec2:DescribeVolumes ${ref.id}`, options, (client, abortSignal) =>
      client.send(new DescribeVolumesCommand({ Filters }), { abortSignal }),
    );
    return attachedVolumes(output, ref.id, volumeIds);
  } catch (error) {
    throw toDriverError(error, 'ec2:DescribeVolumes', ref.id);
  }
}
