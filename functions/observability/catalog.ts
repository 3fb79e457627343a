/**
 * Every metric alertfence exports, in one place: its name, kind, labels, buckets and unit (its help text is
 * in `catalog-help.ts`, which only the Prometheus registry and the docs read: a Lambda writes EMF and does not
 * carry it). The Prometheus registry (`metrics.ts`), the CloudWatch EMF writer (`emf.ts`) and
 * `docs/metrics.md` all read the same list, so a metric is named and labelled the same on every runtime.
 */

/** Whole fences: from the lock to Done. A real one takes 5 s (a cloud that stops at once) to 10 min and more. */
export const FENCE_BUCKETS = [5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1800, 3600];

/**
 * One phase: Mark is a patch (10 ms), PowerOff and VerifyOff wait for the cloud (seconds to minutes), Release
 * waits for pods and VolumeAttachments to go (up to ALERTFENCE_RELEASE_TIMEOUT, 2 min by default, then more
 * for the forced path), PowerOn a few seconds.
 */
export const PHASE_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300, 600,
];

/**
 * One driver call: a describe is one API round trip (20 ms–1 s), a wait for a power state or a detach is
 * bounded by ALERTFENCE_POWER_TIMEOUT (5 min by default).
 */
export const DRIVER_CALL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The kinds of metric, as Prometheus names them. */
export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** A CloudWatch unit (the subset alertfence uses). */
export type CloudWatchUnit = 'Count' | 'Seconds' | 'None';

export interface MetricSpec {
  name: string;
  kind: MetricKind;
  labels: readonly string[];
  buckets?: readonly number[];
  /** The unit of its EMF values on Lambda. */
  unit: CloudWatchUnit;
  /** Where the value comes from: an event as it happens, or the cluster's state when it is read. */
  source: 'event' | 'state' | 'process';
  /**
   * False for a metric left out of the EMF lines on Lambda: CloudWatch makes each dimension value a metric
   * of its own, billed monthly, so nothing labelled by node (or by version) goes there.
   */
  emf?: boolean;
}

const spec = <const S extends MetricSpec>(s: S) => s;

/** The metrics, by the key the code uses. */
export const METRICS = {
  fencesStarted: spec({
    name: 'alertfence_fences_started_total',
    kind: 'counter',
    labels: ['trigger', 'driver'],
    unit: 'Count',
    source: 'event',
  }),
  fences: spec({
    name: 'alertfence_fences_total',
    kind: 'counter',
    labels: ['outcome', 'driver'],
    unit: 'Count',
    source: 'event',
  }),
  fenceDuration: spec({
    name: 'alertfence_fence_duration_seconds',
    kind: 'histogram',
    labels: ['outcome', 'driver'],
    buckets: FENCE_BUCKETS,
    unit: 'Seconds',
    source: 'event',
  }),
  phaseDuration: spec({
    name: 'alertfence_phase_duration_seconds',
    kind: 'histogram',
    labels: ['phase'],
    buckets: PHASE_BUCKETS,
    unit: 'Seconds',
    source: 'event',
  }),
  decisions: spec({
    name: 'alertfence_decisions_total',
    kind: 'counter',
    labels: ['outcome', 'reason', 'trigger'],
    unit: 'Count',
    source: 'event',
  }),
  waitsForOperator: spec({
    name: 'alertfence_waits_for_operator_total',
    kind: 'counter',
    labels: ['reason'],
    unit: 'Count',
    source: 'event',
  }),
  driverCalls: spec({
    name: 'alertfence_driver_calls_total',
    kind: 'counter',
    labels: ['driver', 'operation', 'result'],
    unit: 'Count',
    source: 'event',
  }),
  driverCallDuration: spec({
    name: 'alertfence_driver_call_duration_seconds',
    kind: 'histogram',
    labels: ['driver', 'operation'],
    buckets: DRIVER_CALL_BUCKETS,
    unit: 'Seconds',
    source: 'event',
  }),
  stormGuardTripped: spec({
    name: 'alertfence_storm_guard_tripped',
    kind: 'gauge',
    labels: [],
    unit: 'None',
    source: 'event',
  }),
  fencesRunning: spec({
    name: 'alertfence_fences_running',
    kind: 'gauge',
    labels: [],
    unit: 'Count',
    source: 'state',
  }),
  fencesWaiting: spec({
    name: 'alertfence_fences_waiting_for_operator',
    kind: 'gauge',
    labels: [],
    unit: 'Count',
    source: 'state',
  }),
  fenceStarted: spec({
    name: 'alertfence_fence_started_timestamp_seconds',
    kind: 'gauge',
    labels: ['node', 'phase', 'waiting'],
    unit: 'Seconds',
    source: 'state',
    emf: false,
  }),
  oldestFenceAge: spec({
    name: 'alertfence_oldest_fence_age_seconds',
    kind: 'gauge',
    labels: [],
    unit: 'Seconds',
    source: 'state',
  }),
  journalsRejected: spec({
    name: 'alertfence_journals_rejected',
    kind: 'gauge',
    labels: [],
    unit: 'Count',
    source: 'state',
  }),
  paused: spec({
    name: 'alertfence_paused',
    kind: 'gauge',
    labels: [],
    unit: 'None',
    source: 'state',
  }),
  pausedSince: spec({
    name: 'alertfence_paused_since_timestamp_seconds',
    kind: 'gauge',
    labels: [],
    unit: 'Seconds',
    source: 'state',
  }),
  lastSuccess: spec({
    name: 'alertfence_last_success_timestamp_seconds',
    kind: 'gauge',
    labels: [],
    unit: 'Seconds',
    source: 'state',
  }),
  ready: spec({
    name: 'alertfence_ready',
    kind: 'gauge',
    labels: [],
    unit: 'None',
    source: 'state',
  }),
  nodesFollowed: spec({
    name: 'alertfence_nodes_followed',
    kind: 'gauge',
    labels: [],
    unit: 'Count',
    source: 'state',
  }),
  stateUp: spec({
    name: 'alertfence_state_up',
    kind: 'gauge',
    labels: [],
    unit: 'None',
    source: 'state',
  }),
  armed: spec({
    name: 'alertfence_armed',
    kind: 'gauge',
    labels: [],
    unit: 'None',
    source: 'process',
  }),
  buildInfo: spec({
    name: 'alertfence_build_info',
    kind: 'gauge',
    labels: ['version', 'runtime'],
    unit: 'None',
    source: 'process',
    emf: false,
  }),
} as const;

export type MetricKey = keyof typeof METRICS;

/** Label values by label name. */
export type Labels = Readonly<Record<string, string>>;

/** One thing to record: a counter's increment, a histogram's observation, or a gauge's value. */
export interface Measurement {
  metric: MetricKey;
  labels: Labels;
  value: number;
}
