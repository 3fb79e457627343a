import { performance } from 'node:perf_hooks';
import { SimulatedDriver } from '../drivers/simulated/simulated-driver.js';
import type { FenceListing, Overview } from '../functions/fence/api.js';
import type { FenceJournal } from '../functions/fence/journal.js';
import type { FenceEvent } from '../functions/fence/observer.js';
import { PHASES, REASONS, TRIGGER_KINDS, type TriggerKind } from '../functions/fence/vocabulary.js';
import { instrumentDriver } from '../functions/observability/driver-metrics.js';
import { createEmfMetrics } from '../functions/observability/emf.js';
import { createPrometheusMetrics } from '../functions/observability/metrics.js';
import { round, summarize } from './stats.js';

const NODES = 1000;
const CONFIG = { tickIntervalMs: 120_000, dryRun: false };

/** Collects garbage before a sample when the process allows it (`node --expose-gc`), so setup is not billed. */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

const journalOf = (node: number) =>
  ({
    node: `worker-${node}`,
    instance: { provider: 'aws', id: `i-${node}` },
    trigger: { kind: 'alert' },
  }) as FenceJournal;

/**
 * What 1000 nodes' fences tell the observer: each node a decision (with reasons and triggers of the whole
 * vocabulary), a start, its eight phases and an end.
 */
function fenceEvents(): FenceEvent[] {
  const reasons = Object.values(REASONS);
  const events: FenceEvent[] = [];
  for (let n = 0; n < NODES; n++) {
    const journal = journalOf(n);
    events.push({
      kind: 'decided',
      node: journal.node,
      outcome: n % 3 === 0 ? 'accepted' : 'refused',
      reason: reasons[n % reasons.length] as string,
      message: '',
      trigger: TRIGGER_KINDS[n % TRIGGER_KINDS.length] as TriggerKind,
      dryRun: false,
    });
    events.push({ kind: 'started', journal });
    for (const phase of PHASES.slice(2)) {
      events.push({ kind: 'phase-completed', journal, phase, durationMs: 10 + (n % 300) * 1000 });
    }
    events.push({ kind: 'finished', journal, status: 'succeeded', durationMs: 60_000 + n * 100 });
  }
  return events;
}

/** A cluster-wide state with a fence running (or waiting) on each of 1000 nodes: 1000 labelled series. */
function bigOverview(): Overview {
  const fences: FenceListing[] = Array.from({ length: NODES }, (_, n) => ({
    node: `worker-${n}`,
    id: `f-${n}`,
    status: n % 10 === 0 ? 'failed' : 'running',
    phase: PHASES[n % PHASES.length] as FenceListing['phase'],
    trigger: 'alert',
    startedAt: new Date(Date.now() - n * 1000).toISOString(),
    updatedAt: new Date().toISOString(),
    held: n % 2 === 0,
    ...(n % 10 === 0 ? { waiting: { since: new Date().toISOString(), reason: 'NeedsOperator' } } : {}),
  }));
  return {
    pause: undefined,
    fences,
    rejected: [],
    lastSucceeded: { node: 'worker-0', id: 'f', finishedAt: new Date().toISOString() },
  };
}

/** Nanoseconds per event told to `notice`, over `rounds` passes of the 1000 nodes' events. */
function perEvent(notice: (event: FenceEvent) => void, events: readonly FenceEvent[], rounds: number) {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    collect();
    const started = performance.now();
    for (const event of events) notice(event);
    samples.push(((performance.now() - started) * 1e6) / events.length);
  }
  samples.sort((a, b) => a - b);
  return { events: events.length, medianNs: Math.round(samples[Math.floor(samples.length / 2)] ?? 0) };
}

/** Microseconds per `describe` of the in-memory cloud, bare and decorated: what the decorator adds to a call. */
async function decoratorCost(record: Parameters<typeof instrumentDriver>[1], calls = 20_000) {
  const cloud = new SimulatedDriver();
  cloud.addInstance('i-1', ['vol-1']);
  const decorated = instrumentDriver(cloud, record, performance.now.bind(performance));
  const ref = { provider: 'simulated', id: 'i-1' };
  const options = { deadline: Date.now() + 3_600_000 };
  const time = async (driver: typeof cloud | typeof decorated) => {
    const samples: number[] = [];
    for (let round = 0; round < 7; round++) {
      collect();
      const started = performance.now();
      for (let i = 0; i < calls; i++) await driver.describe(ref, options);
      samples.push(((performance.now() - started) * 1000) / calls);
    }
    samples.sort((a, b) => a - b);
    return samples[3] ?? 0;
  };
  await time(cloud);
  await time(decorated);
  const bare = await time(cloud);
  const wrapped = await time(decorated);
  return { bareUs: round(bare, 3), decoratedUs: round(wrapped, 3), addedUs: round(wrapped - bare, 3) };
}

/**
 * The metrics' own costs: what recording one fence event costs the fence (Prometheus and EMF), what a driver
 * call's decorator adds, and how long `/metrics` takes to render, and weighs, with 1000 nodes' worth of labels
 * (every counter and histogram filled by 1000 nodes' fences, and a fence of each node in the state).
 */
export async function benchMetrics(rounds = 20, renders = 50) {
  const events = fenceEvents();

  const prometheus = createPrometheusMetrics({ config: CONFIG, runtime: 'bench', processMetrics: false });
  perEvent((event) => prometheus.observer.notice(event), events, 2);
  const prometheusPerEvent = perEvent((event) => prometheus.observer.notice(event), events, rounds);

  const emf = createEmfMetrics({ config: CONFIG, service: 'bench', write: () => {} });
  perEvent((event) => emf.observer.notice(event), events, 2);
  emf.flush();
  const emfPerEvent = perEvent((event) => emf.observer.notice(event), events, rounds);
  // One fence's worth of events, then its flush: what a worker invocation pays at its end.
  const flushes: number[] = [];
  const oneFence = events.slice(0, 10);
  for (let i = 0; i < renders; i++) {
    for (const event of oneFence) emf.observer.notice(event);
    collect();
    const started = performance.now();
    emf.flush();
    flushes.push(performance.now() - started);
  }

  // /metrics with the state of 1000 fences: a cached state (most scrapes), then a fresh read each time.
  const overview = bigOverview();
  const withProcess = createPrometheusMetrics({ config: CONFIG, runtime: 'bench' });
  for (const event of events) withProcess.observer.notice(event);
  withProcess.watch({ overview: async () => overview, ready: async () => {} });
  const cached: number[] = [];
  let bytes = 0;
  await withProcess.render();
  for (let i = 0; i < renders; i++) {
    collect();
    const started = performance.now();
    const { body } = await withProcess.render();
    cached.push(performance.now() - started);
    bytes = body.length;
  }
  const fresh: number[] = [];
  const uncached = createPrometheusMetrics({ config: CONFIG, runtime: 'bench', state: { ttlMs: 0 } });
  for (const event of events) uncached.observer.notice(event);
  uncached.watch({ overview: async () => overview, ready: async () => {} });
  for (let i = 0; i < renders; i++) {
    collect();
    const started = performance.now();
    await uncached.render();
    fresh.push(performance.now() - started);
  }

  const driverDecorator = await decoratorCost((measurements) => prometheus.record(measurements));

  return {
    nodes: NODES,
    prometheusObserverNsPerEvent: prometheusPerEvent,
    driverDecoratorPerCall: driverDecorator,
    emfObserverNsPerEvent: emfPerEvent,
    emfFlushOneFence: summarize(flushes),
    render1000Nodes: {
      cachedState: summarize(cached),
      freshState: summarize(fresh),
      bodyKiB: round(bytes / 1024, 1),
      series: (await withProcess.render()).body.split('\n').filter((line) => line && !line.startsWith('#'))
        .length,
    },
  };
}
