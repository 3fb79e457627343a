/**
 * Sending one notification to one receiver: a POST, signed when a secret is set, with bounded retries. A
 * receiver that is down costs at most {@link DELIVERY_BUDGET_MS} of this background sender, never a fence.
 */
import type { NotifyFormat } from '../config.js';
import type { Notification } from './notification.js';
import { bodyOf } from './notification-bodies.js';
import { SIGNATURE_HEADER, signature } from './notification-signature.js';

/** At most this many requests per notification and receiver: the first and two retries. */
export const MAX_ATTEMPTS = 3;
/** All the attempts of one notification, their waits included, fit in this time; then it is given up. */
export const DELIVERY_BUDGET_MS = 10_000;
/** Wait before the second and the third attempt when the receiver did not say (`Retry-After`). */
export const BACKOFF_MS = [1_000, 2_000] as const;

/** What the sender needs from the world; tests pass a fake fetch and fake timers. */
export interface DeliveryOptions {
  fetch: typeof fetch;
  now: () => number;
  /** Limit of one request (`ALERTFENCE_NOTIFY_TIMEOUT`). */
  timeoutMs: number;
  secret: string | undefined;
}

export type DeliveryResult =
  | { kind: 'sent'; attempts: number; status: number }
  | { kind: 'failed'; attempts: number; reason: string };

type Attempt =
  | { kind: 'sent'; status: number }
  | { kind: 'retry'; reason: string; afterMs?: number }
  | { kind: 'fatal'; reason: string };

/**
 * `Retry-After` in milliseconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable.
 */
export function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** A pause on the timers' clock, not kept alive for: a process that is done does not wait for a retry. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

/** What a receiver's 4xx said, short: Slack answers e.g. `invalid_payload` or `no_text`. */
async function shortBody(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

async function attempt(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: DeliveryOptions,
  timeoutMs: number,
): Promise<Attempt> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const signed = options.secret
      ? { ...headers, [SIGNATURE_HEADER]: signature(options.secret, body, options.now()) }
      : headers;
    // A webhook is not followed elsewhere: a redirect could take a signed body to another host, or off TLS.
    const response = await options.fetch(url, {
      method: 'POST',
      headers: signed,
      body,
      redirect: 'manual',
      signal: controller.signal,
    });
    const status = response.status;
    if (status >= 200 && status < 300) {
      // Read to the end, within the timeout, so that the connection can be used again.
      await response.arrayBuffer().catch(() => undefined);
      return { kind: 'sent', status };
    }
    const said = await shortBody(response);
    const reason = `HTTP ${status}${said ? `: ${said}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      const afterMs = retryAfterMs(response.headers.get('retry-after'), options.now());
      return { kind: 'retry', reason, ...(afterMs !== undefined ? { afterMs } : {}) };
    }
    if (status >= 300 && status < 400)
      return { kind: 'fatal', reason: `${reason} (redirects are not followed)` };
    // Any other 4xx is the request or the configuration (a revoked Slack URL is 404 or 410): retrying is noise.
    return { kind: 'fatal', reason };
  } catch (error) {
    if (controller.signal.aborted) return { kind: 'retry', reason: `no answer within ${timeoutMs} ms` };
    const cause = (error as { cause?: { code?: string } }).cause;
    return { kind: 'retry', reason: cause?.code ?? (error as Error).name ?? 'network error' };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * POSTs a notification to one receiver; retries on a network error, a timeout, 408, 429 and 5xx (after the
 * receiver's `Retry-After` when it gives one), at most {@link MAX_ATTEMPTS} times within
 * {@link DELIVERY_BUDGET_MS}; never on another 4xx or a redirect. Never throws.
 *
 * @example
 * const result = await deliver(url, 'slack', notification, { fetch, now: Date.now, timeoutMs: 5000, secret });
 */
export async function deliver(
  url: string,
  format: NotifyFormat,
  notification: Notification,
  options: DeliveryOptions,
): Promise<DeliveryResult> {
  const budgetEnds = options.now() + DELIVERY_BUDGET_MS;
  const body = bodyOf(notification, format);
  const headers = {
    'content-type': 'application/json',
    'user-agent': `alertfence-notifier/${notification.version}`,
    'x-alertfence-event': notification.event,
    'x-alertfence-delivery': notification.id,
  };
  let last = 'not sent';
  for (let attempts = 1; attempts <= MAX_ATTEMPTS; attempts++) {
    const remaining = budgetEnds - options.now();
    if (remaining <= 0) return { kind: 'failed', attempts: attempts - 1, reason: `${last}; out of time` };
    const result = await attempt(url, body, headers, options, Math.min(options.timeoutMs, remaining));
    if (result.kind === 'sent') return { kind: 'sent', attempts, status: result.status };
    if (result.kind === 'fatal') return { kind: 'failed', attempts, reason: result.reason };
    last = result.reason;
    if (attempts === MAX_ATTEMPTS) break;
    const waitMs = result.afterMs ?? BACKOFF_MS[attempts - 1] ?? 0;
    if (options.now() + waitMs >= budgetEnds) {
      return {
        kind: 'failed',
        attempts,
        reason: `${last}; the next attempt (in ${waitMs} ms) would end past the ${DELIVERY_BUDGET_MS} ms budget`,
      };
    }
    await pause(waitMs);
  }
  return { kind: 'failed', attempts: MAX_ATTEMPTS, reason: last };
}
