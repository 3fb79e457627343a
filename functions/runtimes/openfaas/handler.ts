import type { Env } from '../../config.js';
import { isMain, runMain } from '../main.js';
import { buildNodeRuntime, type Injected } from '../node/node-runtime.js';
import { exitOnSignals, serveApp } from '../node/serve.js';
import { openFaasContinuationFromEnv } from './gateway.js';
import { upstreamAddress, watchdogDeadline, watchdogDuration } from './watchdog.js';

/**
 * The cron-connector's tick (`POST /`, no token) runs at most this often per function instance, whatever
 * posts to it: it only resumes and reports under every guard, but each tick reads the journal Leases.
 */
const CRON_TICK_MIN_INTERVAL_MS = 30_000;

/**
 * The OpenFaaS function: the app behind of-watchdog in HTTP mode (`fprocess="node openfaas.mjs"`,
 * `mode=http`). Fences continue through the gateway's `/async-function/` when `ALERTFENCE_OPENFAAS_GATEWAY` is
 * set (the queued request comes back with one of our tokens), else in this process.
 */
export function startOpenFaas(env: Env = process.env, injected: Injected = {}) {
  const { assembly, metrics, fences, app } = buildNodeRuntime(env, injected, {
    continuation: (inProcess, { env: resolved, config, log }) =>
      openFaasContinuationFromEnv(resolved, config.tokens[0] ?? '', log) ?? inProcess,
    deadlineOf: (c, { config }) => watchdogDeadline(env, c, config.runBudgetMs),
    cronTick: { minIntervalMs: CRON_TICK_MIN_INTERVAL_MS },
    name: 'openfaas',
  });
  const { config, log } = assembly;
  const served = serveApp({
    fetch: app.fetch,
    ...upstreamAddress(env),
    fences,
    notifier: assembly.notifier,
    onListening: (info) =>
      log.info('listening', {
        port: info.port,
        dryRun: config.dryRun,
        drivers: config.drivers,
        continuation: env.ALERTFENCE_OPENFAAS_GATEWAY ? 'gateway' : 'in-process',
        execTimeoutMs: watchdogDuration(env.exec_timeout),
      }),
  });
  exitOnSignals(served, fences, log);
  return { ...served, runtime: { assembly, metrics, fences, app } };
}

if (isMain(import.meta.url)) runMain(() => startOpenFaas());
