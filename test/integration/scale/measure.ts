/**
 * What one part of a scale run cost: wall time, the API server's CPU time, and every call alertfence made
 * through the recording proxy. The API server also works for kwok and the controllers meanwhile; its rate
 * when alertfence is idle is measured on its own and subtracted.
 */
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
  calls: RecordedCall[];
  totals: CallTotals;
}

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
  const calls = proxy.take();
  return {
    value,
    wallMs,
    apiCpuMs: Math.max(0, cpu - (idleRate * wallMs) / 1000),
    calls,
    totals: totals(calls),
  };
}
