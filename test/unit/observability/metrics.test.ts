/**
 * The Prometheus metrics: what a fence, a refusal, the storm guard and the cluster-wide state come to in the
 * exposition, with the fence run for real on the in-memory cluster and the simulated cloud.
 */
import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import type { Overview } from '../../../functions/fence/api.js';
import type { FenceEvent } from '../../../functions/fence/observer.js';
import type { NodeViewState } from '../../../functions/kube/node-view.js';
import { createPrometheusMetrics, VERSION } from '../../../functions/observability/metrics.js';
import { samples, sampleValue } from '../../support/prom-text.js';
import { alertPayload, createWorld, VirtualClock } from '../../support/world.js';

const TICK_MS = 120_000;

function metricsOn(clock: { now: () => number }, processMetrics = false) {
  return createPrometheusMetrics({
    config: { tickIntervalMs: TICK_MS, dryRun: false },
    runtime: 'node',
    now: () => clock.now(),
    processMetrics,
  });
}

/** A world whose fence the metrics hear, on the world's own virtual clock. */
function observedWorld(options: Parameters<typeof createWorld>[0] = {}) {
  // The world's clock drives the fence; the storm guard's window reads it too, once the world exists.
  const clock = { now: () => 0 };
  const metrics = metricsOn(clock);
  const world = createWorld({ ...options, observer: metrics.observer });
  clock.now = world.clock.now;
  return { world, metrics };
}

const render = async (metrics: ReturnType<typeof createPrometheusMetrics>) => (await metrics.render()).body;

const decided = (outcome: string, reason: string, trigger = 'alert'): FenceEvent =>
  ({ kind: 'decided', node: 'worker-1', outcome, reason, message: '', trigger, dryRun: false }) as FenceEvent;

function overview(parts: Partial<Overview> = {}): Overview {
  return { pause: undefined, fences: [], rejected: [], ...parts };
}

/** A fence of worker-1 running its power-off, as the overview lists it. */
const RUNNING_FENCE = {
  node: 'worker-1',
  id: 'f1',
  status: 'running',
  phase: 'PowerOff',
  trigger: 'alert',
  startedAt: '2026-11-22T09:50:00Z',
  updatedAt: '2026-11-22T09:55:00Z',
  held: true,
} as const;
const UPGRADE_PAUSE = { reason: 'upgrade', by: 'ops', since: '2026-11-22T09:00:00Z' };

describe('the Prometheus metrics', () => {
  it('should count a whole fence: the decision, its start, each phase and its end', async () => {
    // Prepare
    const { world, metrics } = observedWorld();

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    const text = await render(metrics);

    // Assess
    expect(
      sampleValue(text, 'alertfence_decisions_total', {
        outcome: 'accepted',
        reason: 'Accepted',
        trigger: 'alert',
      }),
    ).toBe(1);
    expect(
      sampleValue(text, 'alertfence_fences_started_total', { trigger: 'alert', driver: 'simulated' }),
    ).toBe(1);
    expect(sampleValue(text, 'alertfence_fences_total', { outcome: 'succeeded', driver: 'simulated' })).toBe(
      1,
    );
    expect(
      sampleValue(text, 'alertfence_fence_duration_seconds_count', {
        outcome: 'succeeded',
        driver: 'simulated',
      }),
    ).toBe(1);
    // The simulated cloud takes 4 s per power transition on the virtual clock: off, then on.
    expect(
      sampleValue(text, 'alertfence_fence_duration_seconds_sum', {
        outcome: 'succeeded',
        driver: 'simulated',
      }),
    ).toBeGreaterThanOrEqual(8);
    for (const phase of ['Mark', 'PowerOff', 'VerifyOff', 'Release', 'DeleteNode', 'PowerOn', 'Done']) {
      expect(sampleValue(text, 'alertfence_phase_duration_seconds_count', { phase }), phase).toBe(1);
    }
    // VerifyOff waits out the 4 s stop and the polls around it: 6.75 s, in the (5, 10] bucket.
    expect(
      sampleValue(text, 'alertfence_phase_duration_seconds_bucket', { phase: 'VerifyOff', le: '5' }),
    ).toBe(0);
    expect(
      sampleValue(text, 'alertfence_phase_duration_seconds_bucket', { phase: 'VerifyOff', le: '10' }),
    ).toBe(1);
  });

  it('should count a refusal by its reason and trigger', async () => {
    // Prepare
    const { world, metrics } = observedWorld();

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]));
    await world.post('/v1/nodes/worker-3/fence', {});
    const text = await render(metrics);

    // Assess
    expect(
      sampleValue(text, 'alertfence_decisions_total', {
        outcome: 'refused',
        reason: 'NodeReady',
        trigger: 'alert',
      }),
    ).toBe(1);
    expect(
      sampleValue(text, 'alertfence_decisions_total', {
        outcome: 'refused',
        reason: 'NodeReady',
        trigger: 'manual',
      }),
    ).toBe(1);
    expect(samples(text, 'alertfence_fences_total')).toEqual([]);
  });

  it('should count a fence that failed for good, and its wait for an operator', async () => {
    // Prepare: the cloud refuses every read after the start's, for good.
    let reads = 0;
    const { world, metrics } = observedWorld({
      driverOptions: {
        onCall: (call) => {
          if (call.method === 'describe' && ++reads > 1) {
            throw new DriverError('UnauthorizedOperation', { retryable: false });
          }
        },
      },
    });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    const text = await render(metrics);

    // Assess
    expect(sampleValue(text, 'alertfence_fences_total', { outcome: 'failed', driver: 'simulated' })).toBe(1);
    expect(sampleValue(text, 'alertfence_waits_for_operator_total', { reason: 'NeedsOperator' })).toBe(1);
  });

  it('should fold a reason or a trigger outside the vocabulary into "other"', async () => {
    // Prepare
    const metrics = metricsOn(new VirtualClock());

    // Act
    metrics.observer.notice(decided('refused', 'something a node name made up: worker-1', 'cron'));
    const text = await render(metrics);

    // Assess
    expect(sampleValue(text, 'alertfence_decisions_total', { reason: 'other', trigger: 'other' })).toBe(1);
  });

  it('should trip the storm guard gauge on a real storm refusal', async () => {
    // Prepare: three of four nodes dead, over the world's 50 % limit.
    const { world, metrics } = observedWorld({
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3', ready: false },
        { name: 'worker-4' },
      ],
    });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const text = await render(metrics);

    // Assess
    expect(
      sampleValue(text, 'alertfence_decisions_total', { outcome: 'refused', reason: 'StormGuard' }),
    ).toBe(1);
    expect(sampleValue(text, 'alertfence_storm_guard_tripped')).toBe(1);
  });

  it.each([
    ['a tick interval passes without another storm refusal', TICK_MS, undefined, 0],
    ['a storm refusal is younger than a tick interval', TICK_MS - 1, undefined, 1],
    ['a fence is accepted after it', 0, decided('accepted', 'Accepted'), 0],
    ['a dry-run plans a fence after it', 0, decided('planned', 'DryRun'), 0],
    ['another node is refused for another reason after it', 0, decided('refused', 'NodeReady'), 1],
    ['a node of a dead zone is refused', 0, decided('refused', 'FailureDomainStormGuard'), 1],
  ])('should show the storm guard as it stands when %s', async (_when, elapsedMs, then, expected) => {
    // Prepare
    const clock = new VirtualClock();
    const metrics = metricsOn(clock);
    metrics.observer.notice(decided('refused', 'StormGuard'));

    // Act
    clock.advance(elapsedMs);
    if (then) metrics.observer.notice(then);
    const text = await render(metrics);

    // Assess
    expect(sampleValue(text, 'alertfence_storm_guard_tripped')).toBe(expected);
  });

  it('should read the cluster-wide state when scraped', async () => {
    // Prepare
    const clock = new VirtualClock(Date.parse('2026-11-22T10:00:00Z'));
    const metrics = metricsOn(clock);
    metrics.watch({
      overview: async () =>
        overview({
          pause: UPGRADE_PAUSE,
          fences: [
            RUNNING_FENCE,
            {
              node: 'worker-2',
              id: 'f2',
              status: 'failed',
              phase: 'Mark',
              trigger: 'alert',
              startedAt: '2026-11-22T08:00:00Z',
              updatedAt: '2026-11-22T08:01:00Z',
              held: false,
              waiting: { since: '2026-11-22T08:01:00Z', reason: 'NeedsOperator' },
            },
          ],
          rejected: [{ node: 'worker-9', reason: 'bad seal' }],
          lastSucceeded: { node: 'worker-3', id: 'f0', finishedAt: '2026-11-21T10:00:00Z' },
        }),
      ready: async () => {},
    });

    // Act
    const text = await render(metrics);

    // Assess
    expect(sampleValue(text, 'alertfence_state_up')).toBe(1);
    expect(sampleValue(text, 'alertfence_ready')).toBe(1);
    expect(sampleValue(text, 'alertfence_fences_running')).toBe(1);
    expect(sampleValue(text, 'alertfence_fences_waiting_for_operator')).toBe(1);
    expect(sampleValue(text, 'alertfence_journals_rejected')).toBe(1);
    expect(sampleValue(text, 'alertfence_paused')).toBe(1);
    expect(sampleValue(text, 'alertfence_paused_since_timestamp_seconds')).toBe(
      Date.parse('2026-11-22T09:00:00Z') / 1000,
    );
    expect(sampleValue(text, 'alertfence_last_success_timestamp_seconds')).toBe(
      Date.parse('2026-11-21T10:00:00Z') / 1000,
    );
    expect(samples(text, 'alertfence_fence_started_timestamp_seconds')).toEqual([
      {
        name: 'alertfence_fence_started_timestamp_seconds',
        labels: { node: 'worker-1', phase: 'PowerOff', waiting: '' },
        value: Date.parse('2026-11-22T09:50:00Z') / 1000,
      },
      {
        name: 'alertfence_fence_started_timestamp_seconds',
        labels: { node: 'worker-2', phase: 'Mark', waiting: 'NeedsOperator' },
        value: Date.parse('2026-11-22T08:00:00Z') / 1000,
      },
    ]);
    expect(sampleValue(text, 'alertfence_oldest_fence_age_seconds')).toBe(2 * 3600);
  });

  it('should leave no series behind of a fence that ended or a pause that was lifted', async () => {
    // Prepare
    const clock = new VirtualClock();
    const metrics = metricsOn(clock);
    let state = overview({
      pause: UPGRADE_PAUSE,
      fences: [RUNNING_FENCE],
    });
    metrics.watch({ overview: async () => state });
    await render(metrics);

    // Act
    state = overview();
    clock.advance(10_000);
    const text = await render(metrics);

    // Assess
    expect(samples(text, 'alertfence_fence_started_timestamp_seconds')).toEqual([]);
    expect(samples(text, 'alertfence_paused_since_timestamp_seconds')).toEqual([]);
    expect(samples(text, 'alertfence_last_success_timestamp_seconds')).toEqual([]);
    expect(sampleValue(text, 'alertfence_paused')).toBe(0);
    expect(sampleValue(text, 'alertfence_fences_running')).toBe(0);
    expect(sampleValue(text, 'alertfence_oldest_fence_age_seconds')).toBe(0);
  });

  it('should read the state once per 10 s, and once for scrapes that come together', async () => {
    // Prepare
    const clock = new VirtualClock();
    const metrics = metricsOn(clock);
    let reads = 0;
    let release: () => void = () => {};
    metrics.watch({
      overview: async () => {
        reads += 1;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return overview();
      },
    });

    // Act
    const together = Promise.all([render(metrics), render(metrics), render(metrics)]);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await together;
    const afterTogether = reads;
    clock.advance(9_999);
    await render(metrics);
    const withinTtl = reads;
    clock.advance(1);
    const later = render(metrics);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await later;

    // Assess
    expect(afterTogether).toBe(1);
    expect(withinTtl).toBe(1);
    expect(reads).toBe(2);
  });

  it('should answer a scrape with alertfence_state_up 0, not an error, when the state cannot be read', async () => {
    // Prepare
    const clock = new VirtualClock();
    const metrics = metricsOn(clock);
    let down = false;
    metrics.watch({
      overview: async () => {
        if (down) throw new Error('API server unavailable');
        return overview({ pause: UPGRADE_PAUSE });
      },
      ready: async () => {
        if (down) throw new Error('API server unavailable');
      },
    });
    await render(metrics);

    // Act
    down = true;
    clock.advance(10_000);
    const text = await render(metrics);

    // Assess: stale state is not shown as current.
    expect(sampleValue(text, 'alertfence_state_up')).toBe(0);
    expect(sampleValue(text, 'alertfence_ready')).toBe(0);
    expect(samples(text, 'alertfence_paused')).toEqual([]);
    expect(samples(text, 'alertfence_fences_running')).toEqual([]);
  });

  it('should show the Nodes followed while the watch vouches for them, 0 while it cannot, nothing without one', async () => {
    // Prepare
    const clock = new VirtualClock();
    const following = metricsOn(clock);
    let state: NodeViewState = { status: 'current', nodes: 5_000 };
    following.watch({ overview: async () => overview(), nodeView: () => state });
    const without = metricsOn(clock);
    without.watch({ overview: async () => overview() });

    // Act
    const current = await render(following);
    state = { status: 'failing', nodes: 5_000, reason: 'watch nodes: HTTP 403 Forbidden' };
    clock.advance(10_000);
    const failing = await render(following);
    const none = await render(without);

    // Assess
    expect(sampleValue(current, 'alertfence_nodes_followed')).toBe(5_000);
    expect(sampleValue(failing, 'alertfence_nodes_followed')).toBe(0);
    expect(samples(none, 'alertfence_nodes_followed')).toEqual([]);
  });

  it('should export the build, whether it is armed, and the process metrics', async () => {
    // Prepare
    const metrics = metricsOn(new VirtualClock(), true);

    // Act
    const { contentType, body } = await metrics.render();

    // Assess
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sampleValue(body, 'alertfence_build_info', { version: VERSION, runtime: 'node' })).toBe(1);
    expect(sampleValue(body, 'alertfence_armed')).toBe(1);
    // The process's CPU since the metrics were made: Linux splits CPU time into user and system by sampling,
    // so a short test can see 0 s of user time (it did, one run in many); present and a count is the point.
    expect(sampleValue(body, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(sampleValue(body, 'process_cpu_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(samples(body, 'nodejs_eventloop_lag_seconds')).toHaveLength(1);
  });
});
