/**
 * of-watchdog's HTTP mode as the function sees it: where the watchdog proxies to, and the time limit it puts
 * on each request (`exec_timeout`, read by the openfaas section of the configuration, shortened by an
 * `X-Timeout` header), read the way the watchdog reads them.
 */
import type { Context } from 'hono';
import { watchdogDuration } from '../../config.js';
import { deadlineFrom } from '../../lib/deadline.js';

/**
 * The request's time limit as the watchdog enforces it: `exec_timeout`, shortened by an `X-Timeout` header
 * that is not longer (`executor/http_runner.go`, `getTimeout`).
 */
export function execTimeoutMs(limit: number, c: Context): number {
  const header = c.req.header('x-timeout');
  if (!header) return limit;
  const asked = watchdogDuration(header, limit);
  return limit === 0 || asked <= limit ? asked : limit;
}

/**
 * The deadline of a request's work: the run budget, or the watchdog's limit less the hand-over margin,
 * whichever ends first (0 is no limit).
 */
export function watchdogDeadline(execTimeout: number, c: Context, runBudgetMs: number): number {
  const limit = execTimeoutMs(execTimeout, c);
  return deadlineFrom(Date.now(), runBudgetMs, limit === 0 ? undefined : limit);
}
