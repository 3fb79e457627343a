import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import type { Context } from 'hono';
import { ConfigError, parseDuration } from './config.js';
import type { Continuation } from './fence/fence-service.js';
import { InProcessContinuation } from './in-process-continuation.js';
import { createLogger } from './log.js';
import { openFaasContinuationFromEnv } from './openfaas-continuation.js';
import { buildRuntime, type RuntimeOptions } from './wiring.js';

type Env = Record<string, string | undefined>;

/** of-watchdog's own default for `exec_timeout` (and `write_timeout`). */
const WATCHDOG_DEFAULT_TIMEOUT_MS = 30_000;
/** Time kept back from the watchdog's timeout to hand the fence on and answer before it cuts the request. */
const HANDOFF_MARGIN_MS = 2_000;
/** How long SIGTERM waits for in-process fences to journal their step; below OpenFaaS's default grace. */
const SHUTDOWN_GRACE_MS = 25_000;

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
export function startOpenFaas(
  env: Env = process.env,
  options: Pick<RuntimeOptions, 'kube' | 'drivers' | 'log'> = {},
) {
  const bootLog = options.log ?? createLogger({ base: { component: 'alertfence' } });
  let runBudgetMs = 0;
  const inProcess = new InProcessContinuation(() => runBudgetMs, bootLog);
  let viaGateway: Continuation | undefined;
  let closing = false;
  const runtime = buildRuntime(env, {
    stopping: () => closing,
    continuation: {
      schedule: (handoff) => (viaGateway ?? inProcess).schedule(handoff),
    },
    deadlineOf: (c) => {
      const limit = execTimeoutMs(env, c);
      const budget = limit === 0 ? runBudgetMs : Math.min(runBudgetMs, limit - HANDOFF_MARGIN_MS);
      return Date.now() + budget;
    },
    ...options,
  });
  runBudgetMs = runtime.config.runBudgetMs;
  inProcess.bind(runtime.service);
  // The queued request comes back through the gateway to this function, so it carries one of our tokens.
  viaGateway = openFaasContinuationFromEnv(env, runtime.config.tokens[0] ?? '', runtime.log);
  const { log, app, config } = runtime;

  const { hostname, port } = upstreamAddress(env);
  const server = serve({ fetch: app.fetch, hostname, port }, (info) => {
    log.info('listening', {
      port: info.port,
      dryRun: config.dryRun,
      drivers: config.drivers,
      continuation: viaGateway ? 'gateway' : 'in-process',
      execTimeoutMs: watchdogDuration(env.exec_timeout),
    });
  });

  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    // of-watchdog forwards SIGTERM at once and keeps proxying until its own drain ends; requests that still
    // reach us while fences drain are answered.
    log.info('shutting down', { signal, activeFences: inProcess.active });
    const graceEnds = Date.now() + SHUTDOWN_GRACE_MS;
    const drained = await inProcess.drain(SHUTDOWN_GRACE_MS);
    // Then let the requests in flight finish, within what is left of the grace period (idle keep-alive
    // connections close at once). A continuation step cut off here is resumed once its Lease hold expires.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      setTimeout(resolve, Math.max(0, graceEnds - Date.now())).unref();
    });
    log.info(drained ? 'stopped' : 'stopped with fences still running; their journals resume them', {
      signal,
    });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  return { server, runtime, continuation: inProcess };
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  try {
    startOpenFaas();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`alertfence: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
