import type { Env } from '../../config.js';
import { isMain, runMain } from '../main.js';
import { buildNodeRuntime, type Injected } from '../node/node-runtime.js';
import { exitOnSignals, logListening, serveApp } from '../node/serve.js';
import { openFaasContinuationFromConfig } from './gateway.js';
import { watchdogDeadline } from './watchdog.js';

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
    continuation: (inProcess, { config, log }) =>
      openFaasContinuationFromConfig(config.openfaas, config.tokens[0] ?? '', log) ?? inProcess,
    deadlineOf: (c, { config }) => watchdogDeadline(config.openfaas.execTimeoutMs, c, config.runBudgetMs),
    cronTick: { minIntervalMs: CRON_TICK_MIN_INTERVAL_MS },
    name: 'openfaas',
  });
  const { config, log } = assembly;
  const served = serveApp({
    fetch: app.fetch,
    ...config.openfaas.upstream,
    fences,
    notifier: assembly.notifier,
    ...(assembly.nodeView ? { nodeView: assembly.nodeView } : {}),
    onListening: logListening(assembly, {
      continuation: config.openfaas.gateway ? 'gateway' : 'in-process',
      execTimeoutMs: config.openfaas.execTimeoutMs,
    }),
  });
  exitOnSignals(served, fences, log);
  return { ...served, runtime: { assembly, metrics, fences, app } };
}

if (isMain(import.meta.url)) runMain(() => startOpenFaas());
