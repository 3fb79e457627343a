/**
 * Pure readings of EC2 answers for fencing: the power state of an instance (`InstanceStateName`, normalised),
 * its volumes, whether a refused stop or start is already under way, and why EC2 stopped an instance again
 * right after a start. No I/O, so each rule is checked by table.
 */

import type {
  DescribeInstancesCommandOutput,
  DescribeVolumesCommandOutput,
  Instance,
} from '@aws-sdk/client-ec2';
import type { AttachedVolume, InstanceDescription, InstanceRef, PowerState } from '../driver.js';

// The EC2 instance lifecycle (`InstanceStateName`), normalised. `terminated` is gone, hence off.
const POWER_OF_STATE: Readonly<Record<string, PowerState>> = {
  running: 'on',
  stopped: 'off',
  terminated: 'off',
  pending: 'transitioning',
  stopping: 'transitioning',
  'shutting-down': 'transitioning',
};

// StateReason codes of an instance that EC2 stopped again right after a start (EC2 API reference,
// StateReason): not a dropped request, so not worth another StartInstances.
const START_FAILURE_REASONS = new Set([
  'Client.InternalError',
  'Client.VolumeLimitExceeded',
  'Client.InvalidSnapshot.NotFound',
]);

/**
 * `cloudState` of an instance DescribeInstances does not know: terminated long ago, or never visible to these
 * credentials (another account, role or region) — the two look the same.
 */
const MISSING_STATE = 'not-found';

/** One volume still attached to the instance, as DescribeVolumes shows it. */
export interface VolumeAttachmentState {
  id: string;
  /** `attaching`, `attached`, `detaching`, `busy`. */
  state: string;
}

/** The instance `id` among the reservations of a DescribeInstances answer. */
export function instanceIn(output: DescribeInstancesCommandOutput, id: string): Instance | undefined {
  return output.Reservations?.flatMap((reservation) => reservation.Instances ?? []).find(
    (candidate) => candidate.InstanceId === id,
  );
}

/** The driver's description of an instance: power, EC2's state word, and its EBS volumes (root flagged). */
export function describeInstance(ref: InstanceRef, instance: Instance): InstanceDescription {
  const cloudState = instance.State?.Name ?? 'unknown';
  const volumes: AttachedVolume[] = [];
  for (const mapping of instance.BlockDeviceMappings ?? []) {
    const id = mapping.Ebs?.VolumeId;
    if (!id || mapping.Ebs?.Status === 'detached') continue;
    volumes.push({
      id,
      ...(mapping.DeviceName ? { device: mapping.DeviceName } : {}),
      ...(mapping.DeviceName !== undefined && mapping.DeviceName === instance.RootDeviceName
        ? { root: true }
        : {}),
    });
  }
  return {
    ref,
    power: POWER_OF_STATE[cloudState] ?? 'unknown',
    cloudState,
    gone: cloudState === 'terminated',
    missing: false,
    ...(cloudState === 'stopping' || cloudState === 'shutting-down' ? { stopping: true } : {}),
    volumes,
  };
}

/** An instance EC2 does not know: `unknown` and `missing`, never off (see `InstanceDescription.missing`). */
export function missingInstance(ref: InstanceRef): InstanceDescription {
  return { ref, power: 'unknown', cloudState: MISSING_STATE, gone: false, missing: true, volumes: [] };
}

/**
 * After EC2 refused a stop or start (`IncorrectInstanceState`): whether the instance is already where the
 * call wanted it, or on its way there (`stopping`/`shutting-down` for off, `pending` for on).
 */
export function alreadyUnderWay(description: InstanceDescription, want: 'on' | 'off'): boolean {
  if (want === 'off') return description.power === 'off' || description.stopping === true;
  return description.power === 'on' || description.cloudState === 'pending';
}

/** The `StateReason` code of an instance EC2 stopped again after a start, when starting again cannot help. */
export function startFailureReason(instance: Instance | undefined): string | undefined {
  const reason = instance?.StateReason?.Code;
  return reason !== undefined && START_FAILURE_REASONS.has(reason) ? reason : undefined;
}

/** The volumes among `volumeIds` that a DescribeVolumes answer still shows attached to instance `instanceId`. */
export function attachedVolumes(
  output: DescribeVolumesCommandOutput,
  instanceId: string,
  volumeIds: readonly string[],
): VolumeAttachmentState[] {
  const attached: VolumeAttachmentState[] = [];
  for (const volume of output.Volumes ?? []) {
    if (!volume.VolumeId || !volumeIds.includes(volume.VolumeId)) continue;
    for (const attachment of volume.Attachments ?? []) {
      if (attachment.InstanceId === instanceId && attachment.State !== 'detached') {
        attached.push({ id: volume.VolumeId, state: attachment.State ?? 'unknown' });
      }
    }
  }
  return attached;
}
