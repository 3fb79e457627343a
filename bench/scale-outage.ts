/**
 * The scenarios of `npm run bench:scale` on 1,000 kwok Nodes in three zones:
 *
 * - the whole of zone-c (333 Nodes) stops heartbeating: a grouped alert naming all of it, alone and then at
 *   once with 20 single-node alerts, for each version (disarmed, so that an older version plans what it would
 *   fence instead of fencing it), then the same burst at the armed current version;
 * - the zone returns, then five of its Nodes die alone and are fenced;
 * - 20 dead Nodes over the three zones, five fences at most at once, alerted together and then repeated as
 *   Alertmanager repeats them, until all are fenced: how many fences ran at once, over time, and how long.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KUBE_NAMES } from '../functions/kube/names.js';
import { type AlertAnswer, postAlert } from '../test/integration/scale/alerts.js';
import { type FunctionProcess, startFunctionProcess } from '../test/integration/scale/function-process.js';
import {
  idleCpuRate,
  type Measured,
  measured,
  type ReplayTarget,
  replayCpu,
} from '../test/integration/scale/measure.js';
import { accessOf, type ScaleCluster, startScaleCluster } from '../test/integration/scale/scale-cluster.js';
import {
  ARMED_ENV,
  type Burst,
  FEW_C,
  fencingTaints,
  journals,
  killGroups,
  MANY_DEAD,
  namesOf,
  OUTAGE_GROUPS,
  outageBurst,
  reviveGroups,
  tally,
  UNHEALTHY_FOR_MS,
  waitFenced,
  ZONE_C,
} from '../test/integration/scale/zone-outage.js';
import { type RecordingProxy, startRecordingProxy } from '../test/peers/recording-proxy.js';
import { peekJournal } from '../test/support/peek-journal.js';
import { replayTarget } from './scale-sizes.js';
import type { Variant } from './scale-variants.js';
import { round, summarize } from './stats.js';

/** Cost of one measured part: calls, bytes, the API server's CPU. */
export interface Cost {
  wallMs: number;
  calls: number;
  wireBytes: number;
  bodyBytes: number;
  apiCpuMs: number;
  callsByKind: Record<string, number>;
}

/** What a measured part cost; the API server's CPU from its reads sent again with kwok frozen (`replayCpu`). */
async function cost(cluster: ScaleCluster, target: ReplayTarget, run: Measured<unknown>): Promise<Cost> {
  const replay = await replayCpu(cluster, target, run.calls, { times: 3, maxPauseMs: 12_000 });
  return {
    wallMs: round(run.wallMs, 0),
    calls: run.totals.calls,
    wireBytes: run.totals.wireBytes,
    bodyBytes: run.totals.bodyBytes,
    apiCpuMs: round(replay.cpuMs, 0),
    callsByKind: run.totals.byKind,
  };
}

export interface BurstResult {
  groupedMs: number;
  groupedOutcomes: Record<string, number>;
  singles: { p50Ms: number; maxMs: number; outcomes: Record<string, number> };
  cost: Cost;
}

export interface OutageVariantResult {
  variant: string;
  commit: string;
  armed: boolean;
  /** The grouped alert naming the 333 Nodes, alone. */
  grouped: { ms: number; outcomes: Record<string, number>; cost: Cost };
  /** The grouped alert and 20 single-node alerts at once. */
  burst: BurstResult;
  rssKb: number;
  /** The machine's 1-minute load average after the variant's runs. */
  load: number;
}

export interface ManyDeadResult {
  dead: number;
  maxConcurrentFences: number;
  /** Most fences seen running at once (journals `running`; the slots Lease's entries). */
  maxRunning: number;
  maxSlots: number;
  /** Fences running over time: [seconds since the first alert, running]. */
  timeline: Array<[number, number]>;
  firstAnswer: Record<string, number>;
  alertsSent: number;
  totalS: number;
  fenceS: { p50: number; max: number };
}

export interface OutageResult {
  nodes: number;
  zoneNodes: number;
  secondsUntilZoneNotReady: number;
  variants: OutageVariantResult[];
  recovery: { secondsUntilReady: number; journals: number; fencingTaints: number; powerOffs: number };
  fewDieAlone: { nodes: number; answers: Record<string, number>; fencedS: number; powerOffs: number };
  manyDead: ManyDeadResult;
}

async function burstResult(
  cluster: ScaleCluster,
  target: ReplayTarget,
  run: Measured<Burst>,
): Promise<BurstResult> {
  const { grouped, singles } = run.value;
  const latency = summarize(singles.map((single) => single.ms));
  return {
    groupedMs: round(grouped.ms, 0),
    groupedOutcomes: tally(grouped.results),
    singles: {
      p50Ms: round(latency.p50Ms, 0),
      maxMs: round(latency.maxMs, 0),
      outcomes: tally(singles.flatMap((single) => single.results)),
    },
    cost: await cost(cluster, target, run),
  };
}

/** The outage burst at one version: the grouped alert alone, then with the 20 singles. */
async function outageAt(
  cluster: ScaleCluster,
  proxy: RecordingProxy,
  idle: number,
  fn: FunctionProcess,
  zone: string[],
): Promise<Omit<OutageVariantResult, 'variant' | 'commit' | 'armed' | 'rssKb' | 'load'>> {
  // Warm-up: a single alert for a Ready node (connections, JIT).
  await postAlert(fn, namesOf(cluster, ['zone-a']).slice(0, 1));
  const target = replayTarget(cluster);
  const grouped = await measured(cluster, proxy, idle, () => postAlert(fn, zone));
  const groupedCost = await cost(cluster, target, grouped);
  const burst = await measured(cluster, proxy, idle, () => outageBurst(fn, zone, zone.slice(0, 20)));
  return {
    grouped: { ms: round(grouped.value.ms, 0), outcomes: tally(grouped.value.results), cost: groupedCost },
    burst: await burstResult(cluster, target, burst),
  };
}

/** Alerts for the dead nodes at once, then again every `repeatMs` for those not fenced yet, until all are. */
async function manyDead(
  cluster: ScaleCluster,
  fn: FunctionProcess,
  dead: string[],
  repeatMs: number,
  say: (line: string) => void,
): Promise<ManyDeadResult> {
  const started = performance.now();
  const seconds = () => round((performance.now() - started) / 1000, 1);
  const timeline: Array<[number, number]> = [];
  let maxRunning = 0;
  let maxSlots = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const leases = await cluster.admin.listLeases('alertfence');
      const slots = leases.find((lease) => lease.metadata?.name === KUBE_NAMES.slotsLease);
      const entries = JSON.parse(
        slots?.metadata?.annotations?.[KUBE_NAMES.slotsAnnotation] ?? '[]',
      ) as unknown[];
      const running = leases
        .map((lease) => peekJournal(lease))
        .filter((journal) => journal?.status === 'running').length;
      maxRunning = Math.max(maxRunning, running);
      maxSlots = Math.max(maxSlots, entries.length);
      if (timeline.at(-1)?.[1] !== running) timeline.push([seconds(), running]);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  const first = await Promise.all(dead.map((node) => postAlert(fn, [node])));
  let alertsSent = dead.length;
  let done: Awaited<ReturnType<typeof journals>> = [];
  for (;;) {
    done = (await journals(cluster)).filter(
      (journal) => dead.includes(journal.node) && journal.status === 'succeeded',
    );
    if (done.length === dead.length) break;
    if (seconds() > 600) throw new Error(`only ${done.length} of ${dead.length} fenced after 600 s`);
    await new Promise((resolve) => setTimeout(resolve, repeatMs));
    // Alertmanager repeats the alerts of nodes still down; a fenced node's Node is gone and its alert resolves.
    const fenced = new Set(done.map((journal) => journal.node));
    const pending = dead.filter((node) => !fenced.has(node));
    const answers: AlertAnswer[] = await Promise.all(pending.map((node) => postAlert(fn, [node])));
    alertsSent += answers.length;
    say(`${done.length}/${dead.length} fenced at ${seconds()} s`);
  }
  const totalS = seconds();
  sampling = false;
  await sampler;
  const durations = done.map(
    (journal) => (Date.parse(journal.finishedAt ?? '') - Date.parse(journal.startedAt)) / 1000,
  );
  const fence = summarize(durations);
  return {
    dead: dead.length,
    maxConcurrentFences: Number(ARMED_ENV.ALERTFENCE_MAX_CONCURRENT_FENCES),
    maxRunning,
    maxSlots,
    timeline,
    firstAnswer: tally(first.flatMap((answer) => answer.results)),
    alertsSent,
    totalS,
    fenceS: { p50: round(fence.p50Ms, 1), max: round(fence.maxMs, 1) },
  };
}

/** Runs every scenario on one 1,000-node cluster. */
export async function benchOutage(
  variants: readonly Variant[],
  options: { onProgress: (line: string) => void; repeatMs: number },
): Promise<OutageResult> {
  const say = (line: string) => options.onProgress(`[zone outage] ${line}`);
  const cluster = await startScaleCluster({ groups: OUTAGE_GROUPS, onProgress: say });
  try {
    const proxy = await startRecordingProxy({
      upstream: cluster.plane.server,
      upstreamCa: accessOf(cluster.plane.alertfence).ca,
      dir: cluster.plane.dir,
    });
    const kubeconfig = await cluster.kubeconfigVia(proxy);
    const zone = namesOf(cluster, ZONE_C);
    const notReadyMs = await killGroups(cluster, ZONE_C);
    say(`zone-c (${zone.length}) not Ready after ${round(notReadyMs / 1000, 1)} s`);
    const idle = await idleCpuRate(cluster, 10_000);
    const start = (variant: Variant, env: Record<string, string>, transitionMs?: number) =>
      startFunctionProcess({
        root: variant.root,
        kubeconfig,
        // ALERTFENCE_SCALE_LOGS keeps the function's logs after the cluster is gone.
        logFile: join(
          process.env.ALERTFENCE_SCALE_LOGS || cluster.plane.dir,
          `alertfence-outage-${variant.name}.log`,
        ),
        env: { ALERTFENCE_UNHEALTHY_FOR: `${UNHEALTHY_FOR_MS / 1000}s`, ...variant.env, ...env },
        ...(transitionMs ? { transitionMs } : {}),
      });

    const results: OutageVariantResult[] = [];
    for (const variant of variants) {
      const fn = await start(variant, {});
      try {
        const measuredAt = await outageAt(cluster, proxy, idle, fn, zone);
        results.push({
          variant: variant.name,
          commit: variant.commit,
          armed: false,
          ...measuredAt,
          rssKb: fn.memory().rssKb,
          load: round(loadavg()[0] ?? 0, 1),
        });
        say(`${variant.name}: grouped ${measuredAt.grouped.ms} ms, ${measuredAt.grouped.cost.calls} calls`);
      } finally {
        await fn.stop();
      }
    }

    const current = variants.find((variant) => variant.name === 'after');
    if (!current) throw new Error('the armed scenarios run the current version: include the variant "after"');
    const fn = await start(current, ARMED_ENV, 3_000);
    try {
      const armed = await outageAt(cluster, proxy, idle, fn, zone);
      results.push({
        variant: 'after',
        commit: current.commit,
        armed: true,
        ...armed,
        rssKb: fn.memory().rssKb,
        load: round(loadavg()[0] ?? 0, 1),
      });
      say(`armed: ${JSON.stringify(armed.burst.groupedOutcomes)}`);

      const readyMs = await reviveGroups(cluster, ZONE_C);
      const recovery = {
        secondsUntilReady: round(readyMs / 1000, 1),
        journals: (await journals(cluster)).length,
        fencingTaints: (await fencingTaints(cluster)).length,
        powerOffs: (await fn.driverCalls()).powerOff ?? 0,
      };
      say(`zone back: ${JSON.stringify(recovery)}`);

      const few = namesOf(cluster, [FEW_C]);
      await killGroups(cluster, [FEW_C]);
      const fewStarted = performance.now();
      const answers = await Promise.all(few.map((node) => postAlert(fn, [node])));
      say(`five die alone: ${JSON.stringify(tally(answers.flatMap((answer) => answer.results)))}`);
      await waitFenced(cluster, few, 120_000);
      const fewDieAlone = {
        nodes: few.length,
        answers: tally(answers.flatMap((answer) => answer.results)),
        fencedS: round((performance.now() - fewStarted) / 1000, 1),
        powerOffs: (await fn.driverCalls()).powerOff ?? 0,
      };
      say(`five alone: ${JSON.stringify(fewDieAlone)}`);

      const dead = namesOf(cluster, MANY_DEAD);
      await killGroups(cluster, MANY_DEAD);
      const many = await manyDead(cluster, fn, dead, options.repeatMs, say);
      say(`many dead: ${many.totalS} s, at most ${many.maxRunning} running`);
      await proxy.stop();
      return {
        nodes: cluster.nodes.length,
        zoneNodes: zone.length,
        secondsUntilZoneNotReady: round(notReadyMs / 1000, 1),
        variants: results,
        recovery,
        fewDieAlone,
        manyDead: many,
      };
    } finally {
      await fn.stop();
    }
  } finally {
    await cluster.stop();
  }
}
