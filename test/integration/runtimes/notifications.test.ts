/**
 * Notifications over real HTTP: the Node runtime (its own wiring: `buildNodeRuntime`, `serveApp`) fences a dead
 * node of an in-memory cluster on the simulated cloud, and local receivers on 127.0.0.1 record what they get —
 * one that answers 200, one that answers 500 first, one that never answers. The Lambda handler is checked for
 * sending before its invocation returns. The signature is checked with the openssl recipe of the docs, as an
 * operator would run it.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LambdaContext } from 'hono/aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../functions/log.js';
import { verifySignature } from '../../../functions/observability/notification-signature.js';
import { createLambdaHandler } from '../../../functions/runtimes/lambda/handler.js';
import { runCommand, tempDir, waitUntil } from '../../peers/process.js';
import { JOURNAL_KEY, RecordingContinuation } from '../../support/fence-wiring.js';
import { slackProblems } from '../../support/notifications.js';
import {
  type NotifyReceiver,
  type ReceiverAnswer,
  startNotifyReceiver,
} from '../../support/notify-receiver.js';
import { alertPayload } from '../../support/world.js';
import { seedFakeCluster } from './fixtures/fake-cluster.js';
import { type AppServer, startAppServer } from './support/app-server.js';
import { TOKEN } from './support/env.js';
import { functionUrlEvent } from './support/lambda-events.js';

const SECRET = 'notify-secret-0123456789abcdef0123';
const ROOT = join(import.meta.dirname, '../../..');

/** The body of docs/notifications.md's ```` ```sh verify-signature ```` block. */
function verifyRecipe(): string {
  const docs = readFileSync(join(ROOT, 'docs/notifications.md'), 'utf8');
  const body = /```sh verify-signature\n([\s\S]*?)```/.exec(docs)?.[1];
  if (body === undefined) throw new Error('docs/notifications.md has no ```sh verify-signature block');
  return body;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(answer?: ReceiverAnswer): Promise<NotifyReceiver> {
  const started = await startNotifyReceiver(answer);
  cleanups.push(() => started.close());
  return started;
}

/** The Node runtime, armed, on a cluster where worker-1 is dead; power transitions take 200 ms. */
async function server(env: Record<string, string>): Promise<AppServer> {
  const { kube, driver } = seedFakeCluster(200);
  const app = await startAppServer({
    env: {
      ALERTFENCE_TOKENS: TOKEN,
      ALERTFENCE_DRY_RUN: 'false',
      ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
      ALERTFENCE_DRIVERS: 'simulated',
      ALERTFENCE_CLUSTER_NAME: 'integration',
      ALERTFENCE_NOTIFY_SECRET: SECRET,
      ...env,
    },
    kube,
    drivers: [driver],
  });
  // Stopping twice is stopping once (the served app's close returns the same promise).
  cleanups.push(() => app.stop(1_000));
  return app;
}

async function alert(app: AppServer, node = 'worker-1'): Promise<Response> {
  return fetch(`${app.url}/v1/alerts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(alertPayload([{ node }])),
  });
}

async function journalOf(app: AppServer, node = 'worker-1') {
  const response = await fetch(`${app.url}/v1/nodes/${node}/fence`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return (await response.json()) as { id: string; status: string; startedAt: string; finishedAt?: string };
}

async function fenceDone(app: AppServer) {
  return waitUntil(
    async () => {
      const journal = await journalOf(app);
      return journal.status === 'succeeded' && journal;
    },
    { timeoutMs: 30_000, intervalMs: 50, what: "worker-1's fence to succeed" },
  );
}

describe('notifications from the Node runtime to local receivers', () => {
  it('should send started and succeeded of a whole fence, signed, as JSON to one and as Slack to the other', async () => {
    // Prepare
    const json = await receiver();
    const slack = await receiver();
    const app = await server({
      ALERTFENCE_NOTIFY_URL: `${json.url},${slack.url}`,
      ALERTFENCE_NOTIFY_FORMAT: 'json,slack',
    });

    // Act
    const answer = await alert(app);
    const journal = await fenceDone(app);
    await json.waitFor(2);
    await slack.waitFor(2);

    // Assess
    expect(answer.status).toBe(202);
    expect(json.bodies().map((body) => [body.event, body.node, body.fence, body.cluster])).toEqual([
      ['fence.started', 'worker-1', journal.id, 'integration'],
      ['fence.succeeded', 'worker-1', journal.id, 'integration'],
    ]);
    expect(json.bodies()[1]).toMatchObject({
      version: '1',
      outcome: 'succeeded',
      startedAt: journal.startedAt,
      finishedAt: journal.finishedAt,
      volumesDetached: ['vol-worker-1'],
    });
    for (const request of [...json.received, ...slack.received]) {
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toBe('application/json');
      const header = request.headers['x-alertfence-signature'] as string;
      expect(verifySignature(SECRET, request.body, header, Date.now()), header).toBe(true);
    }
    // The same notification carries the same id to every receiver.
    expect(slack.received.map((request) => request.headers['x-alertfence-delivery'])).toEqual(
      json.bodies().map((body) => body.id),
    );
    for (const message of slack.bodies()) expect(slackProblems(message)).toEqual([]);
    expect(slack.bodies()[1]?.text).toMatch(
      /^:white_check_mark: alertfence \(integration\): fenced worker-1 in/,
    );
    expect(JSON.stringify(app.logs)).not.toContain('XXXXSECRETPATH');
  });

  it('should verify with the openssl recipe of docs/notifications.md, and refuse a changed body', async () => {
    // Prepare
    const json = await receiver();
    const app = await server({ ALERTFENCE_NOTIFY_URL: json.url, ALERTFENCE_NOTIFY_EVENTS: 'started' });
    await alert(app);
    await json.waitFor(1);
    const request = json.received[0];
    const dir = await tempDir('alertfence-notify-');
    cleanups.push(() => dir.remove());
    const recipe = verifyRecipe();
    const check = async (body: string) => {
      await writeFile(join(dir.path, 'body.json'), body);
      const run = await runCommand('bash', ['-c', recipe], {
        cwd: dir.path,
        env: { SIG: String(request?.headers['x-alertfence-signature']), SECRET },
      });
      return run.stdout.trim();
    };

    // Act
    const original = await check(request?.body ?? '');
    const changed = await check((request?.body ?? '').replace('worker-1', 'worker-2'));

    // Assess
    expect(original).toBe('valid');
    expect(changed).toBe('INVALID');
  });

  it('should deliver to a receiver that answers 500 first, with the same delivery id', async () => {
    // Prepare
    const flaky = await receiver((index) => (index === 0 ? 500 : 200));
    const app = await server({ ALERTFENCE_NOTIFY_URL: flaky.url });

    // Act
    await alert(app);
    await fenceDone(app);
    await flaky.waitFor(3);

    // Assess: the start twice (a 500, then a 200, 1 s apart), then the success.
    const events = flaky.received.map((request) => request.headers['x-alertfence-event']);
    expect(events).toEqual(['fence.started', 'fence.started', 'fence.succeeded']);
    const [first, retry] = flaky.received;
    expect(retry?.headers['x-alertfence-delivery']).toBe(first?.headers['x-alertfence-delivery']);
    expect((retry?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(900);
  });

  it('should send what is still queued before the server stops', async () => {
    // Prepare: a slow receiver (1 s an answer) still holds the success when the fence is done.
    const slow = await receiver(() => ({ status: 200, afterMs: 1_000 }));
    const app = await server({ ALERTFENCE_NOTIFY_URL: slow.url });
    await alert(app);
    await fenceDone(app);
    const queuedAtStop = app.runtime.assembly.notifier.stats().pending;

    // Act
    await app.stop(10_000);

    // Assess
    expect(queuedAtStop).toBeGreaterThan(0);
    expect(slow.bodies().map((body) => body.event)).toEqual(['fence.started', 'fence.succeeded']);
    expect(app.runtime.assembly.notifier.stats()).toMatchObject({ sent: 2, pending: 0 });
  });

  it('should answer the alert and finish the fence while a receiver never answers, and stop within the grace', async () => {
    // Prepare: a receiver that never answers beside one that does.
    const hanging = await receiver(() => 'hang');
    const healthy = await receiver();
    const app = await server({
      ALERTFENCE_NOTIFY_URL: `${hanging.url},${healthy.url}`,
      ALERTFENCE_NOTIFY_TIMEOUT: '5s',
    });

    // Act
    const asked = Date.now();
    const answer = await alert(app);
    const answeredMs = Date.now() - asked;
    const journal = await fenceDone(app);
    await healthy.waitFor(2);
    const stopping = Date.now();
    await app.stop(1_000);
    const stopMs = Date.now() - stopping;

    // Assess: the webhook answered at once; the fence took as long as the simulated cloud makes it (two power
    // transitions of 200 ms and a detach), not the receiver's 5 s timeouts; the healthy receiver was not held
    // back; shutdown waited for the hanging receiver only until its flush deadline.
    expect(answer.status).toBe(202);
    expect(answeredMs).toBeLessThan(1_000);
    const fenceMs = Date.parse(journal.finishedAt ?? '') - Date.parse(journal.startedAt);
    expect(fenceMs).toBeLessThan(5_000);
    expect(healthy.bodies().map((body) => body.event)).toEqual(['fence.started', 'fence.succeeded']);
    expect(hanging.received.length).toBeGreaterThanOrEqual(1);
    expect(stopMs).toBeLessThan(4_000);
    expect(app.runtime.assembly.notifier.stats()).toMatchObject({ sent: 2, pending: 2 });
  });
});

describe('notifications from the Lambda handler', () => {
  it('should send the notifications of each invocation, the request and the worker, before it returns', async () => {
    // Prepare
    const json = await receiver();
    const { kube, driver } = seedFakeCluster(200);
    const continuation = new RecordingContinuation();
    const handler = createLambdaHandler(
      {
        ALERTFENCE_TOKENS: TOKEN,
        ALERTFENCE_DRY_RUN: 'false',
        ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
        ALERTFENCE_DRIVERS: 'simulated',
        ALERTFENCE_NOTIFY_URL: json.url,
      },
      {
        kube,
        drivers: [driver],
        continuation,
        log: createLogger({ write: () => {} }),
      },
    );
    const context = {
      awsRequestId: 'notify-1',
      getRemainingTimeInMillis: () => 30_000,
    } as unknown as LambdaContext;

    // Act: the Function URL request that starts the fence, then the worker invocation that finishes it.
    const answer = (await handler(
      functionUrlEvent('POST', '/v1/alerts', { body: alertPayload([{ node: 'worker-1' }]), token: TOKEN }),
      context,
    )) as { statusCode: number };
    const afterRequest = json.bodies().map((body) => body.event);
    const worked = (await handler(
      { alertfence: 'continue', handoff: continuation.handoffs[0] },
      context,
    )) as {
      status: string;
    };
    const afterWorker = json.bodies().map((body) => body.event);

    // Assess: each already at the receiver when its handler returned (Lambda would freeze the environment next).
    expect(answer.statusCode).toBe(202);
    expect(afterRequest).toEqual(['fence.started']);
    expect(worked.status).toBe('succeeded');
    expect(afterWorker).toEqual(['fence.started', 'fence.succeeded']);
  });
});
