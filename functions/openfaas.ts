import type { Context } from 'hono';
import { ConfigError, parseDuration } from './config.js';
import type { Continuation } from './fence/handoff.js';
import { isMain, runMain } from './main-module.js';
import { buildInProcessRuntime, exitOnSignals, type Injected, serveApp } from './node-serve.js';
import { openFaasContinuationFromEnv } from './openfaas-continuation.js';

type Env = Record<string, string | undefined>;

/** of-watchdog's own default for `exec_timeout` (and `write_timeout`). */
const WATCHDOG_DEFAULT_TIMEOUT_MS = 30_000;
/**
 * The cron-connector's tick (`POST /`, no token) runs at most this often per function instance, whatever
 * posts to it: it only resumes and reports under every guard, but each tick reads the journal Leases.
 */
const CRON_TICK_MIN_INTERVAL_MS = 30_000;

/** Time kept back from the watchdog's timeout to hand the fence on and answer before it cuts the request. */
const HANDOFF_MARGIN_MS = 2_000;

/**
 * A duration as of-watchdog reads it: a whole number is seconds, anything else a Go duration; what it cannot
 * parse falls back to its default (`config.go`, `parseIntOrDurationValue`). 0 means no limit.
 */
export function watchdogDuration(
  value: string | undefined,
  fallbackMs = WATCHDOG_DEFAULT_TIMEOUT_MS,
): number {
  if (value === undefined || value.trim() === '') return fallbackMs;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  try {
    return parseDuration(text);
  } catch {
    return fallbackMs;
  }
}

/** Where the watchdog proxies to (`upstream_url`, which the function inherits from the watchdog's environment). */
export function upstreamAddress(env: Env): { hostname: string; port: number } {
  const url = env.upstream_url || env.http_upstream_url || 'http://127.0.0.1:3000';
  if (!URL.canParse(url)) throw new ConfigError(`upstream_url: "${url}" is not a URL`);
  const parsed = new URL(url);
  return { hostname: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 80) };
}

/**
 * The request's time limit as the watchdog enforces it: `exec_timeout`, shortened by an `X-Timeout` header
 * that is not longer (`executor/http_runner.go`, `getTimeout`).
 */
function execTimeoutMs(env: Env, c: Context): number {
  const limit = watchdogDuration(env.exec_timeout);
  const header = c.req.header('x-timeout');
  if (!header) return limit;
  const asked = watchdogDuration(header, limit);
  return limit === 0 || asked <= limit ? asked : limit;
}

/**
 * The OpenFaaS function: the app on `@hono/node-server` behind of-watchdog in HTTP mode
 * (`fprocess="node openfaas.mjs"`, `mode=http`, `upstream_url=http://127.0.0.1:3000`). Secrets come from
 * `/var/openfaas/secrets/` through `ALERTFENCE_TOKENS_FILE`. Fences continue through the gateway's
 * `/async-function/` when `ALERTFENCE_OPENFAAS_GATEWAY` is set, else in this process.
 */
export function startOpenFaas(env: Env = process.env, injected: Injected = {}) {
  let viaGateway: Continuation | undefined;
  const { runtime, fences } = buildInProcessRuntime(env, {
    ...injected,
    continuation: (inProcess) => ({ schedule: (handoff) => (viaGateway ?? inProcess).schedule(handoff) }),
    cronTick: { minIntervalMs: CRON_TICK_MIN_INTERVAL_MS },
    deadlineOf: (c) => {
      const runBudgetMs = runtime.config.runBudgetMs;
      const limit = execTimeoutMs(env, c);
      const budget = limit === 0 ? runBudgetMs : Math.min(runBudgetMs, limit - HANDOFF_MARGIN_MS);
      return Date.now() + budget;
    },
  });
  const { log, app, config } = runtime;
  // The queued request comes back through the gateway to this function, so it carries one of our tokens.
  viaGateway = openFaasContinuationFromEnv(runtime.env, config.tokens[0] ?? '', log);

  const served = serveApp({
    fetch: app.fetch,
    ...upstreamAddress(env),
    fences,
    onListening: (info) =>
      log.info('listening', {
        port: info.port,
        dryRun: config.dryRun,
        drivers: config.drivers,
        continuation: viaGateway ? 'gateway' : 'in-process',
        execTimeoutMs: watchdogDuration(env.exec_timeout),
      }),
  });
  exitOnSignals(served, fences, log);
  return { ...served, runtime, continuation: fences };
}

if (isMain(import.meta.url)) runMain(() => startOpenFaas());
