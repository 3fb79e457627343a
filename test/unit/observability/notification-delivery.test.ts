/**
 * Sending one notification to one receiver: what is sent, the signature, and the bounded retries, on fake
 * timers (the waits are asserted on the fake clock, never on the wall clock).
 */
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BACKOFF_MS,
  DELIVERY_BUDGET_MS,
  type DeliveryOptions,
  type DeliveryResult,
  deliver,
  MAX_ATTEMPTS,
  retryAfterMs,
} from '../../../functions/observability/notification-delivery.js';
import {
  SIGNATURE_HEADER,
  signature,
  verifySignature,
} from '../../../functions/observability/notification-signature.js';
import { sampleNotification as notification } from '../../support/notifications.js';
import { type ScriptedAnswer, scriptedFetch } from '../../support/scripted-fetch.js';

const URL_ = 'https://hooks.example.com/services/T000/B000/XXXXSECRETPATH';
const SECRET = 'notify-secret-0123456789abcdef';

/** Runs `deliver` against a scripted receiver, moving the fake clock until it settles. */
async function send(script: ScriptedAnswer[], options: Partial<DeliveryOptions> = {}) {
  const receiver = scriptedFetch(script);
  const started = Date.now();
  let result: DeliveryResult | undefined;
  void deliver(URL_, 'json', notification, {
    fetch: receiver.fetch,
    now: Date.now,
    timeoutMs: 5_000,
    secret: SECRET,
    ...options,
  }).then((settled) => {
    result = settled;
  });
  for (let step = 0; step < 200 && !result; step++) await vi.advanceTimersByTimeAsync(100);
  return { result, sent: receiver.sent, elapsedMs: Date.now() - started };
}

describe('deliver', () => {
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'Date'],
      now: Date.parse('2026-11-22T10:00:00Z'),
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('should POST the JSON body with its event, delivery id and signature headers, and no redirect', async () => {
    // Act
    const { result, sent } = await send([200]);

    // Assess
    expect(result).toEqual({ kind: 'sent', attempts: 1, status: 200 });
    expect(sent).toHaveLength(1);
    const [request] = sent;
    expect(request).toMatchObject({ url: URL_, method: 'POST', redirect: 'manual' });
    expect(JSON.parse(request?.body ?? '')).toEqual(notification);
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'alertfence-notifier/1',
      'x-alertfence-event': 'fence.started',
      'x-alertfence-delivery': notification.id,
    });
    expect(verifySignature(SECRET, request?.body ?? '', request?.headers[SIGNATURE_HEADER], Date.now())).toBe(
      true,
    );
  });

  it('should send no signature header without a secret', async () => {
    // Act
    const { sent } = await send([200], { secret: undefined });

    // Assess
    expect(sent[0]?.headers).not.toHaveProperty(SIGNATURE_HEADER);
  });

  it('should retry a 500 after the first backoff, with the same delivery id', async () => {
    // Act
    const { result, sent, elapsedMs } = await send([500, 200]);

    // Assess
    expect(result).toEqual({ kind: 'sent', attempts: 2, status: 200 });
    expect(sent.map((request) => request.headers['x-alertfence-delivery'])).toEqual([
      notification.id,
      notification.id,
    ]);
    expect(elapsedMs).toBeGreaterThanOrEqual(BACKOFF_MS[0]);
    expect(elapsedMs).toBeLessThan(BACKOFF_MS[0] + 200);
  });

  it.each([
    ['a 503', 503],
    ['a 429', 429],
    ['a 408', 408],
    ['a refused connection', 'refused' as const],
  ])('should retry %s, at most three attempts within the budget, then give up', async (_, answer) => {
    // Act
    const { result, sent, elapsedMs } = await send([answer]);

    // Assess
    expect(sent).toHaveLength(MAX_ATTEMPTS);
    expect(result).toMatchObject({ kind: 'failed', attempts: MAX_ATTEMPTS });
    expect(elapsedMs).toBeGreaterThanOrEqual(BACKOFF_MS[0] + BACKOFF_MS[1]);
    expect(elapsedMs).toBeLessThanOrEqual(DELIVERY_BUDGET_MS);
  });

  it('should wait as long as Retry-After says before the next attempt', async () => {
    // Act
    const { result, elapsedMs } = await send([{ status: 429, headers: { 'retry-after': '4' } }, 200]);

    // Assess
    expect(result).toEqual({ kind: 'sent', attempts: 2, status: 200 });
    expect(elapsedMs).toBeGreaterThanOrEqual(4_000);
    expect(elapsedMs).toBeLessThan(4_200);
  });

  it('should give up at once when Retry-After asks for longer than the budget leaves', async () => {
    // Act
    const { result, sent, elapsedMs } = await send([{ status: 503, headers: { 'retry-after': '60' } }, 200]);

    // Assess
    expect(sent).toHaveLength(1);
    expect(result).toMatchObject({ kind: 'failed', attempts: 1 });
    expect(result?.kind === 'failed' && result.reason).toMatch(/HTTP 503.*past the 10000 ms budget/);
    expect(elapsedMs).toBeLessThan(200);
  });

  it.each([
    [400, /HTTP 400: invalid_payload/],
    [403, /HTTP 403/],
    [404, /HTTP 404/],
    [410, /HTTP 410/],
  ])('should not retry a %i: the request or the configuration is wrong', async (status, reason) => {
    // Act
    const { result, sent } = await send([{ status, body: 'invalid_payload' }, 200]);

    // Assess
    expect(sent).toHaveLength(1);
    expect(result).toMatchObject({ kind: 'failed', attempts: 1 });
    expect(result?.kind === 'failed' && result.reason).toMatch(reason);
  });

  it('should not follow a redirect, nor retry it', async () => {
    // Act
    const { result, sent } = await send([
      { status: 302, headers: { location: 'http://elsewhere.example/' } },
    ]);

    // Assess
    expect(sent).toHaveLength(1);
    expect(result?.kind === 'failed' && result.reason).toMatch(/HTTP 302.*redirects are not followed/);
  });

  it('should end a request that hangs at the timeout, and stop within the budget', async () => {
    // Act
    const { result, sent, elapsedMs } = await send(['hang'], { timeoutMs: 5_000 });

    // Assess: 5 s, 1 s of backoff, then the 4 s left of the budget; no third attempt.
    expect(sent).toHaveLength(2);
    expect(result).toMatchObject({ kind: 'failed' });
    expect(result?.kind === 'failed' && result.reason).toMatch(/no answer within/);
    expect(elapsedMs).toBeGreaterThanOrEqual(DELIVERY_BUDGET_MS - 100);
    expect(elapsedMs).toBeLessThanOrEqual(DELIVERY_BUDGET_MS + 100);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-22T10:00:00Z');

  it.each([
    ['120', 120_000],
    ['0', 0],
    ['Sun, 22 Nov 2026 10:00:30 GMT', 30_000],
    ['Sun, 22 Nov 2026 09:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('should read %j as %j ms', (value, expected) => {
    // Act
    const ms = retryAfterMs(value, now);

    // Assess
    expect(ms).toBe(expected);
  });
});

describe('the notification signature', () => {
  const body = '{"version":"1","event":"fence.started"}';
  const now = Date.parse('2026-11-22T10:00:00Z');

  it('should be the HMAC-SHA256 of "<t>.<body>" with the timestamp in seconds, as openssl computes it', () => {
    // Act
    const header = signature(SECRET, body, now);

    // Assess
    const t = now / 1000;
    const expected = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex');
    expect(header).toBe(`t=${t},v1=${expected}`);
  });

  it.each([
    ['another body', SECRET, `${body} `, now],
    ['another secret', 'another-secret-0123456789', body, now],
    ['a request older than five minutes', SECRET, body, now + 5 * 60_000 + 1_000],
  ])('should not verify with %s', (_, secret, received, receivedAt) => {
    // Prepare
    const header = signature(SECRET, body, now);

    // Act
    const verified = verifySignature(secret, received, header, receivedAt);

    // Assess
    expect(verified).toBe(false);
  });

  it.each([[undefined], [''], ['t=1,v1=zz'], ['v1=abc,t=1']])(
    'should not verify a malformed header %j',
    (header) => {
      // Act
      const verified = verifySignature(SECRET, body, header, now);

      // Assess
      expect(verified).toBe(false);
    },
  );
});
