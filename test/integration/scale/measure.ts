/**
 * What one part of a scale run cost: wall time, the API server's CPU time, and every call alertfence made
 * through the recording proxy. The API server also works for kwok and the controllers meanwhile; its rate
 * when alertfence is idle is measured on its own and subtracted.
 */
import { Agent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import {
  type CallTotals,
  type RecordedCall,
  type RecordingProxy,
  totals,
} from '../../peers/recording-proxy.js';

export interface Measured<T> {
  value: T;
  wallMs: number;
  /** The API server's CPU time over the run, less its idle rate over the same time. */
  apiCpuMs: number;
  /** The run's calls, but the watches of a process that follows the Nodes (they go on between alerts too). */
  calls: RecordedCall[];
  totals: CallTotals;
  /** The watches that ended during the run: the cost of following the Nodes, which no alert causes. */
  watches: CallTotals;
}

/** A watch (`watch=true`): a process that follows the Nodes keeps one open whatever the alerts do. */
export const isWatch = (call: RecordedCall) => /(^|&)watch=(true|1)(&|$)/.test(call.query);

/** Something with the API server's CPU time in ms. */
export interface CpuSource {
  apiserverCpuMs(): number;
}

/** The API server's CPU time per second while alertfence sends nothing (kwok, controllers), over `ms`. */
export async function idleCpuRate(cluster: CpuSource, ms = 5_000): Promise<number> {
  const before = cluster.apiserverCpuMs();
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ((cluster.apiserverCpuMs() - before) * 1000) / (performance.now() - started);
}

/** Runs `run` and measures it; `idleRate` is `idleCpuRate`'s answer (ms of CPU per second). */
export async function measured<T>(
  cluster: CpuSource,
  proxy: RecordingProxy,
  idleRate: number,
  run: () => Promise<T>,
): Promise<Measured<T>> {
  proxy.take();
  const cpuBefore = cluster.apiserverCpuMs();
  const started = performance.now();
  const value = await run();
  const wallMs = performance.now() - started;
  const cpu = cluster.apiserverCpuMs() - cpuBefore;
  // Records land when an answer's last byte went through; the function has read them all before it answers.
  await new Promise((resolve) => setImmediate(resolve));
  const recorded = proxy.take();
  const calls = recorded.filter((call) => !isWatch(call));
  return {
    value,
    wallMs,
    apiCpuMs: Math.max(0, cpu - (idleRate * wallMs) / 1000),
    calls,
    totals: totals(calls),
    watches: totals(recorded.filter(isWatch)),
  };
}

/** The API server and alertfence's identity on it, to send recorded calls again. */
export interface ReplayTarget {
  server: string;
  ca: string;
  token: string;
}

/** A cluster whose kubelets can be frozen for a moment. */
export interface PausableCluster extends CpuSource {
  pauseKubelets(): void;
  resumeKubelets(): void;
}

export interface ReplayCost {
  /** The API server's CPU time per replay of the calls, less its rate with nothing sent, ms. */
  cpuMs: number;
  /** Whole replays done. */
  replays: number;
  /** The API server's CPU per second with kwok frozen and nothing sent. */
  quietCpuMsPerS: number;
}

function send(target: ReplayTarget, call: RecordedCall, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${call.path}${call.query ? `?${call.query}` : ''}`, target.server);
    const request = httpsRequest(
      url,
      {
        method: 'GET',
        agent,
        headers: {
          authorization: `Bearer ${target.token}`,
          ...(call.accept ? { accept: call.accept } : {}),
          ...(call.acceptEncoding ? { 'accept-encoding': call.acceptEncoding } : {}),
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve());
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/**
 * What the API server spends on one alert's reads, without the noise of everything else on the machine: the
 * alert's recorded GETs are sent again, one after the other, as alertfence's identity, while every kwok is frozen
 * (no heartbeats to serve), and the API server's CPU time is read before and after. CPU time, unlike wall time,
 * does not grow when other processes compete for the cores. Replays until `times` or `maxPauseMs`, at least once;
 * kwok is frozen for no longer than that, well within the node-lifecycle grace period.
 */
export async function replayCpu(
  cluster: PausableCluster,
  target: ReplayTarget,
  calls: readonly RecordedCall[],
  options: { times?: number; maxPauseMs?: number } = {},
): Promise<ReplayCost> {
  const reads = calls.filter((call) => call.method === 'GET');
  const agent = new Agent({ keepAlive: true, ca: target.ca, maxSockets: 1 });
  const times = options.times ?? 10;
  const maxPauseMs = options.maxPauseMs ?? 10_000;
  cluster.pauseKubelets();
  try {
    // A connection first, so the TLS handshake is not billed to the replays.
    if (reads[0]) await send(target, reads[0], agent);
    const quietStart = performance.now();
    const quietBefore = cluster.apiserverCpuMs();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const quietRate = ((cluster.apiserverCpuMs() - quietBefore) * 1000) / (performance.now() - quietStart);
    const started = performance.now();
    const before = cluster.apiserverCpuMs();
    let replays = 0;
    while (replays < times && (replays === 0 || performance.now() - quietStart < maxPauseMs)) {
      for (const call of reads) await send(target, call, agent);
      replays += 1;
    }
    const spent = cluster.apiserverCpuMs() - before - (quietRate * (performance.now() - started)) / 1000;
    return { cpuMs: Math.max(0, spent / replays), replays, quietCpuMsPerS: quietRate };
  } finally {
    cluster.resumeKubelets();
    agent.destroy();
  }
}
