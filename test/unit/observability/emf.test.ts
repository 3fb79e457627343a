/**
 * The metrics on Lambda: CloudWatch embedded metric format lines, checked against the EMF specification's
 * fields (`_aws.Timestamp`, `_aws.CloudWatchMetrics` directives, dimension and metric members), written when
 * each invocation ends.
 */
import type { LambdaContext } from 'hono/aws-lambda';
import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import { createLogger } from '../../../functions/log.js';
import { METRICS } from '../../../functions/observability/catalog.js';
import { createEmfMetrics, EMF_NAMESPACE } from '../../../functions/observability/emf.js';
import { createLambdaHandler } from '../../../functions/runtimes/lambda/handler.js';
import { functionUrlEvent } from '../../integration/runtimes/support/lambda-events.js';
import { emfMetrics, emfProblems } from '../../support/emf-spec.js';
import { JOURNAL_KEY, RecordingContinuation } from '../../support/fence-wiring.js';
import { alertPayload, createWorld, TOKEN, VirtualClock } from '../../support/world.js';

const config = { tickIntervalMs: 120_000, dryRun: false };

function emfOn(now: () => number = Date.now) {
  const lines: string[] = [];
  const metrics = createEmfMetrics({
    config,
    service: 'alertfence-prod',
    write: (line) => lines.push(line),
    now,
  });
  return { metrics, lines };
}

/** Every line is a valid EMF document; the metrics CloudWatch would extract from them. */
/** The Lambda handler, armed, around a world's cluster and cloud; the EMF lines it writes are in `lines`. */
function lambdaOn(world: ReturnType<typeof createWorld>, env: Record<string, string> = {}) {
  const lines: string[] = [];
  const continuation = new RecordingContinuation();
  const handler = createLambdaHandler(
    {
      ALERTFENCE_TOKENS: TOKEN,
      ALERTFENCE_DRY_RUN: 'false',
      ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
      ALERTFENCE_DRIVERS: 'simulated',
      ALERTFENCE_MAX_UNHEALTHY: '50%',
      ...env,
    },
    {
      kube: world.kube,
      drivers: [world.driver],
      continuation,
      log: createLogger({ write: () => {} }),
      now: world.clock.now,
      sleep: world.clock.sleep,
      metricsWrite: (line) => lines.push(line),
    },
  );
  return { handler, lines, continuation };
}

function extracted(lines: readonly string[]) {
  for (const line of lines) expect(emfProblems(line), line).toEqual([]);
  return emfMetrics(lines);
}

const find = (lines: readonly string[], name: string, dimensions: Record<string, string> = {}) =>
  extracted(lines).filter(
    (metric) =>
      metric.name === name &&
      Object.entries(dimensions).every(([key, value]) => metric.dimensions[key] === value),
  );

describe('the EMF metrics', () => {
  it('should write a whole fence as EMF lines that follow the specification', async () => {
    // Prepare
    const clock = { now: () => 0 };
    const { metrics, lines } = emfOn(() => clock.now());
    const world = createWorld({ observer: metrics.observer });
    clock.now = world.clock.now;

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    metrics.flush();

    // Assess
    const fences = find(lines, 'alertfence_fences_total');
    expect(fences).toEqual([
      {
        namespace: EMF_NAMESPACE,
        name: 'alertfence_fences_total',
        unit: 'Count',
        dimensions: { service: 'alertfence-prod', outcome: 'succeeded', driver: 'simulated' },
        values: [1],
      },
    ]);
    const duration = find(lines, 'alertfence_fence_duration_seconds', { outcome: 'succeeded' });
    expect(duration[0]?.unit).toBe('Seconds');
    expect(duration[0]?.values[0]).toBeGreaterThanOrEqual(8);
    expect(find(lines, 'alertfence_phase_duration_seconds').map((m) => m.dimensions.phase)).toEqual([
      'Mark',
      'PowerOff',
      'VerifyOff',
      'Release',
      'DeleteNode',
      'PowerOn',
      'Done',
    ]);
    expect(find(lines, 'alertfence_decisions_total', { outcome: 'accepted', trigger: 'alert' })).toHaveLength(
      1,
    );
    expect(find(lines, 'alertfence_storm_guard_tripped')[0]?.values).toEqual([0]);
    // Each line carries the time it was written.
    expect(JSON.parse(lines[0] as string)._aws.Timestamp).toBe(world.clock.now());
  });

  it('should sum a counter and collect a histogram over the invocation, one line per label set', () => {
    // Prepare
    const { metrics, lines } = emfOn();

    // Act
    for (let i = 0; i < 3; i++) {
      metrics.record([
        { metric: 'driverCalls', labels: { driver: 'aws', operation: 'describe', result: 'ok' }, value: 1 },
        {
          metric: 'driverCallDuration',
          labels: { driver: 'aws', operation: 'describe' },
          value: 0.1 * (i + 1),
        },
      ]);
    }
    metrics.flush();

    // Assess
    expect(find(lines, 'alertfence_driver_calls_total')[0]?.values).toEqual([3]);
    expect(find(lines, 'alertfence_driver_call_duration_seconds')[0]?.values).toEqual([
      0.1,
      0.2,
      expect.closeTo(0.3, 10),
    ]);
    expect(lines).toHaveLength(2);
  });

  it('should put metrics with the same label values on one line', () => {
    // Prepare
    const { metrics, lines } = emfOn();

    // Act
    metrics.record([
      { metric: 'fences', labels: { outcome: 'failed', driver: 'aws' }, value: 1 },
      { metric: 'fenceDuration', labels: { driver: 'aws', outcome: 'failed' }, value: 42 },
    ]);
    metrics.flush();

    // Assess
    expect(lines).toHaveLength(1);
    expect(extracted(lines).map((metric) => metric.name)).toEqual([
      'alertfence_fences_total',
      'alertfence_fence_duration_seconds',
    ]);
  });

  it('should split a histogram of more than 100 observations over several lines', () => {
    // Prepare
    const { metrics, lines } = emfOn();

    // Act
    metrics.record([{ metric: 'fences', labels: { outcome: 'succeeded', driver: 'aws' }, value: 1 }]);
    for (let i = 0; i < 250; i++) {
      metrics.record([
        { metric: 'fenceDuration', labels: { outcome: 'succeeded', driver: 'aws' }, value: i },
      ]);
    }
    metrics.flush();

    // Assess: 100 + 100 + 50 values, every one once; the counter once.
    const durations = find(lines, 'alertfence_fence_duration_seconds');
    expect(durations.map((metric) => metric.values.length)).toEqual([100, 100, 50]);
    expect(durations.flatMap((metric) => metric.values)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(find(lines, 'alertfence_fences_total').map((metric) => metric.values)).toEqual([[1]]);
  });

  it('should write what an invocation recorded once: a flush forgets it', () => {
    // Prepare
    const { metrics, lines } = emfOn();
    metrics.record([{ metric: 'fences', labels: { outcome: 'succeeded', driver: 'aws' }, value: 1 }]);
    metrics.flush();
    const first = lines.length;

    // Act
    metrics.flush();

    // Assess
    expect(first).toBe(1);
    expect(lines).toHaveLength(1);
  });

  it('should record the state for the tick, leaving out what is labelled by node', async () => {
    // Prepare
    const clock = new VirtualClock(Date.parse('2026-11-22T10:00:00Z'));
    const { metrics, lines } = emfOn(clock.now);

    // Act
    await metrics.recordState({
      overview: async () => ({
        pause: undefined,
        rejected: [],
        fences: [
          {
            node: 'worker-1',
            id: 'f1',
            status: 'running',
            phase: 'Release',
            trigger: 'alert',
            startedAt: '2026-11-22T09:45:00Z',
            updatedAt: '2026-11-22T09:59:00Z',
            held: true,
          },
        ],
        lastSucceeded: { node: 'worker-3', id: 'f0', finishedAt: '2026-11-22T09:00:00Z' },
      }),
      ready: async () => {},
    });
    metrics.flush();

    // Assess
    const all = extracted(lines);
    const byName = Object.fromEntries(all.map((metric) => [metric.name, metric.values]));
    expect(byName).toMatchObject({
      alertfence_state_up: [1],
      alertfence_ready: [1],
      alertfence_fences_running: [1],
      alertfence_fences_waiting_for_operator: [0],
      alertfence_oldest_fence_age_seconds: [900],
      alertfence_paused: [0],
      alertfence_armed: [1],
      alertfence_storm_guard_tripped: [0],
      alertfence_last_success_timestamp_seconds: [Date.parse('2026-11-22T09:00:00Z') / 1000],
    });
    expect(byName[METRICS.fenceStarted.name]).toBeUndefined();
    expect(all.every((metric) => !('node' in metric.dimensions))).toBe(true);
  });

  it('should write the EMF lines of each Lambda invocation when it ends: the webhook, the worker, the tick', async () => {
    // Prepare: the Lambda handler around a world's cluster and cloud.
    const world = createWorld();
    const { handler, lines, continuation } = lambdaOn(world, { AWS_LAMBDA_FUNCTION_NAME: 'alertfence-prod' });
    const context = (id: string) =>
      ({ awsRequestId: id, getRemainingTimeInMillis: () => 600_000 }) as unknown as LambdaContext;

    // Act 1: the webhook.
    await handler(
      functionUrlEvent('POST', '/v1/alerts', { body: alertPayload([{ node: 'worker-1' }]), token: TOKEN }),
      context('r1'),
    );
    const afterWebhook = [...lines];
    // Act 2: the worker invocations, until the fence is done.
    while (continuation.handoffs.length > 0) {
      const handoff = continuation.handoffs.shift();
      await handler({ alertfence: 'continue', handoff }, context('w'));
    }
    const afterWorkers = lines.slice(afterWebhook.length);
    // Act 3: the tick.
    await handler({ alertfence: 'tick' }, context('t1'));
    const afterTick = lines.slice(afterWebhook.length + afterWorkers.length);

    // Assess
    expect(
      find(afterWebhook, 'alertfence_decisions_total', { outcome: 'accepted', service: 'alertfence-prod' }),
    ).toHaveLength(1);
    expect(find(afterWebhook, 'alertfence_fences_started_total', { trigger: 'alert' })).toHaveLength(1);
    expect(find(afterWorkers, 'alertfence_fences_total', { outcome: 'succeeded' })[0]?.values).toEqual([1]);
    expect(
      find(afterWorkers, 'alertfence_driver_calls_total', { operation: 'power_off', result: 'ok' }),
    ).toHaveLength(1);
    expect(find(afterTick, 'alertfence_fences_running')[0]?.values).toEqual([0]);
    expect(find(afterTick, 'alertfence_state_up')[0]?.values).toEqual([1]);
    expect(find(afterTick, 'alertfence_last_success_timestamp_seconds')[0]?.values).toEqual([
      expect.any(Number),
    ]);
  });

  it('should write the EMF lines of a worker invocation that throws for a retry', async () => {
    // Prepare: the cloud throttles every describe after the start's, a failure a retry may overcome.
    let reads = 0;
    const world = createWorld({
      driverOptions: {
        onCall: (call) => {
          if (call.method === 'describe' && ++reads > 1) {
            throw new DriverError('throttled', { retryable: true });
          }
        },
      },
    });
    const { handler, lines, continuation } = lambdaOn(world);
    const context = {
      awsRequestId: 'w1',
      getRemainingTimeInMillis: () => 600_000,
    } as unknown as LambdaContext;
    await handler(
      functionUrlEvent('POST', '/v1/alerts', { body: alertPayload([{ node: 'worker-1' }]), token: TOKEN }),
      context,
    );
    const before = lines.length;

    // Act
    const thrown = await handler(
      { alertfence: 'continue', handoff: continuation.handoffs[0] },
      context,
    ).catch((error: unknown) => error);

    // Assess
    expect(thrown).toMatchObject({ name: 'FenceRetryError' });
    expect(
      find(lines.slice(before), 'alertfence_driver_calls_total', { operation: 'describe', result: 'error' })
        .length,
    ).toBeGreaterThan(0);
  });
});
