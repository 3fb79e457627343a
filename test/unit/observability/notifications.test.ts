/**
 * The notifier as the fence hears it: which events become notifications, in which body, how repeats are
 * suppressed, how the queue stays bounded, and that a receiver that is down never delays or fails a fence.
 * Fences run on the world's virtual clock; the notifier's own waits on fake timers.
 */
import type { KnownBlock } from '@slack/types';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import { loadConfig } from '../../../functions/config.js';
import type { FenceEvent } from '../../../functions/fence/observer.js';
import { createLogger } from '../../../functions/log.js';
import type { Notification } from '../../../functions/observability/notification.js';
import { slackMessage } from '../../../functions/observability/notification-bodies.js';
import { createNotifier, NO_NOTIFIER, QUEUE_LIMIT } from '../../../functions/observability/notifications.js';
import { slackProblems } from '../../support/notifications.js';
import { type ScriptedAnswer, scriptedFetch } from '../../support/scripted-fetch.js';
import { alertPayload, createWorld, kubeletLease, makeNode, TOKEN, type World } from '../../support/world.js';

const RECEIVER = 'https://hooks.example.com/services/T000/B000/XXXXSECRETPATH';
const SECRET = 'notify-secret-0123456789abcdef';

/** A notifier configured from `env` (as `loadConfig` reads it), sending to a scripted receiver. */
function notifierFor(
  env: Record<string, string>,
  script: ScriptedAnswer[] = [200],
  now: () => number = Date.now,
) {
  const config = loadConfig({ ALERTFENCE_TOKENS: TOKEN, ALERTFENCE_NOTIFY_URL: RECEIVER, ...env });
  const receiver = scriptedFetch(script);
  const logs: string[] = [];
  const notifier = createNotifier({
    settings: config.notify,
    clusterName: config.clusterName,
    log: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
    fetch: receiver.fetch,
    now,
  });
  const bodies = () => receiver.sent.map((request) => JSON.parse(request.body) as Record<string, unknown>);
  return { notifier, receiver, logs, bodies };
}

/** Turns of the event loop, for the background sender to send what it can. */
async function turns(count = 20): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A world whose fence is heard by `observer` too; worker-1 is dead. */
function worldWith(notifier: { notice: (event: FenceEvent) => void }, env: Record<string, string> = {}) {
  return createWorld({ observer: notifier, env });
}

async function fenceWorker1(world: World): Promise<void> {
  await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
  await world.drain();
}

/** A cloud that refuses every read after the start's, with an error a retry cannot fix. */
const cloudRefusesAfterStart = () => {
  let reads = 0;
  return {
    onCall: (call: { method: string }) => {
      if (call.method === 'describe' && ++reads > 1) {
        throw new DriverError('UnauthorizedOperation: ec2:DescribeInstances', { retryable: false });
      }
    },
  };
};

const refusal = (node: string, reason: string, dryRun = false): FenceEvent => ({
  kind: 'decided',
  node,
  outcome: 'refused',
  reason,
  message: `${reason} says no`,
  trigger: 'alert',
  dryRun,
});

describe('the notifier', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('should send the start and the success of a whole fence, in order, as versioned JSON', async () => {
    // Prepare
    let world: World | undefined;
    const { notifier, bodies, receiver } = notifierFor(
      { ALERTFENCE_CLUSTER_NAME: 'prod-eu-1' },
      [200],
      () => world?.clock.now() ?? 0,
    );
    world = worldWith(notifier);

    // Act
    await fenceWorker1(world);
    await notifier.flush(world.clock.now() + 1_000);

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(receiver.sent.map((request) => request.headers['x-alertfence-event'])).toEqual([
      'fence.started',
      'fence.succeeded',
    ]);
    const [started, succeeded] = bodies();
    expect(started).toEqual({
      version: '1',
      event: 'fence.started',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      at: '2026-11-22T10:00:00.000Z',
      cluster: 'prod-eu-1',
      node: 'worker-1',
      fence: journal?.id,
      trigger: { kind: 'alert', reason: expect.any(String), alertname: 'KubeNodeNotReady', forced: false },
      phase: 'Lock',
      outcome: 'accepted',
      reason: 'FenceStarted',
      message: expect.stringMatching(
        /^fencing worker-1 \(KubeNodeNotReady firing since .*\): power off, release, power on$/,
      ),
      startedAt: journal?.startedAt,
      dryRun: false,
    });
    expect(succeeded).toMatchObject({
      event: 'fence.succeeded',
      node: 'worker-1',
      fence: journal?.id,
      phase: 'Done',
      outcome: 'succeeded',
      reason: 'FenceSucceeded',
      startedAt: journal?.startedAt,
      finishedAt: journal?.finishedAt,
      volumesDetached: ['vol-worker-1'],
      dryRun: false,
    });
    expect(succeeded?.durationMs).toBe(
      Date.parse(journal?.finishedAt ?? '') - Date.parse(journal?.startedAt ?? ''),
    );
    expect(succeeded?.message).toMatch(
      /^fenced worker-1 in \d+s: powered off, pods and volumes released \(1 detached at the cloud\), Node deleted/,
    );
    expect(notifier.stats()).toMatchObject({ queued: 2, sent: 2, failed: 0, dropped: 0, pending: 0 });
  });

  it('should send each receiver its own format: JSON to one, Slack to the other', async () => {
    // Prepare
    const { notifier, receiver } = notifierFor({
      ALERTFENCE_NOTIFY_URL: 'https://receiver.example/a,https://hooks.slack.example/b',
      ALERTFENCE_NOTIFY_FORMAT: 'json,slack',
    });
    const world = worldWith(notifier);

    // Act
    await fenceWorker1(world);
    await notifier.flush(Date.now() + 1_000);

    // Assess
    const byUrl = (url: string) =>
      receiver.sent.filter((request) => request.url === url).map((request) => JSON.parse(request.body));
    expect(byUrl('https://receiver.example/a').map((body) => body.event)).toEqual([
      'fence.started',
      'fence.succeeded',
    ]);
    const slack = byUrl('https://hooks.slack.example/b');
    expect(slack).toHaveLength(2);
    for (const message of slack) expect(slackProblems(message)).toEqual([]);
    expect(slack[1].text).toMatch(/^:white_check_mark: alertfence: fenced worker-1 in/);
  });

  it('should send a storm-guard refusal once per node and reason within the repeat interval, and again after', async () => {
    // Prepare: two of three nodes dead is over the world's ALERTFENCE_MAX_UNHEALTHY (50 %).
    let world: World | undefined;
    const { notifier, bodies } = notifierFor(
      { ALERTFENCE_NOTIFY_REPEAT_INTERVAL: '1h' },
      [200],
      () => world?.clock.now() ?? 0,
    );
    world = createWorld({
      observer: notifier,
      nodes: [{ name: 'worker-1', ready: false }, { name: 'worker-2', ready: false }, { name: 'worker-3' }],
    });
    const alerts = alertPayload([{ node: 'worker-1' }, { node: 'worker-2' }]);

    // Act: Alertmanager repeats the group every 5 minutes for 55 minutes, then once more after the hour.
    for (let repeat = 0; repeat < 12; repeat++) {
      await world.post('/v1/alerts', alerts);
      world.clock.advance(5 * 60_000);
    }
    await world.post('/v1/alerts', alerts);
    await notifier.flush(world.clock.now() + 1_000);

    // Assess
    expect(bodies().map((body) => [body.event, body.node, body.reason])).toEqual([
      ['fence.refused.storm-guard', 'worker-1', 'StormGuard'],
      ['fence.refused.storm-guard', 'worker-2', 'StormGuard'],
      ['fence.refused.storm-guard', 'worker-1', 'StormGuard'],
      ['fence.refused.storm-guard', 'worker-2', 'StormGuard'],
    ]);
    expect(bodies()[0]).toMatchObject({
      outcome: 'refused',
      trigger: { kind: 'alert' },
      message: expect.stringMatching(/^refused to fence worker-1: 2 of 3 nodes in scope are unhealthy/),
    });
    expect(bodies()[0]).not.toHaveProperty('fence');
    expect(notifier.stats().suppressed).toBe(22);
  });

  it.each([
    ['FailureDomainStormGuard', 'fence.refused.storm-guard'],
    ['FenceCapReached', 'fence.refused.cap'],
  ])('should send a %s refusal as %s', async (reason, event) => {
    // Prepare
    const { notifier, bodies } = notifierFor({});

    // Act
    notifier.notice(refusal('worker-7', reason));
    await notifier.flush(Date.now() + 1_000);

    // Assess
    expect(bodies()).toEqual([
      expect.objectContaining({ event, node: 'worker-7', reason, outcome: 'refused' }),
    ]);
  });

  it('should send nothing for dry-run decisions, phases, or refusals that are not the storm guard or the cap', async () => {
    // Prepare: a disarmed deployment: every decision is a dry run.
    const { notifier, receiver } = notifierFor({});
    const world = createWorld({
      observer: notifier,
      env: { ALERTFENCE_DRY_RUN: 'true' },
      nodes: [{ name: 'worker-1', ready: false }, { name: 'worker-2', ready: false }, { name: 'worker-3' }],
    });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }, { node: 'worker-3' }]));
    for (const reason of ['NodeReady', 'Cooldown', 'TooManyConcurrentFences', 'Paused', 'NotInScope']) {
      notifier.notice(refusal('worker-9', reason));
    }
    notifier.notice(refusal('worker-9', 'StormGuard', true));
    await turns();

    // Assess: worker-1 refused by the storm guard, worker-3 as Ready (a Ready node is answered before counting).
    expect(world.events.map((event) => event.kind === 'decided' && [event.reason, event.dryRun])).toEqual([
      ['StormGuard', true],
      ['NodeReady', true],
    ]);
    expect(receiver.sent).toEqual([]);
    expect(notifier.stats().queued).toBe(0);
  });

  it('should tell a fence that failed for good once, as fence.failed, and not again as waiting for an operator', async () => {
    // Prepare
    const { notifier, bodies } = notifierFor({});
    const world = createWorld({ observer: notifier, driverOptions: cloudRefusesAfterStart() });

    // Act
    await fenceWorker1(world);
    await notifier.flush(Date.now() + 1_000);

    // Assess
    expect(world.events.map((event) => event.kind)).toContain('waiting-for-operator');
    expect(bodies().map((body) => body.event)).toEqual(['fence.started', 'fence.failed']);
    expect(bodies()[1]).toMatchObject({
      outcome: 'failed',
      reason: 'FencePhaseFailed',
      error: { phase: 'PowerOff', message: expect.stringContaining('UnauthorizedOperation') },
      message: expect.stringMatching(/failed at PowerOff .*it waits for an operator$/),
    });
  });

  it('should say why a fence was aborted, in the JSON and the Slack body', async () => {
    // Prepare: the alert is accepted, then the kubelet is back before the power-off.
    const { notifier, bodies } = notifierFor({});
    const world = createWorld({ observer: notifier });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.kube.putNode(makeNode({ name: 'worker-1', ready: true }, world.clock.now()));
    world.kube.putLease('kube-node-lease', kubeletLease('worker-1', world.clock.now()));

    // Act
    await world.drain();
    await notifier.flush(Date.now() + 1_000);
    const aborted = bodies()[1] as unknown as Notification;
    const slack = JSON.stringify(slackMessage(aborted));

    // Assess
    expect(bodies().map((body) => body.event)).toEqual(['fence.started', 'fence.aborted']);
    expect(aborted).toMatchObject({
      outcome: 'aborted',
      reason: 'FenceAborted',
      abort: { phase: 'Mark', reason: 'NodeReady', message: expect.stringContaining('Ready') },
      message: expect.stringMatching(
        /^the fence of worker-1 was aborted at Mark, before any power-off: NodeReady: /,
      ),
    });
    expect(slack).toContain('*Why*\\nNodeReady: ');
    expect(slackProblems(slackMessage(aborted))).toEqual([]);
  });

  it('should say why a fence failed in the Slack body', async () => {
    // Prepare
    const { notifier, bodies } = notifierFor({});
    const world = createWorld({ observer: notifier, driverOptions: cloudRefusesAfterStart() });
    await fenceWorker1(world);
    await notifier.flush(Date.now() + 1_000);

    // Act
    const slack = JSON.stringify(slackMessage(bodies()[1] as unknown as Notification));

    // Assess
    expect(slack).toContain('*Why*\\nPowerOff: DriverError: UnauthorizedOperation: ec2:DescribeInstances');
  });

  it('should send the wait for an operator when fence.failed is not among the events', async () => {
    // Prepare
    const { notifier, bodies } = notifierFor({ ALERTFENCE_NOTIFY_EVENTS: 'waiting-for-operator' });
    const world = createWorld({ observer: notifier, driverOptions: cloudRefusesAfterStart() });

    // Act
    await fenceWorker1(world);
    await notifier.flush(Date.now() + 1_000);

    // Assess
    expect(bodies()).toEqual([
      expect.objectContaining({
        event: 'fence.waiting-for-operator',
        node: 'worker-1',
        outcome: 'waiting-for-operator',
        reason: 'NeedsOperator',
      }),
    ]);
  });

  it('should send a stale fence found by the tick as waiting for an operator', async () => {
    // Prepare: the fence stops before power-off and is forgotten for longer than ALERTFENCE_RESUME_WITHIN.
    let reads = 0;
    const { notifier, bodies } = notifierFor({ ALERTFENCE_NOTIFY_EVENTS: 'fence.waiting-for-operator' });
    const world = createWorld({
      observer: notifier,
      driverOptions: {
        onCall: (call) => {
          if (call.method === 'describe' && ++reads > 1)
            throw new DriverError('throttled', { retryable: true });
        },
      },
    });
    await fenceWorker1(world);
    world.continuation.handoffs.length = 0;
    world.clock.advance(world.config.resumeWithinMs + 60_000);

    // Act
    await world.service.tick({ requestId: 'tick-1', deadline: world.clock.now() + 60_000 });
    await world.service.tick({ requestId: 'tick-2', deadline: world.clock.now() + 60_000 });
    await notifier.flush(Date.now() + 1_000);

    // Assess
    expect(bodies()).toEqual([
      expect.objectContaining({
        event: 'fence.waiting-for-operator',
        node: 'worker-1',
        reason: 'StaleFence',
      }),
    ]);
  });

  it('should send only the events ALERTFENCE_NOTIFY_EVENTS names', async () => {
    // Prepare
    const { notifier, bodies } = notifierFor({ ALERTFENCE_NOTIFY_EVENTS: 'succeeded,refused.cap' });
    const world = worldWith(notifier);

    // Act
    await fenceWorker1(world);
    notifier.notice(refusal('worker-2', 'StormGuard'));
    notifier.notice(refusal('worker-3', 'FenceCapReached'));
    await notifier.flush(Date.now() + 1_000);

    // Assess
    expect(bodies().map((body) => `${body.event} ${body.node}`)).toEqual([
      'fence.succeeded worker-1',
      'fence.refused.cap worker-3',
    ]);
  });

  it('should queue in notice() and send only on a later turn of the event loop', async () => {
    // Prepare
    const { notifier, receiver } = notifierFor({});

    // Act
    notifier.notice(refusal('worker-1', 'StormGuard'));
    const sentDuringNotice = receiver.sent.length;
    await turns();

    // Assess
    expect(sentDuringNotice).toBe(0);
    expect(receiver.sent).toHaveLength(1);
  });

  it.each(Array.from({ length: 40 }, (_, depth) => depth))(
    'should send a notification queued %i microtasks after its receiver answered the one before',
    async (depth) => {
      // Prepare: one notification sent and answered; the sender winds down over a few microtasks, while a
      // fence (going on in promise continuations) may queue the next one.
      const receiver = scriptedFetch([200]);
      let answered: () => void = () => {};
      const answer = new Promise<void>((resolve) => {
        answered = resolve;
      });
      const notifier = createNotifier({
        settings: loadConfig({ ALERTFENCE_TOKENS: TOKEN, ALERTFENCE_NOTIFY_URL: RECEIVER }).notify,
        log: createLogger({ write: () => {} }),
        fetch: async (input, init) => {
          const response = await receiver.fetch(input, init);
          answered();
          return response;
        },
      });
      notifier.notice(refusal('worker-1', 'StormGuard'));
      await answer;

      // Act
      let later = Promise.resolve();
      for (let i = 0; i < depth; i++) later = later.then(() => undefined);
      await later.then(() => notifier.notice(refusal('worker-2', 'StormGuard')));
      const flushed = await notifier.flush(Date.now() + 1_000);

      // Assess
      expect(flushed).toEqual({ pending: 0 });
      expect(notifier.stats()).toMatchObject({ queued: 2, sent: 2 });
    },
  );

  it('should keep at most QUEUE_LIMIT notifications per receiver, dropping the oldest with a warning', async () => {
    // Prepare: a receiver that never answers holds the queue.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { notifier, receiver, logs } = notifierFor({}, ['hang']);

    // Act
    for (let n = 1; n <= QUEUE_LIMIT + 5; n++) notifier.notice(refusal(`worker-${n}`, 'StormGuard'));
    await turns();

    // Assess: the five oldest were dropped; the sixth is the one being sent.
    expect(notifier.stats()).toMatchObject({ queued: QUEUE_LIMIT + 5, dropped: 5, pending: QUEUE_LIMIT });
    expect(JSON.parse(receiver.sent[0]?.body ?? '{}').node).toBe('worker-6');
    const warnings = logs.filter((line) => line.includes('notification queue full'));
    expect(warnings).toHaveLength(5);
    expect(JSON.parse(warnings[0] ?? '{}')).toMatchObject({
      level: 'warn',
      node: 'worker-1',
      destination: 0,
    });
  });

  it('should resolve flush at its deadline when a receiver hangs, with what is still pending', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { notifier } = notifierFor({}, ['hang']);
    notifier.notice(refusal('worker-1', 'StormGuard'));
    notifier.notice(refusal('worker-2', 'StormGuard'));
    const started = Date.now();
    let flushed: { pending: number } | undefined;

    // Act
    void notifier.flush(started + 2_000).then((result) => {
      flushed = result;
    });
    await vi.advanceTimersByTimeAsync(1_999);
    const beforeDeadline = flushed;
    await vi.advanceTimersByTimeAsync(1);

    // Assess
    expect(beforeDeadline).toBeUndefined();
    expect(flushed).toEqual({ pending: 2 });
  });

  it('should never log the receiver URL or the secret, even when sending fails', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { notifier, logs } = notifierFor({ ALERTFENCE_NOTIFY_SECRET: SECRET }, [
      404,
      'refused',
      'refused',
      'refused',
    ]);

    // Act
    notifier.notice(refusal('worker-1', 'StormGuard'));
    notifier.notice(refusal('worker-2', 'StormGuard'));
    await turns();
    await vi.advanceTimersByTimeAsync(20_000);

    // Assess
    expect(notifier.stats()).toMatchObject({ failed: 2, pending: 0 });
    const failures = logs.filter((line) => line.includes('notification not delivered'));
    expect(failures.map((line) => JSON.parse(line).reason)).toEqual([
      expect.stringMatching(/^HTTP 404/),
      'ECONNREFUSED',
    ]);
    expect(logs.join('\n')).not.toMatch(/SECRETPATH|hooks\.example\.com|notify-secret/);
  });
});

describe('a receiver that is down', () => {
  it.each([
    ['never answers', 'hang' as const],
    ['refuses connections', 'refused' as const],
    ['answers 500', 500],
  ])('should neither delay nor fail a fence when it %s', async (_, answer) => {
    // Prepare: the same fence without notifications, for its duration on the virtual clock.
    const baseline = createWorld();
    const baselineStart = baseline.clock.now();
    await fenceWorker1(baseline);
    const baselineMs = baseline.clock.now() - baselineStart;
    const { notifier, receiver } = notifierFor({}, [answer]);
    const world = worldWith(notifier);
    const start = world.clock.now();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess: the same answer, the same fence, in the same virtual time; the notifications are still trying.
    expect(response.status).toBe(202);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(world.clock.now() - start).toBe(baselineMs);
    expect(world.events).toHaveLength(baseline.events.length);
    await turns();
    expect(receiver.sent.length).toBeGreaterThan(0);
    expect(notifier.stats().pending).toBeGreaterThan(0);
  });

  it('should not disturb a fence when the notifier itself throws', async () => {
    // Prepare: a notification whose body cannot be built (a clock that is not a time).
    const { notifier } = notifierFor({}, [200], () => Number.NaN);
    const world = worldWith(notifier);

    // Act
    await fenceWorker1(world);

    // Assess
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(notifier.stats().queued).toBe(0);
  });
});

describe('the notifications when none are configured', () => {
  it('should be the notifier that does nothing', async () => {
    // Prepare
    const config = loadConfig({ ALERTFENCE_TOKENS: TOKEN });

    // Act
    const notifier = createNotifier({ settings: config.notify, log: createLogger({ write: () => {} }) });

    // Assess
    expect(notifier).toBe(NO_NOTIFIER);
    expect(await notifier.flush(Date.now())).toEqual({ pending: 0 });
  });
});

describe('the Slack body', () => {
  const base: Notification = {
    version: '1',
    event: 'fence.failed',
    id: 'id-1',
    at: '2026-11-22T10:00:00.000Z',
    cluster: 'prod <eu> & co',
    node: 'worker-1',
    fence: 'f-1',
    trigger: { kind: 'manual', reason: 'ping @channel <!here>', forced: true },
    phase: 'PowerOff',
    outcome: 'failed',
    reason: 'FencePhaseFailed',
    message: 'the fence of worker-1 failed: <!channel> @all & co',
    durationMs: 192_000,
    dryRun: false,
  };

  it('should be what Slack accepts: text, and Block Kit sections in mrkdwn', () => {
    // Act
    const message = slackMessage(base);

    // Assess: the blocks are Block Kit's own types (checked by tsc), within its limits (checked here).
    const blocks: KnownBlock[] = message.blocks;
    expect(blocks.map((block) => block.type)).toEqual(['section', 'section', 'context']);
    expect(slackProblems(message)).toEqual([]);
    expect(message.text).toBe(
      ':x: alertfence (prod &lt;eu&gt; &amp; co): the fence of worker-1 failed: &lt;!channel&gt; @\u2060all &amp; co',
    );
    expect(JSON.stringify(message.blocks[1])).toContain('*Duration*\\n3m12s');
    expect(JSON.stringify(message.blocks[1])).toContain('*Trigger*\\nmanual (forced)');
  });

  it('should cut a message past Block Kit limits instead of being refused', () => {
    // Prepare
    const long = { ...base, message: 'x'.repeat(10_000) };

    // Act
    const message = slackMessage(long);

    // Assess
    expect(slackProblems(message)).toEqual([]);
    expect(message.text.length).toBeLessThanOrEqual(3000);
    expect(message.text.endsWith('…')).toBe(true);
  });
});
