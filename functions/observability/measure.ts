/**
 * What each fence event, driver call and read of the cluster's state is worth in metrics: pure functions from
 * what happened to {@link Measurement}s, shared by the Prometheus registry and the CloudWatch EMF writer so
 * that both count the same things the same way.
 */
import type { Overview } from '../fence/api.js';
import type { FenceEvent } from '../fence/observer.js';
import { PHASES, REASONS, TRIGGER_KINDS } from '../fence/vocabulary.js';
import type { Measurement } from './catalog.js';

const KNOWN_REASONS: ReadonlySet<string> = new Set(Object.values(REASONS));
const KNOWN_TRIGGERS: ReadonlySet<string> = new Set(TRIGGER_KINDS);
const KNOWN_PHASES: ReadonlySet<string> = new Set(PHASES);

/**
 * A label value from a closed vocabulary, or `other`: a label's values must stay few (each one is a series in
 * Prometheus and a metric in CloudWatch), whatever reaches the observer.
 */
const closed = (known: ReadonlySet<string>, value: string) => (known.has(value) ? value : 'other');

/** Driver names are configuration (aws, openstack, redfish, simulated); anything odd is folded, not exported. */
const driverLabel = (name: string) => (/^[a-z][a-z0-9-]{0,31}$/.test(name) ? name : 'other');

/** The reasons the storm guard refuses with: too many unhealthy nodes, cluster-wide or in one failure domain. */
export const STORM_REASONS: ReadonlySet<string> = new Set([REASONS.stormGuard, REASONS.domainStormGuard]);

/** What a fence event adds to the metrics (the storm guard's gauge is kept by {@link StormWatch}). */
export function measureEvent(event: FenceEvent): Measurement[] {
  switch (event.kind) {
    case 'decided':
      return [
        {
          metric: 'decisions',
          labels: {
            outcome: event.outcome,
            reason: closed(KNOWN_REASONS, event.reason),
            trigger: closed(KNOWN_TRIGGERS, event.trigger),
          },
          value: 1,
        },
      ];
    case 'started':
      return [
        {
          metric: 'fencesStarted',
          labels: {
            trigger: closed(KNOWN_TRIGGERS, event.journal.trigger.kind),
            driver: driverLabel(event.journal.instance.provider),
          },
          value: 1,
        },
      ];
    case 'phase-completed':
      return [
        {
          metric: 'phaseDuration',
          labels: { phase: closed(KNOWN_PHASES, event.phase) },
          value: Math.max(0, event.durationMs) / 1000,
        },
      ];
    case 'finished': {
      const labels = { outcome: event.status, driver: driverLabel(event.journal.instance.provider) };
      return [
        { metric: 'fences', labels, value: 1 },
        { metric: 'fenceDuration', labels, value: Math.max(0, event.durationMs) / 1000 },
      ];
    }
    case 'waiting-for-operator':
      return [
        { metric: 'waitsForOperator', labels: { reason: closed(KNOWN_REASONS, event.reason) }, value: 1 },
      ];
  }
}

/**
 * Whether the storm guard is tripped: it refused a node (cluster-wide or per failure domain) within the last
 * `windowMs` (ALERTFENCE_TICK_INTERVAL), and no fence was accepted (or planned, disarmed) since. A fence let
 * through is the guard saying the storm is over; the window lets the gauge fall by itself once refusals stop
 * coming, since the tick (and Alertmanager's repeats) ask again at least that often while nodes stay down.
 */
export class StormWatch {
  private trippedAt: number | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  notice(event: FenceEvent): void {
    if (event.kind !== 'decided') return;
    if (event.outcome === 'refused' && STORM_REASONS.has(event.reason)) this.trippedAt = this.now();
    else if (event.outcome === 'accepted' || event.outcome === 'planned') this.trippedAt = undefined;
  }

  tripped(): boolean {
    return this.trippedAt !== undefined && this.now() - this.trippedAt < this.windowMs;
  }

  measurement(): Measurement {
    return { metric: 'stormGuardTripped', labels: {}, value: this.tripped() ? 1 : 0 };
  }
}

/**
 * The cluster-wide state as gauges, read at `now` (epoch ms): fences running and waiting, each fence's start
 * and the oldest one's age, the pause, the last success.
 */
export function measureOverview(overview: Overview, now: number): Measurement[] {
  const seconds = (iso: string) => Date.parse(iso) / 1000;
  const waiting = overview.fences.filter((fence) => fence.waiting).length;
  const measurements: Measurement[] = [
    { metric: 'fencesRunning', labels: {}, value: overview.fences.length - waiting },
    { metric: 'fencesWaiting', labels: {}, value: waiting },
    { metric: 'journalsRejected', labels: {}, value: overview.rejected.length },
    { metric: 'paused', labels: {}, value: overview.pause ? 1 : 0 },
  ];
  let oldest = now / 1000;
  for (const fence of overview.fences) {
    const started = seconds(fence.startedAt);
    if (Number.isNaN(started)) continue;
    oldest = Math.min(oldest, started);
    measurements.push({
      metric: 'fenceStarted',
      labels: {
        node: fence.node,
        phase: closed(KNOWN_PHASES, fence.phase),
        waiting: fence.waiting ? closed(KNOWN_REASONS, fence.waiting.reason) : '',
      },
      value: started,
    });
  }
  measurements.push({ metric: 'oldestFenceAge', labels: {}, value: Math.max(0, now / 1000 - oldest) });
  const pausedSince = overview.pause ? seconds(overview.pause.since) : Number.NaN;
  if (!Number.isNaN(pausedSince))
    measurements.push({ metric: 'pausedSince', labels: {}, value: pausedSince });
  const lastSuccess = overview.lastSucceeded ? seconds(overview.lastSucceeded.finishedAt) : Number.NaN;
  if (!Number.isNaN(lastSuccess))
    measurements.push({ metric: 'lastSuccess', labels: {}, value: lastSuccess });
  return measurements;
}
