/**
 * What a notification says: the fence's events turned into alertfence's versioned notification (the generic
 * JSON body is this object as it is). Pure: no clock, no network.
 */
import type { NotifyEvent } from '../config.js';
import type { FenceJournal } from '../fence/journal.js';
import type { FenceEvent } from '../fence/observer.js';
import { EVENT_REASONS, type Phase, REASONS, type TriggerKind } from '../fence/vocabulary.js';

/** The version of the notification body; a change that could break a receiver gets a new one. */
export const NOTIFICATION_VERSION = '1';

/**
 * One notification, the same for every receiver: the generic JSON body is this object serialized, the Slack
 * body is written from it. Optional fields are left out where they do not apply (never `null`).
 */
export interface Notification {
  version: typeof NOTIFICATION_VERSION;
  event: NotifyEvent;
  /** Unique per notification, the same on every receiver and every retry: receivers drop duplicates by it. */
  id: string;
  /** When alertfence heard of it (ISO 8601). */
  at: string;
  /** `ALERTFENCE_CLUSTER_NAME`, when set. */
  cluster?: string;
  node: string;
  /** The fence's id; a refusal has none (no fence started). */
  fence?: string;
  /** What asked for the fence; a refusal knows only the kind (`alert`, `manual`, `tick`, `detected`). */
  trigger?: { kind: TriggerKind; reason?: string; alertname?: string; forced?: boolean };
  /** The last phase the fence completed. */
  phase?: Phase;
  /** `accepted` (started), `succeeded`, `failed`, `aborted`, `refused` or `waiting-for-operator`. */
  outcome: 'accepted' | 'succeeded' | 'failed' | 'aborted' | 'refused' | 'waiting-for-operator';
  /** A stable word: the refusal's or the wait's reason, or the Kubernetes Event reason of the fence's phase. */
  reason: string;
  /** One sentence for a person. */
  message: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  /** The phase that failed and why, for `fence.failed`. */
  error?: { phase: Phase; message: string };
  /** Why the fence was aborted, for `fence.aborted`: the phase it was at, a reason word, one sentence. */
  abort?: { phase: Phase; reason: string; message: string };
  /** PersistentVolume volumes that alertfence asked the cloud to detach. */
  volumesDetached?: string[];
  /** Always false: dry-run decisions are never notified. Kept so that a receiver never has to guess. */
  dryRun: false;
}

/** The parts of a notification that `notificationOf` cannot know: its id, time and cluster. */
export interface Stamp {
  id: string;
  at: string;
  cluster?: string | undefined;
}

/** Refusal reasons that are notified, and the event each is. */
const NOTIFIED_REFUSALS: Readonly<Record<string, NotifyEvent>> = {
  [REASONS.stormGuard]: 'fence.refused.storm-guard',
  [REASONS.domainStormGuard]: 'fence.refused.storm-guard',
  [REASONS.fenceCap]: 'fence.refused.cap',
};

/** Minutes and seconds for a person: `3m12s`, `45s`. */
export function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

function fenceFields(journal: FenceJournal) {
  return {
    node: journal.node,
    fence: journal.id,
    trigger: {
      kind: journal.trigger.kind,
      reason: journal.trigger.reason,
      ...(journal.trigger.alertname ? { alertname: journal.trigger.alertname } : {}),
      forced: journal.trigger.force || journal.force,
    },
    phase: journal.phase,
    startedAt: journal.startedAt,
  };
}

/** What asked for the fence, for a person: an alert's reason says which alert; the others say who asked. */
function triggerText(journal: FenceJournal): string {
  const { trigger } = journal;
  const what = trigger.kind === 'alert' ? trigger.reason || 'alert' : `${trigger.kind}: ${trigger.reason}`;
  return `${what}${trigger.force ? ', forced' : ''}`;
}

function finished(event: Extract<FenceEvent, { kind: 'finished' }>, stamp: Stamp): Notification {
  const { journal, status, durationMs, why: cause } = event;
  const took = humanDuration(durationMs);
  const volumes = journal.release.detachRequested;
  const failedPhase = journal.lastError?.phase ?? journal.phase;
  const why = journal.lastError?.message ?? 'see its journal';
  const power = journal.powerOn === 'on' ? 'powered on again' : 'left powered off';
  const told = {
    succeeded: {
      event: 'fence.succeeded',
      reason: EVENT_REASONS.succeeded,
      message: `fenced ${journal.node} in ${took}: powered off, pods and volumes released (${volumes.length} detached at the cloud), Node deleted, machine ${power}`,
    },
    failed: {
      event: 'fence.failed',
      reason: EVENT_REASONS.phaseFailed,
      message: `the fence of ${journal.node} failed at ${failedPhase} after ${took}: ${why}. A retry cannot fix it: it waits for an operator`,
    },
    aborted: {
      event: 'fence.aborted',
      reason: EVENT_REASONS.aborted,
      message: cause
        ? `the fence of ${journal.node} was aborted at ${cause.phase}, before any power-off: ${cause.reason}: ${cause.message}`
        : `the fence of ${journal.node} was aborted after ${journal.phase}, before any power-off (the node came back, was excluded or replaced); see its journal`,
    },
  } as const;
  return {
    version: NOTIFICATION_VERSION,
    event: told[status].event,
    ...stamp,
    ...fenceFields(journal),
    ...(journal.finishedAt ? { finishedAt: journal.finishedAt } : {}),
    durationMs,
    outcome: status,
    reason: told[status].reason,
    message: told[status].message,
    ...(status === 'failed' ? { error: { phase: failedPhase, message: why } } : {}),
    ...(status === 'aborted' && cause
      ? { abort: { phase: cause.phase, reason: cause.reason, message: cause.message } }
      : {}),
    volumesDetached: volumes,
    dryRun: false,
  };
}

/**
 * The notification event an event makes, or undefined when it makes none (see {@link notificationOf}). Cheap:
 * nothing is built, so an event that is not notified costs the fence next to nothing.
 */
export function notifiedEvent(event: FenceEvent): NotifyEvent | undefined {
  switch (event.kind) {
    case 'started':
      return 'fence.started';
    case 'finished':
      return `fence.${event.status}`;
    case 'decided':
      if (event.outcome !== 'refused' || event.dryRun) return undefined;
      return Object.hasOwn(NOTIFIED_REFUSALS, event.reason) ? NOTIFIED_REFUSALS[event.reason] : undefined;
    case 'waiting-for-operator':
      return 'fence.waiting-for-operator';
    case 'phase-completed':
      return undefined;
  }
}

/**
 * The notification an event makes, or undefined for events that are not notified: phases, decisions other
 * than a storm-guard or cap refusal, and every dry-run decision (a plan changes nothing, and a disarmed
 * deployment would otherwise page for nodes it will never fence).
 *
 * @example
 * const notification = notificationOf(event, { id: randomUUID(), at: new Date().toISOString() });
 */
export function notificationOf(event: FenceEvent, stamp: Stamp): Notification | undefined {
  const { cluster, ...rest } = stamp;
  const stamped = { ...rest, ...(cluster ? { cluster } : {}) };
  switch (event.kind) {
    case 'started':
      return {
        version: NOTIFICATION_VERSION,
        event: 'fence.started',
        ...stamped,
        ...fenceFields(event.journal),
        outcome: 'accepted',
        reason: EVENT_REASONS.started,
        message: `fencing ${event.journal.node} (${triggerText(event.journal)}): power off, release, power on`,
        dryRun: false,
      };
    case 'finished':
      return finished(event, stamped);
    case 'decided': {
      const notified = notifiedEvent(event);
      if (!notified) return undefined;
      return {
        version: NOTIFICATION_VERSION,
        event: notified,
        ...stamped,
        node: event.node,
        trigger: { kind: event.trigger },
        outcome: 'refused',
        reason: event.reason,
        message: `refused to fence ${event.node}: ${event.message}`,
        dryRun: false,
      };
    }
    case 'waiting-for-operator':
      return {
        version: NOTIFICATION_VERSION,
        event: 'fence.waiting-for-operator',
        ...stamped,
        node: event.node,
        ...(event.fence ? { fence: event.fence } : {}),
        outcome: 'waiting-for-operator',
        reason: event.reason,
        message: `${event.node} waits for an operator (${event.reason}): ${event.message}`,
        dryRun: false,
      };
    case 'phase-completed':
      return undefined;
  }
}
