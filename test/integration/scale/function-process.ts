/**
 * alertfence as its own process, the way `npm start` runs it, for measurements that must not include the
 * harness: its memory, its CPU time. Serves on a free loopback port; its log goes to a file.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuTimeMs, memoryKb } from '../../peers/proc.js';
import { freePort, waitUntil } from '../../peers/process.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('./serve-function.ts', import.meta.url));

export interface FunctionProcessOptions {
  /** Source tree of the alertfence under test; default this one. */
  root?: string;
  /** Kubeconfig the function uses (the recording proxy's). */
  kubeconfig: string;
  /** `ALERTFENCE_*` settings over the defaults below. */
  env?: Record<string, string>;
  /** File the function's log lines are appended to. */
  logFile: string;
  /** How long a simulated power transition takes, ms. Default 1000. */
  transitionMs?: number;
}

export interface FunctionProcess {
  url: string;
  token: string;
  pid: number;
  memory(): { rssKb: number; peakKb: number };
  cpuMs(): number;
  /** The simulated cloud's calls so far, by method (`describe`, `powerOff`, …). */
  driverCalls(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts the function and waits until `/healthz` answers.
 *
 * @example
 * const fn = await startFunctionProcess({ kubeconfig, logFile: '/tmp/fn.log', env: { ALERTFENCE_DRY_RUN: 'true' } });
 */
export async function startFunctionProcess(options: FunctionProcessOptions): Promise<FunctionProcess> {
  const port = await freePort();
  const token = 'scale-bench-token-0123456789abcdef';
  const log = openSync(options.logFile, 'a');
  const child = fork(ENTRY, [], {
    cwd: REPO,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', log, log, 'ipc'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      KUBECONFIG: options.kubeconfig,
      ALERTFENCE_SCALE_ROOT: options.root ?? REPO,
      ALERTFENCE_SCALE_TRANSITION_MS: String(options.transitionMs ?? 1000),
      ALERTFENCE_TOKENS: token,
      ALERTFENCE_DRIVERS: 'simulated',
      ALERTFENCE_JOURNAL_KEY: 'scale-bench-journal-key-0123456789abcdef0123',
      // The bench drives alerts and ticks itself.
      ALERTFENCE_TICK_INTERVAL: '1h',
      ...options.env,
    },
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`the function exited (${child.exitCode}); see ${options.logFile}`);
        return (await fetch(`${url}/healthz`)).ok;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `alertfence to serve ${url}/healthz` },
    );
  } catch (error) {
    child.kill('SIGKILL');
    live.delete(child);
    throw error;
  }
  const pid = child.pid ?? 0;
  return {
    url,
    token,
    pid,
    memory: () => memoryKb(pid),
    cpuMs: () => cpuTimeMs(pid),
    driverCalls: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('the function did not report its driver calls')),
          10_000,
        );
        child.once('message', (message) => {
          clearTimeout(timer);
          resolve((message as { driverCalls: Record<string, number> }).driverCalls);
        });
        child.send('driver-calls');
      }),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(child);
    },
  };
}
