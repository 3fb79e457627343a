/**
 * What an operator sees of the e2e fence without reading alertfence's log: the notifications two local
 * receivers got (alertfence's JSON body and the Slack-compatible one) and a `/metrics` snapshot taken before
 * the kubelet dies and after the fence ends. `scenario.ts` wires it into the armed run; the tests assert on
 * it; the report writes it to `timeline.json` and `summary.md`.
 */
import { expect } from 'vitest';
import { PHASES } from '../../functions/fence/vocabulary.js';
import { waitUntil } from '../peers/process.js';
import { slackProblems } from '../support/notifications.js';
import { type NotifyReceiver, startNotifyReceiver } from '../support/notify-receiver.js';
import { parseExposition, type Sample } from '../support/prom-text.js';

/** The metric families the report shows (histograms by their `_sum` and `_count`, buckets left out). */
export const REPORTED_FAMILIES = [
  'alertfence_fences_started_total',
  'alertfence_fences_total',
  'alertfence_fence_duration_seconds',
  'alertfence_phase_duration_seconds',
  'alertfence_decisions_total',
  'alertfence_driver_calls_total',
  'alertfence_driver_call_duration_seconds',
  'alertfence_fences_running',
  'alertfence_last_success_timestamp_seconds',
  'alertfence_armed',
  'alertfence_ready',
  'alertfence_paused',
  'alertfence_storm_guard_tripped',
] as const;

/** One notification as a receiver got it. */
export interface ReceivedNotification {
  /** `json` or `slack`: which receiver. */
  format: 'json' | 'slack';
  /** When the receiver got it (ms since the epoch). */
  receivedAt: number;
  /** `X-Alertfence-Event`. */
  event: string;
  /** `X-Alertfence-Delivery`: the notification's id, the same on both receivers. */
  delivery: string;
  /** The body, parsed. */
  body: Record<string, unknown>;
}

/** A `/metrics` scrape: when, and the exposition as served. */
export interface MetricsScrape {
  at: number;
  text: string;
}

/** What the run recorded of notifications and metrics. */
export interface FenceObservability {
  notifications: ReceivedNotification[];
  /** Before the kubelet dies, and after the fence ends (once the counters show it). */
  metricsBefore?: MetricsScrape;
  metricsAfter?: MetricsScrape;
}

/** The two receivers and the environment that points alertfence at them. */
export interface NotificationReceivers {
  env: Record<string, string>;
  /** Every notification both receivers got so far, in the order they arrived. */
  received(): ReceivedNotification[];
  /** Waits (bounded) until both receivers got `event`; the error names what is missing. */
  waitForEvent(event: string, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a JSON and a Slack receiver on 127.0.0.1 (loopback `http://` is what alertfence allows besides https). */
export async function startNotificationReceivers(cluster: string): Promise<NotificationReceivers> {
  const json = await startNotifyReceiver();
  const slack = await startNotifyReceiver().catch(async (error: unknown) => {
    await json.close();
    throw error;
  });
  const of = (receiver: NotifyReceiver, format: ReceivedNotification['format']) =>
    receiver.received.map((request) => ({
      format,
      receivedAt: request.at,
      event: String(request.headers['x-alertfence-event'] ?? ''),
      delivery: String(request.headers['x-alertfence-delivery'] ?? ''),
      body: JSON.parse(request.body) as Record<string, unknown>,
    }));
  const received = () =>
    [...of(json, 'json'), ...of(slack, 'slack')].sort((a, b) => a.receivedAt - b.receivedAt);
  return {
    env: {
      ALERTFENCE_NOTIFY_URL: `${json.url},${slack.url}`,
      ALERTFENCE_NOTIFY_FORMAT: 'json,slack',
      ALERTFENCE_CLUSTER_NAME: cluster,
    },
    received,
    async waitForEvent(event, timeoutMs) {
      await waitUntil(
        () =>
          ['json', 'slack'].every((format) =>
            received().some((n) => n.format === format && n.event === event),
          ),
        { timeoutMs, intervalMs: 100, what: `the ${event} notification at the JSON and the Slack receiver` },
      );
    },
    async stop() {
      await Promise.all([json.close(), slack.close()]);
    },
  };
}

/** `GET /metrics` with the bearer token (required unless ALERTFENCE_METRICS_PUBLIC=true). */
export async function scrapeMetrics(baseUrl: string, token: string): Promise<MetricsScrape> {
  const response = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}: ${text.slice(0, 200)}`);
  return { at: Date.now(), text };
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export function total(text: string | undefined, name: string, labels: Record<string, string> = {}): number {
  if (text === undefined) return 0;
  return parseExposition(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Whether a sample belongs to the reported families (buckets left out: `_sum` and `_count` tell enough). */
function reported(sample: Sample): boolean {
  if (sample.name.endsWith('_bucket')) return false;
  const family = sample.name.replace(/_(sum|count)$/, '');
  return (REPORTED_FAMILIES as readonly string[]).includes(family);
}

/** One line of the snapshot: a reported series, its value before the death and after the fence. */
export interface SnapshotRow {
  series: string;
  before: number | undefined;
  after: number;
}

function seriesName(sample: Sample): string {
  const labels = Object.entries(sample.labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(',');
  return labels ? `${sample.name}{${labels}}` : sample.name;
}

/** The reported series after the fence, each with its value before (undefined: the series did not exist). */
export function metricsSnapshot(observed: FenceObservability): SnapshotRow[] {
  if (!observed.metricsAfter) return [];
  const before = new Map(
    parseExposition(observed.metricsBefore?.text ?? '')
      .filter(reported)
      .map((sample) => [seriesName(sample), sample.value]),
  );
  return parseExposition(observed.metricsAfter.text)
    .filter(reported)
    .map((sample) => ({
      series: seriesName(sample),
      before: before.get(seriesName(sample)),
      after: sample.value,
    }));
}

/**
 * The notifications for a report: each with the time since `t0` (s), the receiver, the event, and what the
 * JSON body says (outcome, reason, message, phase) or the Slack body's `text`.
 */
export function notificationSequence(observed: FenceObservability, t0: number) {
  return observed.notifications.map((n) => {
    const b = n.body;
    return {
      t: Math.round((n.receivedAt - t0) / 10) / 100,
      receivedAt: new Date(n.receivedAt).toISOString(),
      format: n.format,
      event: n.event,
      delivery: n.delivery,
      ...(n.format === 'json'
        ? {
            at: b.at,
            node: b.node,
            fence: b.fence,
            outcome: b.outcome,
            reason: b.reason,
            phase: b.phase,
            ...(b.durationMs !== undefined ? { durationMs: b.durationMs } : {}),
            message: b.message,
          }
        : { text: b.text }),
    };
  });
}

/**
 * Asserts what an operator must see of a fence that succeeded: `fence.started` then `fence.succeeded` for the
 * node at both receivers (the same fence, the same deliveries, Slack bodies Slack would take), and `/metrics`
 * counting exactly this fence — started by the alert, succeeded, every executor phase timed, the driver's
 * power-off and power-on, and the last success at the journal's end.
 */
export function expectFenceObserved(
  observed: FenceObservability | undefined,
  expected: { node: string; fence: string | undefined; driver: string; finishedAt: string | undefined },
): void {
  expect(observed, 'the run recorded notifications and metrics').toBeDefined();
  if (!observed) return;
  const ofNode = (format: ReceivedNotification['format']) =>
    observed.notifications.filter(
      (n) => n.format === format && (format === 'slack' || n.body.node === expected.node),
    );
  const json = ofNode('json');
  const slack = ofNode('slack');

  // The notifications: started → succeeded, once each, on both receivers, about this fence.
  expect(
    json.map((n) => n.event),
    'JSON receiver',
  ).toEqual(['fence.started', 'fence.succeeded']);
  expect(
    slack.map((n) => n.event),
    'Slack receiver',
  ).toEqual(['fence.started', 'fence.succeeded']);
  expect(json.map((n) => n.body.fence)).toEqual([expected.fence, expected.fence]);
  expect(json.map((n) => n.body.outcome)).toEqual(['accepted', 'succeeded']);
  expect(json.map((n) => n.body.cluster)).toEqual(['e2e', 'e2e']);
  expect(
    slack.map((n) => n.delivery),
    'one notification, two bodies',
  ).toEqual(json.map((n) => n.delivery));
  expect(slack.flatMap((n) => slackProblems(n.body))).toEqual([]);
  expect(String(slack[1]?.body.text)).toContain(expected.node);
  const [started, succeeded] = json;
  expect(Date.parse(String(started?.body.at))).toBeLessThanOrEqual(Date.parse(String(succeeded?.body.at)));
  expect(succeeded?.body.finishedAt).toBe(expected.finishedAt);

  // The metrics: this fence and nothing else.
  const before = observed.metricsBefore?.text;
  const after = observed.metricsAfter?.text;
  expect(after, '/metrics after the fence').toBeDefined();
  const added = (name: string, labels: Record<string, string> = {}) =>
    total(after, name, labels) - total(before, name, labels);
  const driver = { driver: expected.driver };
  expect(added('alertfence_fences_started_total', { trigger: 'alert', ...driver })).toBe(1);
  expect(added('alertfence_fences_total', { outcome: 'succeeded', ...driver })).toBe(1);
  expect(added('alertfence_fences_total', { outcome: 'failed' })).toBe(0);
  expect(added('alertfence_fence_duration_seconds_count', { outcome: 'succeeded', ...driver })).toBe(1);
  for (const phase of PHASES.slice(PHASES.indexOf('Mark'))) {
    expect(added('alertfence_phase_duration_seconds_count', { phase }), `${phase} timed once`).toBe(1);
  }
  for (const operation of ['power_off', 'power_on']) {
    expect(
      added('alertfence_driver_calls_total', { ...driver, operation, result: 'ok' }),
      `${operation} calls`,
    ).toBeGreaterThanOrEqual(1);
  }
  expect(added('alertfence_driver_calls_total', { ...driver, result: 'error' }), 'driver errors').toBe(0);
  expect(total(after, 'alertfence_fences_running')).toBe(0);
  const lastSuccess = total(after, 'alertfence_last_success_timestamp_seconds');
  expect(Math.abs(lastSuccess * 1000 - Date.parse(expected.finishedAt ?? '')), 'last success').toBeLessThan(
    1_000,
  );
}
