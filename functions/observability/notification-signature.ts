/**
 * The signature of a notification: `X-Alertfence-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>` is the
 * HMAC-SHA256, keyed with `ALERTFENCE_NOTIFY_SECRET`, of `<t>.<body>` (the timestamp, a dot, the body's exact
 * bytes). The timestamp is signed so that a receiver can refuse a replayed request (older than 5 minutes).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-alertfence-signature';

/** The signature header's value for `body` sent at `nowMs`. */
export function signature(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  const mac = createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
  return `t=${t},v1=${mac}`;
}

/**
 * Checks a signature header as a receiver should: the MAC over the exact body, compared in constant time, and
 * a timestamp within `toleranceMs` of the receiver's clock. For tests and receivers written in TypeScript.
 *
 * @example
 * if (!verifySignature(secret, rawBody, request.headers['x-alertfence-signature'], Date.now())) reject();
 */
export function verifySignature(
  secret: string,
  body: string,
  header: string | null | undefined,
  nowMs: number,
  toleranceMs = 5 * 60_000,
): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const t = Number(match[1]);
  if (Math.abs(nowMs - t * 1000) > toleranceMs) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(match[2] as string, 'hex'));
}
