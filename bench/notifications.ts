import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../functions/config.js';
import type { FenceEvent } from '../functions/fence/observer.js';
import { createLogger } from '../functions/log.js';
import { createNotifier } from '../functions/observability/notifications.js';
import { alertPayload, createWorld } from '../test/support/world.js';
import { percentile, round } from './stats.js';

const TOKEN = 'bench-token-0123456789abcdef';
const SECRET = 'bench-notify-secret-0123456789abcdef';

/** A receiver on 127.0.0.1 that answers every POST 200 once it has read the body. */
async function startReceiver(): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    count: () => received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The events of one real fence (started, phases, finished), to replay into notifiers. */
async function fenceEvents(): Promise<FenceEvent[]> {
  const world = createWorld();
  await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
  await world.drain();
  return world.events;
}

function notifierTo(
  urls: string[],
  format: 'json' | 'slack',
  options: { events?: string; fetch?: typeof fetch } = {},
) {
  const config = loadConfig({
    ALERTFENCE_TOKENS: TOKEN,
    ALERTFENCE_NOTIFY_URL: urls.join(','),
    ALERTFENCE_NOTIFY_FORMAT: format,
    ALERTFENCE_NOTIFY_SECRET: SECRET,
    ALERTFENCE_CLUSTER_NAME: 'bench',
    ...(options.events ? { ALERTFENCE_NOTIFY_EVENTS: options.events } : {}),
  });
  return createNotifier({
    settings: config.notify,
    clusterName: 'bench',
    log: createLogger({ write: () => {} }),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/** Microseconds per `notice()` call: p50, p99 and max over `samples` calls. */
function micros(samples: number[]) {
  return {
    n: samples.length,
    p50Us: round(percentile(samples, 50) * 1000, 2),
    p99Us: round(percentile(samples, 99) * 1000, 2),
    maxUs: round(Math.max(...samples) * 1000, 2),
  };
}

/**
 * The cost of telling the notifier (what a fence pays: `notice()` queues and returns) and the sender's
 * throughput to a receiver on loopback, signed, in each format. Numbers, not assertions.
 */
export async function benchNotifications(rounds = 2_000, warmup = 200) {
  const receiver = await startReceiver();
  try {
    const events = await fenceEvents();
    const started = events.find((event) => event.kind === 'started') as FenceEvent;
    const finished = events.find((event) => event.kind === 'finished') as FenceEvent;
    const phase = events.find((event) => event.kind === 'phase-completed') as FenceEvent;
    const refusal: FenceEvent = {
      kind: 'decided',
      node: 'worker-1',
      outcome: 'refused',
      reason: 'StormGuard',
      message: '2 of 3 nodes in scope are unhealthy, over ALERTFENCE_MAX_UNHEALTHY (30%)',
      trigger: 'alert',
      dryRun: false,
    };

    // What a fence pays per event, by path: a notification queued for two receivers, a repeated refusal
    // suppressed, and an event that is not notified (a phase). The receivers answer at once, in process (no
    // network: this is the fence's side only), and each round's queue is drained before the next, outside the
    // timing, so no sample pays for a full queue. The first rounds warm the JIT up and are not counted.
    const queued: number[] = [];
    const suppressed: number[] = [];
    const ignored: number[] = [];
    const answered = (async () => new Response('ok')) as typeof fetch;
    const notifier = notifierTo(['https://a.example/hook', 'https://b.example/hook'], 'json', {
      fetch: answered,
    });
    const time = (samples: number[] | undefined, event: FenceEvent) => {
      const t0 = performance.now();
      notifier.notice(event);
      samples?.push(performance.now() - t0);
    };
    for (let round_ = -warmup; round_ < rounds; round_++) {
      const counted = round_ >= 0;
      time(counted ? queued : undefined, started);
      time(counted ? queued : undefined, finished);
      time(counted ? suppressed : undefined, refusal);
      time(counted ? ignored : undefined, phase);
      await notifier.flush(Date.now() + 10_000);
    }

    // Throughput: `count` notifications queued at once to one receiver, sent one at a time with keep-alive.
    const throughput = async (format: 'json' | 'slack', count: number) => {
      const sender = notifierTo([receiver.url], format, { events: 'refused.storm-guard' });
      const before = receiver.count();
      const t0 = performance.now();
      let queuedCount = 0;
      while (queuedCount < count) {
        // The queue holds 100: queue in batches and wait for each to go, as a burst of fences would.
        for (let i = 0; i < 100 && queuedCount < count; i++, queuedCount++) {
          sender.notice({ ...refusal, node: `worker-${queuedCount}` } as FenceEvent);
        }
        await sender.flush(Date.now() + 30_000);
      }
      const seconds = (performance.now() - t0) / 1000;
      const delivered = receiver.count() - before;
      return { notifications: delivered, perSecond: Math.round(delivered / seconds), stats: sender.stats() };
    };

    // The same receiver, the same number of requests, from a bare fetch loop: the ceiling on this machine.
    const bareFetch = async (count: number) => {
      const t0 = performance.now();
      for (let i = 0; i < count; i++) {
        const response = await fetch(receiver.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"version":"1"}',
        });
        await response.arrayBuffer();
      }
      return { requests: count, perSecond: Math.round(count / ((performance.now() - t0) / 1000)) };
    };

    // The first few hundred requests of the process pay for JIT and connection set-up: not counted.
    await throughput('json', 500);
    return {
      notice: {
        queuedForTwoReceivers: micros(queued),
        suppressedRepeat: micros(suppressed),
        notNotified: micros(ignored),
      },
      throughput: {
        json: await throughput('json', 2_000),
        slack: await throughput('slack', 2_000),
        bareFetchLoop: await bareFetch(2_000),
      },
    };
  } finally {
    await receiver.close();
  }
}

export function formatNotificationsBench(result: Awaited<ReturnType<typeof benchNotifications>>): string {
  const { notice, throughput } = result;
  return [
    'notifications:',
    `  notice(), queued for 2 receivers: p50 ${notice.queuedForTwoReceivers.p50Us} µs, p99 ${notice.queuedForTwoReceivers.p99Us} µs`,
    `  notice(), repeated refusal suppressed: p50 ${notice.suppressedRepeat.p50Us} µs, p99 ${notice.suppressedRepeat.p99Us} µs`,
    `  notice(), not notified (a phase): p50 ${notice.notNotified.p50Us} µs`,
    `  sender to a loopback receiver, signed: json ${throughput.json.perSecond}/s, slack ${throughput.slack.perSecond}/s (a bare fetch loop: ${throughput.bareFetchLoop.perSecond}/s)`,
  ].join('\n');
}
