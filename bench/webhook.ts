import { performance } from 'node:perf_hooks';
import { alertPayload, createWorld, type NodeSpec } from '../test/support/world.js';
import { round, summarize } from './stats.js';

/** Alerts are posted to a world whose nodes are all dead and whose guards let every node through. */
const PERMISSIVE = {
  ALERTFENCE_MAX_UNHEALTHY: '100%',
  ALERTFENCE_MAX_CONCURRENT_FENCES: '1000',
  ALERTFENCE_LOG_LEVEL: 'error',
};

function deadNodes(count: number, healthy = 0): NodeSpec[] {
  return [
    ...Array.from({ length: count }, (_, i) => ({ name: `worker-${i + 1}`, ready: false })),
    ...Array.from({ length: healthy }, (_, i) => ({ name: `healthy-${i + 1}` })),
  ];
}

/** Collects garbage before a sample when the process allows it (`node --expose-gc`), so setup is not billed. */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function timeRequest(run: () => Promise<Response>, expectStatus: number): Promise<number> {
  collect();
  const started = performance.now();
  const response = await run();
  await response.arrayBuffer();
  const elapsed = performance.now() - started;
  if (response.status !== expectStatus) throw new Error(`bench request answered ${response.status}`);
  return elapsed;
}

/**
 * In-process webhook latency through `app.request`, against the in-memory API server and cloud: the
 * accepted path (reads, guards, Lease compare-and-swap, Event, hand-off), for 1 node and for a 100-node
 * grouped alert, and the duplicate path (an Alertmanager repeat while the fence runs).
 */
export async function benchWebhook(iterations = 300, warmup = 50) {
  const single: number[] = [];
  const duplicate: number[] = [];
  const firstRequest: number[] = [];
  for (let i = -warmup; i < iterations; i++) {
    // The very first request of the process pays for module loading and JIT: reported on its own.
    if (i === -warmup) {
      const world = createWorld({ env: PERMISSIVE, nodes: deadNodes(1, 2) });
      firstRequest.push(
        await timeRequest(() => world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }])), 202),
      );
      continue;
    }
    if (i < 0) {
      const world = createWorld({ env: PERMISSIVE, nodes: deadNodes(1, 2) });
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
      continue;
    }
    const world = createWorld({ env: PERMISSIVE, nodes: deadNodes(1, 2) });
    const payload = JSON.stringify(alertPayload([{ node: 'worker-1' }]));
    single.push(await timeRequest(() => world.post('/v1/alerts', payload), 202));
    duplicate.push(await timeRequest(() => world.post('/v1/alerts', payload), 202));
  }

  const grouped: number[] = [];
  const groupedRuns = Math.max(10, Math.floor(iterations / 10));
  for (let i = 0; i < groupedRuns; i++) {
    const world = createWorld({ env: PERMISSIVE, nodes: deadNodes(100, 200) });
    const payload = JSON.stringify(
      alertPayload(Array.from({ length: 100 }, (_, n) => ({ node: `worker-${n + 1}` }))),
    );
    grouped.push(await timeRequest(() => world.post('/v1/alerts', payload), 202));
  }

  // Throughput: sequential 1-node alerts for the distinct dead nodes of 50-node clusters, setup excluded.
  let handled = 0;
  let busyMs = 0;
  while (busyMs < 1000) {
    const world = createWorld({ env: PERMISSIVE, nodes: deadNodes(50) });
    for (let n = 1; n <= 50; n++) {
      const payload = JSON.stringify(alertPayload([{ node: `worker-${n}` }]));
      busyMs += await timeRequest(() => world.post('/v1/alerts', payload), 202);
      handled += 1;
    }
  }

  return {
    warmupRequests: warmup,
    firstRequestMs: round(firstRequest[0] ?? Number.NaN),
    oneNodeAccepted: summarize(single),
    oneNodeDuplicate: summarize(duplicate),
    hundredNodeGrouped: summarize(grouped),
    throughputAlertsPerSecond: Math.round((handled * 1000) / busyMs),
    targetP99Ms: 20,
    meetsTarget: summarize(single).p99Ms < 20,
  };
}

/** Kubernetes and cloud calls of one whole fence (a dead node with one StatefulSet pod and one PV volume). */
export async function benchCallsPerFence() {
  const world = createWorld({ env: { ALERTFENCE_LOG_LEVEL: 'error' } });
  await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
  const ingress = world.kube.calls.length;
  await world.drain();
  const byMethod: Record<string, number> = {};
  for (const call of world.kube.calls) byMethod[call.method] = (byMethod[call.method] ?? 0) + 1;
  const cloud: Record<string, number> = {};
  for (const call of world.driver.calls) cloud[call.method] = (cloud[call.method] ?? 0) + 1;
  const journal = await world.service.journal('worker-1');
  return {
    status: journal?.status,
    kubeCallsTotal: world.kube.calls.length,
    kubeCallsAtIngress: ingress,
    kubeCallsByMethod: byMethod,
    cloudCallsByMethod: cloud,
    simulatedSeconds: round(
      (Date.parse(journal?.finishedAt ?? '') - Date.parse(journal?.startedAt ?? '')) / 1000,
      1,
    ),
  };
}
