/**
 * The openfaas section: of-watchdog's HTTP mode as the function sees it (where the watchdog proxies to, its
 * `exec_timeout`) and the gateway's asynchronous path for continuations.
 */
import * as z from 'zod';
import { parseDuration, url } from './fields.js';

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

export interface OpenFaasSettings {
  /** `ALERTFENCE_OPENFAAS_GATEWAY`: continue fences through the gateway's queue; unset, in process. */
  gateway: string | undefined;
  /** `ALERTFENCE_OPENFAAS_FUNCTION`: the function's name as the gateway knows it (`name` or `name.namespace`). */
  functionName: string;
  /** The watchdog's `exec_timeout`, read as the watchdog reads it; 0 is no limit. */
  execTimeoutMs: number;
  /** Where the watchdog proxies to (`upstream_url`, or `http_upstream_url`). */
  upstream: { hostname: string; port: number };
}

export const openFaasSection = z
  .object({
    ALERTFENCE_OPENFAAS_GATEWAY: url().optional(),
    ALERTFENCE_OPENFAAS_FUNCTION: z
      .string()
      .regex(
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/,
        'is not a function name (name or name.namespace)',
      )
      .default('alertfence'),
    // Lenient as the watchdog is: what it cannot parse, it replaces by its default.
    exec_timeout: z.string().optional(),
    upstream_url: url().optional(),
    http_upstream_url: url().optional(),
  })
  .transform((c): OpenFaasSettings => {
    const upstream = new URL(c.upstream_url ?? c.http_upstream_url ?? 'http://127.0.0.1:3000');
    return {
      gateway: c.ALERTFENCE_OPENFAAS_GATEWAY,
      functionName: c.ALERTFENCE_OPENFAAS_FUNCTION,
      execTimeoutMs: watchdogDuration(c.exec_timeout),
      upstream: {
        hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
        port: Number(upstream.port || 80),
      },
    };
  });
