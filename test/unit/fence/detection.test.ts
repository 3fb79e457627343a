/**
 * Detection without alerts: the scheduled tick fences a node NotReady for longer than ALERTFENCE_DETECT_AFTER
 * that no alert named (the monitoring stack died with it), under every guard an alert's fence runs.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../functions/config.js';
import { alertPayload, createWorld, putNodes, TOKEN, type World } from '../../support/world.js';

const tick = (world: World) =>
  world.service.tick({ requestId: 'tick', deadline: world.clock.now() + 60_000 });

async function tickAndDrain(world: World) {
  const { answer, handoffs } = await tick(world);
  await world.continuation.continue(handoffs);
  await world.drain();
  return answer;
}

describe('detection without alerts', () => {
  it('should fence a node NotReady for longer than ALERTFENCE_DETECT_AFTER, with no alert', async () => {
    // Prepare: worker-1 has been NotReady for an hour; no alert ever came.
    const world = createWorld();

    // Act
    const answer = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([expect.objectContaining({ node: 'worker-1', outcome: 'accepted' })]);
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.trigger).toMatchObject({ kind: 'detected', force: false });
    expect(journal?.trigger.reason).toContain('Ready=Unknown for 60m');
  });

  it('should leave a node NotReady for less than the threshold to the alert', async () => {
    // Prepare
    const world = createWorld({
      nodes: [{ name: 'worker-1', ready: false, downFor: 10 * 60_000 }, { name: 'worker-2' }],
    });

    // Act
    const answer = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([]);
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toEqual([]);
  });

  it('should detect nothing when ALERTFENCE_DETECT_AFTER is off', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_DETECT_AFTER: 'off' } });

    // Act
    const answer = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([]);
    expect(await world.service.journal('worker-1')).toBeUndefined();
  });

  it('should not look at nodes out of scope, and hold every guard for the rest (storm, pause, disarmed)', async () => {
    // Prepare: two of three nodes dead for an hour (over the storm limit), a third excluded.
    const storm = createWorld({
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3' },
        { name: 'worker-4', ready: false, labels: { 'alertfence.io/exclude': 'true' } },
      ],
      env: { ALERTFENCE_MAX_UNHEALTHY: '1' },
    });
    const paused = createWorld();
    await paused.service.pause({ reason: 'upgrade', by: 'alice' }, { deadline: paused.clock.now() + 1_000 });
    const disarmed = createWorld({ env: { ALERTFENCE_DRY_RUN: 'true' } });

    // Act
    const stormAnswer = await tickAndDrain(storm);
    const pausedAnswer = await tickAndDrain(paused);
    const disarmedAnswer = await tickAndDrain(disarmed);

    // Assess
    expect(stormAnswer.map((result) => [result.node, result.reason])).toEqual([
      ['worker-1', 'StormGuard'],
      ['worker-2', 'StormGuard'],
    ]);
    expect(pausedAnswer).toEqual([expect.objectContaining({ node: 'worker-1', reason: 'Paused' })]);
    expect(disarmedAnswer).toEqual([expect.objectContaining({ node: 'worker-1', outcome: 'planned' })]);
    for (const world of [storm, paused, disarmed]) {
      expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toEqual([]);
    }
  });

  it('should resume an active fence once, never start a second one of the same node', async () => {
    // Prepare: a fence of worker-1 whose continuation was lost.
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.continuation.handoffs.length = 0;
    world.clock.advance(world.config.lockDurationMs + 1_000);
    const first = (await world.service.journal('worker-1'))?.id;

    // Act
    const answer = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([expect.objectContaining({ node: 'worker-1', reason: 'Resume' })]);
    const journal = await world.service.journal('worker-1');
    expect(journal?.id).toBe(first);
    expect(journal?.status).toBe('succeeded');
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
  });

  it('should skip a node fenced within ALERTFENCE_COOLDOWN that is still NotReady', async () => {
    // Prepare: worker-1 was fenced; its Node came back NotReady (a machine that does not boot).
    const world = createWorld({ env: { ALERTFENCE_POWER_ON: 'off' } });
    await tickAndDrain(world);
    putNodes(world.kube, [{ name: 'worker-1', ready: false }], world.clock.now());

    // Act
    const answer = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([expect.objectContaining({ node: 'worker-1', reason: 'Cooldown' })]);
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
  });
});

describe('ALERTFENCE_DETECT_AFTER', () => {
  it.each([
    ['20m', 20 * 60_000],
    ['1h', 3_600_000],
    ['off', 0],
    ['0', 0],
  ])('should read %s', (value, expected) => {
    expect(loadConfig({ ALERTFENCE_TOKENS: TOKEN, ALERTFENCE_DETECT_AFTER: value }).detectAfterMs).toBe(
      expected,
    );
  });

  it.each(['30s', 'soon', '-5m'])('should refuse %s', (value) => {
    expect(() => loadConfig({ ALERTFENCE_TOKENS: TOKEN, ALERTFENCE_DETECT_AFTER: value })).toThrow(
      ConfigError,
    );
  });

  it('should default to 20m', () => {
    expect(loadConfig({ ALERTFENCE_TOKENS: TOKEN }).detectAfterMs).toBe(20 * 60_000);
  });
});
