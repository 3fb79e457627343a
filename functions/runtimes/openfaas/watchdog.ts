/**
 * of-watchdog's HTTP mode as the function sees it: where the watchdog proxies to, and the time limit it puts
 * on each request (`exec_timeout`, shortened by an `X-Timeout` header), read the way the watchdog reads them.
 */
import type { Context } from 'hono';
import { ConfigError, type Env, parseDuration } from '../../config.js';
import { deadlineFrom } from '../../lib/deadline.js';

/** of-watchdog's own default for `exec_timeout` (and `write_timeout`). */
const WATCHDOG_DEFAULT_TIMEOUT_MS = 30_000;
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
export function execTimeoutMs(env: Env, c: Context): number {
  const limit = watchdogDuration(env.exec_timeout);
  const header = c.req.header('x-timeout');
  if (!header) return limit;
  const asked = watchdogDuration(header, limit);
  return limit === 0 || asked <= limit ? asked : limit;
}

/**
 * The deadline of a request's work: the run budget, or the watchdog's limit less the hand-over margin,
 * whichever ends first (0 is no limit).
 */
export function watchdogDeadline(env: Env, c: Context, runBudgetMs: number): number {
  const limit = execTimeoutMs(env, c);
  return deadlineFrom(Date.now(), runBudgetMs, limit === 0 ? undefined : limit);
}
