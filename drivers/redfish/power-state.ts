/**
 * Pure readings of a Redfish system for fencing: its power state, which reset type does what the fence wants,
 * and what to do when the BMC refused or lost a reset. No I/O, so each rule has a table test.
 */
import type { InstanceDescription, InstanceRef, PowerState } from '../driver.js';
import type { ComputerSystem } from './client/resources.js';

/**
 * What the driver read for a system: the system, or a 404. A 404 from a BMC proves nothing about the machine
 * (a wrong BMC, a wrong system id, an account that may not see it all answer the same), so it is never "off".
 */
export type SystemReading = ComputerSystem | { missing: true };

/** Narrows a reading to the system the BMC did not find. */
export function isMissing(reading: SystemReading): reading is { missing: true } {
  return 'missing' in reading;
}

/**
 * The fence's power state of a system (DSP0268 `Resource.PowerState`):
 *
 * - `Off` → `off`, the only state a fence may call off
 * - `PoweringOn`, `PoweringOff` → `transitioning`
 * - `On` → `on`, and so is `Paused`: a paused system keeps its memory and resumes where it stopped, with its
 *   stale view of the cluster, so it is not off; `ForceOff` turns it off
 * - no `PowerState`, an unknown word, or a 404 → `unknown`
 */
export function powerStateOf(reading: SystemReading): PowerState {
  if (isMissing(reading)) return 'unknown';
  switch (reading.powerState) {
    case 'Off':
      return 'off';
    case 'On':
    case 'Paused':
      return 'on';
    case 'PoweringOn':
    case 'PoweringOff':
      return 'transitioning';
    default:
      return 'unknown';
  }
}

/** The BMC's own word for the journal: `On`, `PoweringOff`, `NotFound`, `PowerState absent`. */
export function cloudStateOf(reading: SystemReading): string {
  if (isMissing(reading)) return 'NotFound';
  return reading.powerState ?? 'PowerState absent';
}

/** Whether a reading is where the fence wants it. */
export function reached(reading: SystemReading, want: 'on' | 'off'): boolean {
  if (isMissing(reading)) return false;
  return want === 'off' ? reading.powerState === 'Off' : reading.powerState === 'On';
}

/** Whether a reading is on its way to where the fence wants it. */
export function underWay(reading: SystemReading, want: 'on' | 'off'): boolean {
  if (isMissing(reading)) return false;
  return reading.powerState === (want === 'off' ? 'PoweringOff' : 'PoweringOn');
}

/**
 * The `ResetType` that does what the fence wants, given what the BMC allows (`undefined`: it does not say,
 * so the schema's values are all allowed, DSP0266 §7.6). Off is `ForceOff` only: an immediate, non-graceful
 * power-off is the fence; a graceful shutdown waits for the very OS that stopped answering. On is `On`, or
 * `ForceOn` where a BMC lists only that.
 */
export function resetTypeFor(
  want: 'on' | 'off',
  allowed: readonly string[] | undefined,
): { resetType: string } | { refusal: string } {
  const choices = want === 'off' ? ['ForceOff'] : ['On', 'ForceOn'];
  if (allowed === undefined) return { resetType: choices[0] as string };
  const found = choices.find((choice) => allowed.includes(choice));
  if (found) return { resetType: found };
  return {
    refusal: `the BMC does not allow ResetType ${choices.join(' or ')} (it allows ${allowed.join(', ') || 'none'})`,
  };
}

/** What to do after the BMC refused (4xx) or lost (5xx, no answer) a reset. */
export type ResetVerdict =
  | { kind: 'done' }
  | { kind: 'repeat' }
  | { kind: 'refuse'; reason: string; retryable: boolean };

/**
 * Decides, from a fresh reading, whether a refused or lost reset still needs doing. Already there or on its
 * way is `done` (many BMCs answer 409 or 400 to `ForceOff` on a system that is off); a lost answer on the wrong
 * side is `repeat`; a refusal on the wrong side is `refuse`, with the BMC's reason.
 */
export function verdictAfterReset(
  reading: SystemReading,
  want: 'on' | 'off',
  answer: 'refused' | 'lost',
): ResetVerdict {
  if (isMissing(reading)) {
    return { kind: 'refuse', reason: 'the BMC no longer finds the system (404)', retryable: false };
  }
  if (reached(reading, want) || underWay(reading, want)) return { kind: 'done' };
  if (powerStateOf(reading) === 'unknown') {
    return {
      kind: 'refuse',
      reason: `the BMC reports PowerState ${cloudStateOf(reading)}, which says nothing about the machine`,
      retryable: true,
    };
  }
  if (answer === 'lost') return { kind: 'repeat' };
  // Refused while changing state the other way: the BMC may take the reset once the change is over.
  const retryable = powerStateOf(reading) === 'transitioning';
  return { kind: 'refuse', reason: `the system is still ${cloudStateOf(reading)}`, retryable };
}

/** The driver's description of a system: bare metal has no cloud volumes, and a 404 is `missing`, never off. */
export function describeSystem(ref: InstanceRef, reading: SystemReading): InstanceDescription {
  return {
    ref,
    power: powerStateOf(reading),
    cloudState: cloudStateOf(reading),
    gone: false,
    missing: isMissing(reading),
    // Bare metal: disks are part of the machine; Kubernetes releases what it attached.
    volumes: [],
    noCloudVolumes: true,
  };
}
