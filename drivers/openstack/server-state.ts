/**
 * Pure readings of Nova and Cinder state for fencing: which power state a server is in, which of its volumes
 * is the root disk, what to do when Nova refused a power action, and when a volume counts as detached. No
 * I/O, so each rule has a table test.
 */

import type { InstanceDescription, InstanceRef, PowerState } from '../driver.js';
import type { Volume } from './client/cinder.js';
import type { Server, VolumeAttachment } from './client/nova.js';

/**
 * What the driver read for a server: the server, or nothing because Nova answered 404. A 404 proves nothing by
 * itself (another project's server, wrong credentials, a wrong region look the same), so it is `missing`, not off.
 */
export type ServerReading = Server | { missing: true };

/** Narrows a reading to the server Nova did not find. */
export function isMissing(reading: ServerReading): reading is { missing: true } {
  return 'missing' in reading;
}

/**
 * Statuses that are a move between states; a task state says the same and takes precedence, so these
 * matter when Nova reports the status before the task (and for `HARD_REBOOT`, which is both).
 */
const TRANSITIONAL = new Set([
  'BUILD',
  'HARD_REBOOT',
  'REBOOT',
  'REBUILD',
  'RESIZE',
  'REVERT_RESIZE',
  'MIGRATING',
]);

/**
 * Statuses in which the guest is not running and cannot run again without an explicit start, unshelve or
 * restore: only these are "off" for a fence. `SUSPENDED` and `PAUSED` are not: the guest resumes with its
 * memory, open files and stale view of the cluster.
 */
const OFF = new Set(['SHUTOFF', 'SHELVED', 'SHELVED_OFFLOADED', 'SOFT_DELETED', 'DELETED']);

/**
 * The fence's power state of a Nova server.
 *
 * - any task in progress (`powering-off`, `rebooting_hard`, …) or a transitional status → `transitioning`
 * - `SHUTOFF` (and shelved, soft-deleted, deleted) with no task → `off`
 * - `UNKNOWN` → `unknown`: Nova lost contact with the server's cell or host and cannot say; not found → `unknown`
 * - everything else → `on`, including `ERROR`: the error state records a failed operation, not a stopped
 *   guest (a failed migration or volume operation leaves it running), so it is not verifiably off. Nova's
 *   `os-stop` accepts `ERROR` servers, so the fence can still power it off and verify `SHUTOFF`.
 */
export function powerStateOf(reading: ServerReading): PowerState {
  if (isMissing(reading)) return 'unknown';
  if (reading.taskState !== null) return 'transitioning';
  if (TRANSITIONAL.has(reading.status)) return 'transitioning';
  if (OFF.has(reading.status)) return 'off';
  if (reading.status === 'UNKNOWN') return 'unknown';
  return 'on';
}

/** The cloud's own words for the journal: `SHUTOFF`, `ACTIVE/powering-off`, `DELETED`, `NOT_FOUND`. */
export function cloudStateOf(reading: ServerReading): string {
  if (isMissing(reading)) return 'NOT_FOUND';
  return reading.taskState === null ? reading.status : `${reading.status}/${reading.taskState}`;
}

/** Whether Nova's own record says the server was deleted (it shows deleted servers to admins). */
export function isDeleted(reading: ServerReading): boolean {
  return !isMissing(reading) && reading.status === 'DELETED';
}

/**
 * Device names a hypervisor gives the first disk. Used only when Nova hides the root device name (its
 * default policy shows it to admins only) and the server boots from a volume: that volume is then the one
 * on the first disk.
 */
const FIRST_DISKS = new Set(['/dev/vda', '/dev/sda', '/dev/xvda', '/dev/hda']);

/**
 * The ids of the server's root (boot) volumes among its attachments: the attachment on the server's root
 * device when Nova shows it, else, for a server booted from a volume, the attachment on the first disk.
 * A server booted from an image has its root disk on the hypervisor, so none of its volumes is root.
 */
export function rootVolumeIds(server: Server, attachments: readonly VolumeAttachment[]): Set<string> {
  const roots = new Set<string>();
  for (const attachment of attachments) {
    if (attachment.device === undefined) continue;
    const isRoot =
      server.rootDeviceName !== undefined
        ? attachment.device === server.rootDeviceName
        : server.volumeBacked && FIRST_DISKS.has(attachment.device);
    if (isRoot) roots.add(attachment.volumeId);
  }
  return roots;
}

/**
 * The driver's description of a server and its attachments; its root volumes are marked, and a stop (or a
 * delete) under way is `stopping`. Not found is `unknown` and `missing`, never off.
 */
export function describeServer(
  ref: InstanceRef,
  reading: ServerReading,
  attachments: readonly VolumeAttachment[],
): InstanceDescription {
  const cloudState = cloudStateOf(reading);
  if (isMissing(reading))
    return { ref, power: 'unknown', cloudState, gone: false, missing: true, volumes: [] };
  const roots = rootVolumeIds(reading, attachments);
  return {
    ref,
    power: powerStateOf(reading),
    cloudState,
    gone: isDeleted(reading),
    missing: false,
    ...(reading.taskState === 'powering-off' || reading.taskState === 'deleting' ? { stopping: true } : {}),
    volumes: attachments.map((a) => ({
      id: a.volumeId,
      ...(a.device === undefined ? {} : { device: a.device }),
      ...(roots.has(a.volumeId) ? { root: true } : {}),
    })),
  };
}

/** Detached from this server: `available`, attached only elsewhere, or gone. */
export function isDetachedFrom(volume: Volume, serverId: string): boolean {
  if (volume.status === 'available') return true;
  return !volume.attachedTo.includes(serverId) && volume.status !== 'detaching';
}

/** What to do after Nova refused (409) or lost (5xx, no answer) a power action. */
export type PowerActionVerdict =
  | { kind: 'done' }
  | { kind: 'repeat' }
  | { kind: 'refuse'; reason: string; retryable: boolean };

/**
 * Decides, from a fresh reading, whether a refused or lost power action still needs doing. The goal
 * already reached, or a task in progress (whose end `waitForPower` watches, re-issuing the action if the
 * server settles on the wrong side), is `done`; an idle server Nova could act on is `repeat`; a state Nova
 * will not act on is `refuse`, with a reason an operator can act on.
 */
export function verdictAfterRefusal(reading: ServerReading, want: 'on' | 'off'): PowerActionVerdict {
  // Not found: nothing to stop; whether that counts as off is the waiting caller's call, not this one's.
  if (isMissing(reading)) {
    return want === 'off'
      ? { kind: 'done' }
      : { kind: 'refuse', reason: 'the server no longer exists', retryable: false };
  }
  const power = powerStateOf(reading);
  // Either way Nova cannot act on a server it has lost contact with; later it may have it back.
  if (power === 'unknown') {
    return {
      kind: 'refuse',
      reason: 'Nova reports the server UNKNOWN (host or cell unreachable)',
      retryable: true,
    };
  }
  if (want === 'off') {
    if (power === 'off' || power === 'transitioning') return { kind: 'done' };
    if (reading.status === 'ACTIVE' || reading.status === 'ERROR') return { kind: 'repeat' };
    return {
      kind: 'refuse',
      reason: `the server is ${reading.status}; Nova stops only ACTIVE or ERROR servers (resume, unpause or unrescue it first)`,
      retryable: false,
    };
  }
  if (reading.status === 'DELETED') {
    return { kind: 'refuse', reason: 'the server no longer exists', retryable: false };
  }
  if (power === 'on' || power === 'transitioning') return { kind: 'done' };
  if (reading.status === 'SHUTOFF') return { kind: 'repeat' };
  return {
    kind: 'refuse',
    reason: `the server is ${reading.status}; Nova starts only SHUTOFF servers (unshelve or restore it)`,
    retryable: false,
  };
}
