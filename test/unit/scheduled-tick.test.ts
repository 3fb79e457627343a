/**
 * The scheduled tick on every runtime: the service's tick itself, `POST /v1/tick`, the unauthenticated cron
 * route OpenFaaS' cron-connector posts to, and the Lambda handler's EventBridge event. What the tick decides is
 * tested with the scenarios (test/unit/fence/safe-on-every-path.test.ts); here, that each runtime reaches it.
 */

import type { LambdaContext } from 'hono/aws-lambda';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/config.js';
import type { FenceService } from '../../functions/fence/api.js';
import { createApp } from '../../functions/http/app.js';
import { createLogger } from '../../functions/log.js';
import { createLambdaHandler } from '../../functions/runtimes/lambda/handler.js';
import { JOURNAL_KEY, RecordingContinuation, wireFence } from '../support/fence-wiring.js';
import { alertPayload, createWorld, TOKEN } from '../support/world.js';

/** A fence whose continuation is lost right after it was handed over, its Lease hold run out. */
async function lostContinuation() {
  const world = createWorld();
  await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
  world.continuation.handoffs.length = 0;
  world.clock.advance(world.config.lockDurationMs + 1_000);
  return world;
}

function countingService(): { service: FenceService; ticks: () => number } {
  let ticks = 0;
  const service = {
    tick: async () => {
      ticks += 1;
      return { answer: [], handoffs: [] };
    },
  } as unknown as FenceService;
  return { service, ticks: () => ticks };
}

describe('the scheduled tick', () => {
  it('should resume a fence whose continuation was lost, through POST /v1/tick', async () => {
    // Prepare
    const world = await lostContinuation();

    // Act
    const response = await world.post('/v1/tick', {});
    const body = (await response.json()) as {
      results: Array<{ node: string; outcome: string; reason: string }>;
    };
    await world.drain();

    // Assess
    expect(response.status).toBe(200);
    expect(body.results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'accepted', reason: 'Resume' }),
    ]);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
  });

  it('should leave a fence alone while its hand-over is fresh (its continuation is on its way)', async () => {
    // Prepare
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));

    // Act
    const body = (await (await world.post('/v1/tick', {})).json()) as { results: Array<{ outcome: string }> };

    // Assess
    expect(body.results).toEqual([expect.objectContaining({ outcome: 'in-progress' })]);
  });

  it('should only report what it would resume while disarmed', async () => {
    // Prepare: an armed deployment handed a fence over; the deployment is then disarmed.
    const world = await lostContinuation();
    const disarmed = wireFence({
      kube: world.kube,
      drivers: [world.driver],
      env: { ALERTFENCE_DRIVERS: 'simulated', ALERTFENCE_DRY_RUN: 'true', ALERTFENCE_MAX_UNHEALTHY: '50%' },
      now: world.clock.now,
      sleep: world.clock.sleep,
    });
    const mutationsBefore = world.kube.mutations().length;

    // Act
    const body = (await (await disarmed.post('/v1/tick', {})).json()) as {
      dryRun: boolean;
      results: Array<{ outcome: string }>;
    };

    // Assess
    expect(body.dryRun).toBe(true);
    expect(body.results).toEqual([expect.objectContaining({ outcome: 'planned', reason: 'Resume' })]);
    expect(world.kube.mutations()).toHaveLength(mutationsBefore);
    expect(disarmed.continuation.handoffs).toEqual([]);
  });

  it('should refuse POST /v1/tick without a token', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request('/v1/tick', { method: 'POST' });

    // Assess
    expect(response.status).toBe(401);
  });

  it('should serve the cron-connector on POST / without a token, answer counts only, and run at most once per interval', async () => {
    // Prepare
    const { service, ticks } = countingService();
    let now = 1_000_000;
    const config = loadConfig({ ALERTFENCE_TOKENS: TOKEN });
    const app = createApp({
      config,
      service,
      ready: async () => {},
      log: createLogger({ write: () => {} }),
      now: () => now,
      continuation: new RecordingContinuation(),
      cronTick: { minIntervalMs: 30_000 },
    });

    // Act
    const first = await app.request('/', { method: 'POST' });
    const again = await app.request('/', { method: 'POST' });
    now += 30_001;
    const later = await app.request('/', { method: 'POST' });

    // Assess
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ status: 'ok', fences: 0 });
    expect(await again.json()).toEqual({ status: 'skipped' });
    expect(later.status).toBe(202);
    expect(ticks()).toBe(2);
  });

  it('should not serve POST / where no cron tick is configured (the Node server, Lambda)', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request('/', { method: 'POST' });

    // Assess
    expect(response.status).toBe(404);
  });

  it("should run the tick for the Lambda schedule's event", async () => {
    // Prepare: the Lambda handler around the same cluster and cloud.
    const world = await lostContinuation();
    const continuation = new RecordingContinuation();
    const handler = createLambdaHandler(
      {
        ALERTFENCE_TOKENS: TOKEN,
        ALERTFENCE_DRY_RUN: 'false',
        ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
        ALERTFENCE_DRIVERS: 'simulated',
        ALERTFENCE_MAX_UNHEALTHY: '50%',
      },
      {
        kube: world.kube,
        drivers: [world.driver],
        continuation,
        log: createLogger({ write: () => {} }),
        now: world.clock.now,
      },
    );
    const context = {
      awsRequestId: 'tick-1',
      getRemainingTimeInMillis: () => 60_000,
    } as unknown as LambdaContext;

    // Act
    const answer = await handler({ alertfence: 'tick' }, context);

    // Assess: the lost fence was handed to a fresh continuation.
    expect(answer).toEqual({ status: 'ticked', fences: 1, outcomes: { accepted: 1 } });
    expect(continuation.handoffs).toEqual([
      { node: 'worker-1', fenceId: expect.any(String), nonce: expect.any(String) },
    ]);
  });
});
