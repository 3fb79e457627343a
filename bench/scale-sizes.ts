/**
 * One cluster size of `npm run bench:scale`: N kwok Nodes in three zones, and for each version of alertfence:
 * single-node webhooks for a Ready node, for a dead node alone (one kwok stopped, the Node marked not Ready by
 * the node-lifecycle controller) and for a dead node among five, a grouped webhook naming 50 nodes, the API
 * calls and bytes of each alert (through the recording proxy), the API server's CPU time per alert, and the
 * function's memory.
 *
 * The function runs disarmed: a dead node's alert then takes the whole decision path (every guard, the cloud
 * read, the plan's reads) and answers `planned`, as often as the bench asks; armed, only the first alert would.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type AlertAnswer, postAlert, postTick } from '../test/integration/scale/alerts.js';
import { type FunctionProcess, startFunctionProcess } from '../test/integration/scale/function-process.js';
import { idleCpuRate, measured, type ReplayTarget, replayCpu } from '../test/integration/scale/measure.js';
import {
  accessOf,
  type NodeGroup,
  type ScaleCluster,
  startScaleCluster,
} from '../test/integration/scale/scale-cluster.js';
import { killGroups, namesOf, tally, UNHEALTHY_FOR_MS } from '../test/integration/scale/zone-outage.js';
import { waitUntil } from '../test/peers/process.js';
import { startRecordingProxy } from '../test/peers/recording-proxy.js';
import type { Variant } from './scale-variants.js';
import { round, summarize } from './stats.js';

/**
 * The dead nodes of every size: five, over the three zones, far below every storm threshold. `dead-c` dies
 * first and alone (the common case: one dead machine in a healthy cluster), the other four after.
 */
const DEAD_GROUPS: NodeGroup[] = [
  { group: 'dead-a', zone: 'zone-a', count: 2 },
  { group: 'dead-b', zone: 'zone-b', count: 2 },
  { group: 'dead-c', zone: 'zone-c', count: 1 },
];

export function sizeGroups(size: number): NodeGroup[] {
  const healthy = size - 5;
  const third = Math.floor(healthy / 3);
  return [
    { group: 'zone-a', zone: 'zone-a', count: healthy - 2 * third },
    { group: 'zone-b', zone: 'zone-b', count: third },
    { group: 'zone-c', zone: 'zone-c', count: third },
    ...DEAD_GROUPS,
  ];
}

/**
 * kubelet Lease duration for a size: a kubelet's 40 s up to 1,000 Nodes; above, longer, so that kwok's
 * renewals stay at about 100 a second, which is what the API server of this 2-core machine can carry beside the
 * bench. The node-lifecycle grace period follows (three quarters of it, at least 30 s).
 */
export function heartbeatFor(size: number) {
  const leaseDurationSeconds = Math.max(40, Math.ceil(size / 25));
  return {
    leaseDurationSeconds,
    nodeMonitorGracePeriod: `${Math.max(30, Math.ceil(leaseDurationSeconds * 0.75))}s`,
  };
}

/** Latency, outcomes and cost per alert of one kind of webhook. */
export interface PathResult {
  alerts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  outcomes: Record<string, number>;
  callsPerAlert: number;
  /** Response bytes per alert as the API server sent them (compressed when it compressed). */
  wireBytesPerAlert: number;
  /** Response bytes per alert once decompressed: what alertfence parsed. */
  bodyBytesPerAlert: number;
  /**
   * The API server's CPU time for one alert's reads: the calls of the last alert sent again with every kwok
   * frozen (`replayCpu`); CPU time measured over the whole run is drowned by the other work on the machine.
   */
  apiCpuMsPerAlert: number;
  /** Time alertfence waited on the API server per alert (the calls' durations through the proxy, summed). */
  apiWaitMsPerAlert: number;
  callsByKind: Record<string, number>;
  /** A process that follows the Nodes: its watches over the run, a minute's worth (no alert causes them). */
  watchesPerMinute?: { calls: number; wireBytes: number };
}

export interface VariantResult {
  variant: string;
  commit: string;
  ready: PathResult;
  /** A dead node's alert while it is the only unhealthy node (absent from results of older runs). */
  deadAlone?: PathResult;
  /** A dead node's alert while five are dead. */
  dead: PathResult;
  grouped50: PathResult;
  /**
   * The scheduled tick with the five dead for minutes (none past ALERTFENCE_DETECT_AFTER yet, no fence to
   * resume): what it reads to find that out (absent from results of older runs).
   */
  tick?: PathResult;
  /** The function's resident memory after the runs, and its peak, KiB. */
  rssKb: number;
  peakRssKb: number;
  /** The machine's 1-minute load average when the variant started and ended (2 cores; other work shares them). */
  load: [number, number];
}

export interface SizeResult {
  size: number;
  heartbeat: ReturnType<typeof heartbeatFor>;
  buildMs: ScaleCluster['buildMs'];
  /** The API server's CPU per second with alertfence idle (kwok's heartbeats, the controllers). */
  idleApiCpuMsPerS: number;
  variants: VariantResult[];
}

export interface SizeOptions {
  /** Alerts per single-node kind (at least 100 for a p99). */
  requests: number;
  /** Grouped alerts of 50 nodes: at most this many, fewer when they are slow (see `groupedBudgetMs`). */
  groupedRuns: number;
  /** Stop the grouped runs after this long, once at least three have run. */
  groupedBudgetMs: number;
  onProgress: (line: string) => void;
}

/** Waits until a function that follows the Nodes has listed them (its log says so): 5,000 take a few seconds. */
async function followingNodes(logFile: string, say: (line: string) => void) {
  const started = Date.now();
  await waitUntil(async () => readFileSync(logFile, 'utf8').includes('following the Nodes'), {
    timeoutMs: 180_000,
    what: `the function to follow the Nodes (see ${logFile})`,
  });
  say(`following the Nodes after ${Date.now() - started} ms`);
}

/** The API server and alertfence's ServiceAccount token, to send an alert's calls again. */
export function replayTarget(cluster: ScaleCluster): ReplayTarget {
  const access = accessOf(cluster.plane.alertfence);
  return { server: cluster.plane.server, ca: access.ca, token: access.token ?? '' };
}

/** The nodes of each alert of a path (`undefined`: the path is done), or `'tick'`: `POST /v1/tick` instead. */
type PathRequests = (index: number) => readonly string[] | 'tick' | undefined;

/** Scheduled ticks measured per size and version (each is a request like an alert, run one after the other). */
const TICKS = 20;

/** Runs a path's requests one after the other and measures them as one path. */
async function runPath(
  cluster: ScaleCluster,
  proxy: Awaited<ReturnType<typeof startRecordingProxy>>,
  idle: number,
  fn: FunctionProcess,
  target: ReplayTarget,
  requests: PathRequests,
): Promise<PathResult> {
  let lastStarted = 0;
  const run = await measured(cluster, proxy, idle, async () => {
    const answers: AlertAnswer[] = [];
    for (let index = 0; ; index++) {
      const nodes = requests(index);
      if (!nodes) break;
      lastStarted = performance.now();
      const answer = nodes === 'tick' ? await postTick(fn) : await postAlert(fn, nodes);
      const expected = nodes === 'tick' ? 200 : 202;
      if (answer.status !== expected)
        throw new Error(`${nodes === 'tick' ? 'tick' : 'webhook'} answered ${answer.status}`);
      answers.push(answer);
    }
    return answers;
  });
  const answers = run.value;
  const n = answers.length;
  const latency = summarize(answers.map((answer) => answer.ms));
  const byKind: Record<string, number> = {};
  for (const [kind, count] of Object.entries(run.totals.byKind)) byKind[kind] = round(count / n, 2);
  const replay = await replayCpu(
    cluster,
    target,
    run.calls.filter((call) => call.at >= lastStarted),
  );
  return {
    alerts: n,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    maxMs: latency.maxMs,
    outcomes: tally(answers.flatMap((answer) => answer.results)),
    callsPerAlert: round(run.totals.calls / n, 2),
    wireBytesPerAlert: Math.round(run.totals.wireBytes / n),
    bodyBytesPerAlert: Math.round(run.totals.bodyBytes / n),
    apiCpuMsPerAlert: round(replay.cpuMs, 1),
    apiWaitMsPerAlert: round(run.calls.reduce((sum, call) => sum + call.ms, 0) / n, 1),
    callsByKind: byKind,
    ...(run.watches.calls > 0
      ? {
          watchesPerMinute: {
            calls: round((run.watches.calls * 60_000) / run.wallMs, 1),
            wireBytes: Math.round((run.watches.wireBytes * 60_000) / run.wallMs),
          },
        }
      : {}),
  };
}

/** Builds a cluster of `size` Nodes, measures every variant on it, tears it down. */
export async function benchSize(
  size: number,
  variants: readonly Variant[],
  options: SizeOptions,
): Promise<SizeResult> {
  const say = (line: string) => options.onProgress(`[${size} nodes] ${line}`);
  const heartbeat = heartbeatFor(size);
  const cluster = await startScaleCluster({ groups: sizeGroups(size), ...heartbeat, onProgress: say });
  try {
    say(`built in ${JSON.stringify(cluster.buildMs)}`);
    const proxy = await startRecordingProxy({
      upstream: cluster.plane.server,
      upstreamCa: accessOf(cluster.plane.alertfence).ca,
      dir: cluster.plane.dir,
    });
    const kubeconfig = await cluster.kubeconfigVia(proxy);
    const results: VariantResult[] = [];
    let idleRate = 0;
    const ready = namesOf(cluster, ['zone-a', 'zone-b', 'zone-c']);
    // Spread the Ready nodes alerted for over the cluster (a stride prime to its size).
    const readyAt = (index: number) => ready[(index * 7919) % ready.length] as string;
    const target = replayTarget(cluster);
    const timeout = 600_000;

    // Every version's process at once, so that each is measured in both phases on the same cluster.
    const running: Array<{ variant: Variant; fn: FunctionProcess; load: number }> = [];
    try {
      for (const variant of variants) {
        const logFile = join(cluster.plane.dir, `alertfence-${variant.name}.log`);
        const fn = await startFunctionProcess({
          root: variant.root,
          kubeconfig,
          logFile,
          env: { ALERTFENCE_UNHEALTHY_FOR: `${UNHEALTHY_FOR_MS / 1000}s`, ...variant.env },
        });
        if (variant.followsNodes) await followingNodes(logFile, say);
        running.push({ variant, load: round(loadavg()[0] ?? 0, 1), fn });
      }
      // Phase 1: one dead node alone.
      await killGroups(cluster, ['dead-c'], timeout);
      const alone = namesOf(cluster, ['dead-c'])[0] as string;
      const idle = await idleCpuRate(cluster, 10_000);
      say(`idle API server: ${round(idle, 0)} ms CPU/s`);
      const phase1 = new Map<string, { ready: PathResult; deadAlone: PathResult }>();
      for (const { variant, fn } of running) {
        // Warm-up: connections, JIT, the first-request costs of both paths.
        for (let i = 0; i < 5; i++) {
          await postAlert(fn, [readyAt(i)]);
          await postAlert(fn, [alone]);
        }
        proxy.take();
        const readyPath = await runPath(cluster, proxy, idle, fn, target, (i) =>
          i < options.requests ? [readyAt(i + 100)] : undefined,
        );
        say(
          `${variant.name}: Ready p50 ${readyPath.p50Ms} p99 ${readyPath.p99Ms} ms, ${readyPath.bodyBytesPerAlert} B`,
        );
        const alonePath = await runPath(cluster, proxy, idle, fn, target, (i) =>
          i < options.requests ? [alone] : undefined,
        );
        say(
          `${variant.name}: dead alone p50 ${alonePath.p50Ms} p99 ${alonePath.p99Ms} ms, ${alonePath.bodyBytesPerAlert} B`,
        );
        phase1.set(variant.name, { ready: readyPath, deadAlone: alonePath });
      }
      // Phase 2: five dead.
      await killGroups(cluster, ['dead-a', 'dead-b'], timeout);
      const dead = namesOf(
        cluster,
        DEAD_GROUPS.map((group) => group.group),
      );
      for (const { variant, fn, load } of running) {
        for (let i = 0; i < 5; i++) await postAlert(fn, [dead[i % dead.length] as string]);
        proxy.take();
        const deadPath = await runPath(cluster, proxy, idle, fn, target, (i) =>
          i < options.requests ? [dead[i % dead.length] as string] : undefined,
        );
        say(
          `${variant.name}: dead of 5 p50 ${deadPath.p50Ms} p99 ${deadPath.p99Ms} ms, ${deadPath.bodyBytesPerAlert} B`,
        );
        const groupedStarted = Date.now();
        const grouped = await runPath(cluster, proxy, idle, fn, target, (i) => {
          const overBudget = i >= 3 && Date.now() - groupedStarted > options.groupedBudgetMs;
          if (i >= options.groupedRuns || overBudget) return undefined;
          return [...dead, ...Array.from({ length: 45 }, (_, n) => readyAt(1000 + i * 45 + n))];
        });
        say(`${variant.name}: grouped(50) p50 ${grouped.p50Ms} ms over ${grouped.alerts}`);
        await postTick(fn);
        proxy.take();
        const tick = await runPath(cluster, proxy, idle, fn, target, (i) => (i < TICKS ? 'tick' : undefined));
        say(
          `${variant.name}: tick p50 ${tick.p50Ms} ms, ${tick.callsPerAlert} calls, ${tick.bodyBytesPerAlert} B`,
        );
        const memory = fn.memory();
        const first = phase1.get(variant.name);
        if (!first) throw new Error(`no first phase for ${variant.name}`);
        results.push({
          variant: variant.name,
          commit: variant.commit,
          ...first,
          dead: deadPath,
          grouped50: grouped,
          tick,
          rssKb: memory.rssKb,
          peakRssKb: memory.peakKb,
          load: [load, round(loadavg()[0] ?? 0, 1)],
        });
      }
      idleRate = idle;
    } finally {
      for (const { fn } of running) await fn.stop();
    }
    await proxy.stop();
    return {
      size,
      heartbeat,
      buildMs: cluster.buildMs,
      idleApiCpuMsPerS: round(idleRate, 0),
      variants: results,
    };
  } finally {
    await cluster.stop();
  }
}
