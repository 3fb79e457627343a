/**
 * What the command line accepts, checked before any request: a wrong node name, duration or time is a usage
 * error (exit 2) with a message that says what is expected, never a round trip to the API. The rules are the
 * API's own (its routes check again): a Node name is an RFC 1123 subdomain, durations are Go-style.
 */
import { UsageError } from './errors.js';

/** Kubernetes object names for Nodes are DNS subdomains (RFC 1123): at most 253 characters. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The longest pause the API accepts with an end (`POST /v1/pause`). */
export const MAX_PAUSE_MS = 30 * 24 * 3_600_000;

/** The most fences `GET /v1/nodes/{node}/fences` lists. */
export const MAX_HISTORY = 50;

/** A Node name, as given on the command line. */
export function nodeName(text: string): string {
  if (text.length === 0 || text.length > 253 || !DNS_SUBDOMAIN.test(text)) {
    throw new UsageError(
      `"${text}" is not a Node name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters (RFC 1123)`,
    );
  }
  return text;
}

/**
 * A Go-style duration (`90s`, `5m`, `1h30m`, `250ms`) in ms, greater than zero.
 *
 * @example
 * duration('1h30m', '--for'); // 5_400_000
 */
export function duration(text: string, flag: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(ms|s|m|h))+$/.test(trimmed)) {
    throw new UsageError(`${flag}: "${text}" is not a duration; use e.g. 30s, 5m, 2h, 1h30m`);
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(amount) * (units[unit as string] ?? 0);
  }
  if (total <= 0) throw new UsageError(`${flag}: "${text}" is no time at all`);
  return total;
}

/** RFC 3339 with a time zone (`Z` or `±hh:mm`), as the API's `until` wants it. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** An RFC 3339 time with its zone, as epoch ms. */
export function rfc3339(text: string, flag: string): number {
  const at = RFC3339.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new UsageError(
      `${flag}: "${text}" is not an RFC 3339 time with a zone; use e.g. 2026-12-24T18:00:00Z or 2026-12-24T19:00:00+01:00`,
    );
  }
  return at;
}

/** When a pause asked for on the command line ends: `--for` or `--until`, ahead and within 30 days. */
export function pauseEnd(
  options: { for?: string | undefined; until?: string | undefined },
  now: number,
): { for: string } | { until: string } | undefined {
  if (options.for !== undefined && options.until !== undefined) {
    throw new UsageError('give --for or --until, not both');
  }
  if (options.for !== undefined) {
    if (duration(options.for, '--for') > MAX_PAUSE_MS) throw new UsageError(tooLong('--for'));
    return { for: options.for.trim() };
  }
  if (options.until !== undefined) {
    const until = rfc3339(options.until, '--until');
    if (until <= now) throw new UsageError(`--until: ${options.until} is not in the future`);
    if (until - now > MAX_PAUSE_MS) throw new UsageError(tooLong('--until'));
    return { until: options.until };
  }
  return undefined;
}

const tooLong = (flag: string) =>
  `${flag}: at most 30 days; for longer, pause without --for or --until and lift it with "alertfence resume"`;

/** Free text sent for the record (a reason, a name): not blank, and within the API's limit. */
export function text(value: string, flag: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed === '') throw new UsageError(`${flag}: must not be empty`);
  if (trimmed.length > max) throw new UsageError(`${flag}: at most ${max} characters`);
  return trimmed;
}

/** `--limit`: how many fences of a node to list. */
export function limit(value: string): number {
  const count = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HISTORY) {
    throw new UsageError(`--limit: "${value}" is not a whole number from 1 to ${MAX_HISTORY}`);
  }
  return count;
}

/**
 * alertfence's base URL: http or https, no credentials (the token goes in a header), no query or fragment; a
 * path is kept (the OpenFaaS gateway serves it under `/function/alertfence`), without its trailing slash.
 */
export function baseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--url / ALERTFENCE_URL: "${value}" is not a URL; use e.g. http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url / ALERTFENCE_URL: "${value}" is not an http or https URL`);
  }
  if (url.username || url.password) {
    throw new UsageError(
      '--url / ALERTFENCE_URL: no credentials in the URL; the token comes from ALERTFENCE_TOKEN or a file',
    );
  }
  if (url.search || url.hash) {
    throw new UsageError(`--url / ALERTFENCE_URL: "${value}" must not carry a query or a fragment`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
