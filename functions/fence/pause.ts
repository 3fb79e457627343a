/**
 * The cluster-wide pause (`POST /v1/pause`, `DELETE /v1/pause`): one Lease in alertfence's namespace, so that
 * every instance and runtime obeys the same switch. While paused, no fence starts, and no fence powers a machine
 * off: one that has not yet is held before its power-off (the tick resumes it once the pause ends, or it waits
 * for an operator if that is longer than ALERTFENCE_RESUME_WITHIN). A fence past its power-off finishes: its
 * machine is off already, and stopping half-way would leave its workloads stuck, the harm fencing ends.
 *
 * The pause fails closed: a pause Lease alertfence cannot read counts as a pause.
 */
import { KUBE_NAMES } from '../kube/names.js';
import type { Lease } from '../kube/objects.js';
import { ownedLease } from '../kube/owned-lease.js';
import { type KubeCallOptions, KubeConflictError, type KubePort } from '../kube/port.js';
import type { FenceJournal } from './journal.js';
import { hasCompleted } from './journal.js';
import { REASONS } from './vocabulary.js';

/** A pause in force: why, who asked, since when, and until when (none: until it is lifted). */
export interface Pause {
  reason: string;
  by: string;
  since: string;
  until?: string;
}

export interface PauseDeps {
  kube: KubePort;
  config: { namespace: string };
  now: () => number;
}

/** What the pause Lease says: a pause in force, or none (never set, lifted, or expired). */
export function pauseOf(lease: Lease | undefined, now: number): Pause | undefined {
  const text = lease?.metadata?.annotations?.[KUBE_NAMES.pauseAnnotation];
  if (!text) return undefined;
  let value: Partial<Pause> & { paused?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch {
    return unreadable(lease);
  }
  if (value?.paused === false) return undefined;
  if (typeof value?.reason !== 'string' || typeof value.since !== 'string') return unreadable(lease);
  if (value.until !== undefined) {
    const until = Date.parse(value.until);
    if (Number.isNaN(until)) return unreadable(lease);
    if (until <= now) return undefined;
  }
  return {
    reason: value.reason,
    by: typeof value.by === 'string' ? value.by : 'unknown',
    since: value.since,
    ...(value.until ? { until: value.until } : {}),
  };
}

function unreadable(lease: Lease | undefined): Pause {
  return {
    reason: `the pause Lease ${lease?.metadata?.name} cannot be read; alertfence stays paused until it is set or lifted again`,
    by: 'unknown',
    since: lease?.metadata?.creationTimestamp ?? new Date(0).toISOString(),
  };
}

export async function readPause(deps: PauseDeps, options?: KubeCallOptions): Promise<Pause | undefined> {
  const lease = await deps.kube.getLease(deps.config.namespace, KUBE_NAMES.pauseLease, options);
  return pauseOf(lease, deps.now());
}

function pauseLease(namespace: string, state: object, previous: Lease | undefined): Lease {
  return ownedLease({
    name: KUBE_NAMES.pauseLease,
    namespace,
    kind: 'pause',
    previous,
    annotations: { ...previous?.metadata?.annotations, [KUBE_NAMES.pauseAnnotation]: JSON.stringify(state) },
  });
}

/** Writes the pause state; the last writer wins (two operators pausing at once both mean "paused"). */
async function writePause(deps: PauseDeps, state: object, options?: KubeCallOptions): Promise<void> {
  const { kube, config } = deps;
  for (let attempt = 0; ; attempt++) {
    const previous = await kube.getLease(config.namespace, KUBE_NAMES.pauseLease, options);
    const body = pauseLease(config.namespace, state, previous);
    try {
      if (previous) await kube.replaceLease(config.namespace, body, options);
      else await kube.createLease(config.namespace, body, options);
      return;
    } catch (error) {
      if (!(error instanceof KubeConflictError) || attempt >= 4) throw error;
    }
  }
}

/** Pauses alertfence cluster-wide until `until` (epoch ms) or until lifted. */
export async function setPause(
  deps: PauseDeps,
  request: { reason: string; by: string; until?: number },
  options?: KubeCallOptions,
): Promise<Pause> {
  const pause: Pause = {
    reason: request.reason,
    by: request.by,
    since: new Date(deps.now()).toISOString(),
    ...(request.until !== undefined ? { until: new Date(request.until).toISOString() } : {}),
  };
  await writePause(deps, { paused: true, ...pause }, options);
  return pause;
}

/** Lifts the pause; answers the one that was in force, if any. */
export async function liftPause(
  deps: PauseDeps,
  by: string,
  options?: KubeCallOptions,
): Promise<Pause | undefined> {
  const previous = await readPause(deps, options);
  await writePause(deps, { paused: false, liftedAt: new Date(deps.now()).toISOString(), by }, options);
  return previous;
}

/** What a pause answers a fence: refused when it would start, or would still power its machine off. */
export function pauseRefusal(
  pause: Pause | undefined,
  journal?: FenceJournal,
): { outcome: 'refused'; reason: typeof REASONS.paused; message: string } | undefined {
  if (!pause) return undefined;
  if (journal && hasCompleted(journal, 'PowerOff')) return undefined;
  const until = pause.until ? ` until ${pause.until}` : ' until it is lifted (DELETE /v1/pause)';
  const held = journal ? `fence ${journal.id} is held before its power-off` : 'no fence starts';
  return {
    outcome: 'refused',
    reason: REASONS.paused,
    message: `alertfence is paused since ${pause.since} by ${pause.by} ("${pause.reason}")${until}: ${held}`,
  };
}
