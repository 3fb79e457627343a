import { describe, expect, it } from 'vitest';
import { DeadlineExceededError, DriverAuthError, DriverError } from '../../drivers/driver.js';
import { HttpError, type HttpErrorDetails, httpDriverError, retryAfterMs } from '../../drivers/http-error.js';
import { sendPowerCall } from '../../drivers/power-call.js';
import type { RetryPolicy } from '../../functions/lib/wait.js';

/** A retry policy on a virtual clock that records every sleep. */
function virtualPolicy(maxAttempts: number) {
  let now = 1_000_000;
  const slept: number[] = [];
  const policy: RetryPolicy = {
    maxAttempts,
    baseDelayMs: 500,
    maxDelayMs: 1000,
    random: () => 0.5,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
  return { policy, slept, deadline: now + 60_000 };
}

const httpError = (details: Partial<HttpErrorDetails>) =>
  new HttpError(
    { method: 'GET', ...details },
    { where: 'GET https://api.test/x', bodyMessage: () => undefined },
  );

describe('sendPowerCall', () => {
  it('should send once and ask nothing when the call succeeds', async () => {
    // Prepare
    const { policy, deadline } = virtualPolicy(3);
    let sent = 0;
    let judged = 0;

    // Act
    await sendPowerCall(
      async () => {
        sent++;
      },
      async () => {
        judged++;
        return 'repeat';
      },
      { deadline, policy },
    );

    // Assess
    expect([sent, judged]).toEqual([1, 0]);
  });

  it('should stop at the first failure a fresh reading calls done', async () => {
    // Prepare
    const { policy, deadline, slept } = virtualPolicy(3);
    let sent = 0;

    // Act
    await sendPowerCall(
      async () => {
        sent++;
        throw new Error('409 conflict');
      },
      async () => 'done',
      { deadline, policy },
    );

    // Assess
    expect(sent).toBe(1);
    expect(slept).toEqual([]);
  });

  it('should repeat with backoff up to the attempts and then throw the last failure', async () => {
    // Prepare
    const { policy, deadline, slept } = virtualPolicy(3);
    const failures = [new Error('lost 1'), new Error('lost 2'), new Error('lost 3')];
    let sent = 0;

    // Act
    const error = await sendPowerCall(
      async () => {
        throw failures[sent++];
      },
      async () => 'repeat',
      { deadline, policy },
    ).catch((e: unknown) => e);

    // Assess
    expect(error).toBe(failures[2]);
    expect(sent).toBe(3);
    // Equal jitter with random 0.5: 3/4 of 500 ms, then 3/4 of 1000 ms.
    expect(slept).toEqual([375, 750]);
  });

  it('should never repeat a failure the judge threw itself', async () => {
    // Prepare
    const { policy, deadline } = virtualPolicy(3);
    const refusal = new DriverError('the server is SHELVED', { retryable: false });
    let sent = 0;

    // Act
    const error = await sendPowerCall(
      async () => {
        sent++;
        throw new Error('409');
      },
      async () => {
        throw refusal;
      },
      { deadline, policy },
    ).catch((e: unknown) => e);

    // Assess
    expect(error).toBe(refusal);
    expect(sent).toBe(1);
  });

  it('should throw what tooLate makes when the deadline leaves no time for a repeat', async () => {
    // Prepare
    const { policy, slept } = virtualPolicy(Number.POSITIVE_INFINITY);
    const deadline = policy.now() + 100;

    // Act
    const error = await sendPowerCall(
      async () => {
        throw new Error('IncorrectInstanceState');
      },
      async () => 'repeat',
      { deadline, policy, tooLate: (cause) => new DeadlineExceededError('too late', { cause }) },
    ).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(slept).toEqual([]);
  });
});

describe('HttpError', () => {
  it.each([
    [{}, true],
    [{ status: 429 }, true],
    [{ status: 500 }, true],
    [{ status: 503 }, true],
    [{ status: 501 }, false],
    [{ status: 505 }, false],
    [{ status: 404 }, false],
    [{ status: 200, reason: 'not the documented shape' }, false],
    [{ reason: 'certificate not trusted' }, false],
  ] as const)('should call %o transient: %s', (details, transient) => {
    expect(httpError(details).transient).toBe(transient);
  });

  it.each([
    [{ status: 404 }, 'GET https://api.test/x answered 404'],
    [{ status: 200, reason: 'no Id' }, 'GET https://api.test/x answered 200: no Id'],
    [{ reason: 'certificate not trusted' }, 'GET https://api.test/x failed: certificate not trusted'],
    [{ cause: new Error('ECONNREFUSED') }, 'GET https://api.test/x failed without a response: ECONNREFUSED'],
  ] as const)('should word %o as %s', (details, message) => {
    expect(httpError(details).message).toBe(message);
  });
});

describe('retryAfterMs', () => {
  it.each([
    [null, undefined],
    ['3', 3000],
    ['0', 0],
    ['soon', undefined],
  ] as const)('should read Retry-After %s as %s ms', (value, ms) => {
    expect(retryAfterMs(value)).toBe(ms);
  });

  it('should read an HTTP date as the time until then', () => {
    // Prepare
    const at = new Date(Date.now() + 60_000).toUTCString();

    // Act
    const ms = retryAfterMs(at);

    // Assess
    expect(ms).toBeGreaterThan(55_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });
});

describe('httpDriverError', () => {
  const refusal = () => 'check the credentials';

  it.each([401, 403])('should make a %i a DriverAuthError, never retried', (status) => {
    // Act
    const error = httpDriverError('power off server s1', httpError({ status }), refusal);

    // Assess
    expect(error).toBeInstanceOf(DriverAuthError);
    expect(error.message).toBe('power off server s1: check the credentials');
    expect((error as DriverAuthError).retryable).toBe(false);
  });

  it.each([
    [503, true],
    [409, false],
  ])('should make a %i a DriverError, retryable: %s', (status, retryable) => {
    // Act
    const error = httpDriverError('describe server s1', httpError({ status }), refusal);

    // Assess
    expect(error).toBeInstanceOf(DriverError);
    expect((error as DriverError).retryable).toBe(retryable);
  });

  it('should pass driver errors and the deadline through unchanged', () => {
    // Prepare
    const classified = new DriverError('already classified', { retryable: true });
    const deadline = new DeadlineExceededError('deadline passed');

    // Act
    const results = [classified, deadline].map((error) => httpDriverError('x', error, refusal));

    // Assess
    expect(results).toEqual([classified, deadline]);
    expect(results[0]).toBe(classified);
    expect(results[1]).toBe(deadline);
  });
});
