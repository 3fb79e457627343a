/**
 * `GET /metrics`: behind the bearer token unless ALERTFENCE_METRICS_PUBLIC=true, absent where the runtime
 * brings no metrics (Lambda), and wired on the Node runtime to the fence, the drivers and the state.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/config.js';
import { createApp } from '../../../functions/http/app.js';
import { createLogger } from '../../../functions/log.js';
import { buildNodeRuntime } from '../../../functions/runtimes/node/node-runtime.js';
import { JOURNAL_KEY, RecordingContinuation } from '../../support/fence-wiring.js';
import { sampleValue } from '../../support/prom-text.js';
import { alertPayload, createWorld, TOKEN } from '../../support/world.js';

const EXPOSITION = 'text/plain; version=0.0.4; charset=utf-8';

function appWith(options: { metrics?: boolean; metricsPublic?: boolean }) {
  const world = createWorld();
  return createApp({
    config: world.config,
    service: world.service,
    continuation: new RecordingContinuation(),
    ready: async () => {},
    log: createLogger({ write: () => {} }),
    ...(options.metrics
      ? { metrics: async () => ({ contentType: EXPOSITION, body: 'alertfence_up 1\n' }) }
      : {}),
    ...(options.metricsPublic ? { metricsPublic: true } : {}),
  });
}

/** The Node runtime around a world's cluster and cloud, as `npm start` builds it. */
function nodeRuntime(env: Record<string, string> = {}) {
  const world = createWorld();
  const runtime = buildNodeRuntime(
    {
      ALERTFENCE_TOKENS: TOKEN,
      ALERTFENCE_DRY_RUN: 'false',
      ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
      ALERTFENCE_DRIVERS: 'simulated',
      // One dead node of three: the world's own limit, over the default 30 %.
      ALERTFENCE_MAX_UNHEALTHY: '50%',
      ...env,
    },
    {
      kube: world.kube,
      drivers: [world.driver],
      log: createLogger({ write: () => {} }),
      now: world.clock.now,
    },
  );
  return { world, runtime };
}

const get = (app: ReturnType<typeof createApp>, path: string, token?: string) =>
  app.request(path, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('GET /metrics', () => {
  it('should answer 401 without the bearer token', async () => {
    // Prepare
    const app = appWith({ metrics: true });

    // Act
    const response = await get(app, '/metrics');

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="alertfence"/);
    expect(await response.json()).toEqual({
      error: { code: 'unauthorized', message: 'missing bearer token' },
    });
  });

  it('should answer 401 with a wrong token', async () => {
    // Prepare
    const app = appWith({ metrics: true });

    // Act
    const response = await get(app, '/metrics', 'wrong-token-0123456789abcdef');

    // Assess
    expect(response.status).toBe(401);
  });

  it('should serve the exposition with the token, never cached', async () => {
    // Prepare
    const app = appWith({ metrics: true });

    // Act
    const response = await get(app, '/metrics', TOKEN);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(EXPOSITION);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toBe('alertfence_up 1\n');
  });

  it('should serve it without a token when made public', async () => {
    // Prepare
    const app = appWith({ metrics: true, metricsPublic: true });

    // Act
    const response = await get(app, '/metrics');

    // Assess
    expect(response.status).toBe(200);
  });

  it('should not exist where the runtime brings no metrics', async () => {
    // Prepare
    const app = appWith({});

    // Act
    const response = await get(app, '/metrics', TOKEN);

    // Assess
    expect(response.status).toBe(404);
  });

  it('should show what the Node runtime did: its decisions, its driver calls and the state', async () => {
    // Prepare
    const { world, runtime } = nodeRuntime();
    await runtime.app.request('/readyz');
    await runtime.app.request('/v1/alerts', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(alertPayload([{ node: 'worker-2' }])),
    });

    // Act
    const response = await get(runtime.app, '/metrics', TOKEN);
    const text = await response.text();

    // Assess
    expect(response.status).toBe(200);
    expect(sampleValue(text, 'alertfence_build_info', { runtime: 'node' })).toBe(1);
    expect(sampleValue(text, 'alertfence_armed')).toBe(1);
    expect(sampleValue(text, 'alertfence_decisions_total', { reason: 'NodeReady', trigger: 'alert' })).toBe(
      1,
    );
    // The readiness check's pre-flight went through the decorated driver.
    expect(
      sampleValue(text, 'alertfence_driver_calls_total', {
        driver: 'simulated',
        operation: 'preflight',
        result: 'ok',
      }),
    ).toBe(1);
    expect(sampleValue(text, 'alertfence_state_up')).toBe(1);
    expect(sampleValue(text, 'alertfence_ready')).toBe(1);
    expect(sampleValue(text, 'alertfence_paused')).toBe(0);
    expect(sampleValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(world.kube.calls.some((call) => call.mutating)).toBe(false);
  });

  it('should open /metrics on the Node runtime with ALERTFENCE_METRICS_PUBLIC=true', async () => {
    // Prepare
    const { runtime } = nodeRuntime({ ALERTFENCE_METRICS_PUBLIC: 'true' });

    // Act
    const response = await get(runtime.app, '/metrics');

    // Assess
    expect(response.status).toBe(200);
  });

  it('should refuse to start with ALERTFENCE_METRICS_PUBLIC neither true nor false', () => {
    // Act
    const start = () => nodeRuntime({ ALERTFENCE_METRICS_PUBLIC: 'maybe' });

    // Assess
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(/ALERTFENCE_METRICS_PUBLIC must be true or false/);
  });

  it('should name the OpenFaaS runtime in alertfence_build_info', async () => {
    // Prepare
    const world = createWorld();
    const runtime = buildNodeRuntime(
      { ALERTFENCE_TOKENS: TOKEN, ALERTFENCE_DRIVERS: 'simulated' },
      { kube: world.kube, drivers: [world.driver], log: createLogger({ write: () => {} }) },
      { name: 'openfaas' },
    );

    // Act
    const text = await (await get(runtime.app, '/metrics', TOKEN)).text();

    // Assess
    expect(sampleValue(text, 'alertfence_build_info', { runtime: 'openfaas' })).toBe(1);
    expect(sampleValue(text, 'alertfence_armed')).toBe(0);
  });
});
