/**
 * What the drivers' hand-written HTTP clients (OpenStack over `fetch`, Redfish over `node:https`) share: their
 * tuning and limits, one attempt on the wire under the caller's deadline, the retries of transient failures
 * (through `retryWithin` of `functions/lib/wait.ts`), and the check of a JSON answer.
 */

import { type Bounds, type RetryPolicy, retryWithin } from '../functions/lib/wait.js';
import { type ClockOptions, clockOf } from './clock.js';
import { DeadlineExceededError } from './driver.js';
import { HttpError } from './http-error.js';

/** The deadline (epoch ms) and abort signal every request runs under; the shape of a driver call's. */
export type RequestOptions = Pick<Bounds, 'deadline' | 'signal'>;

/** Bounds of the retries of transient failures; counts retries after the first attempt. */
export interface HttpRetryPolicy {
  /** Extra attempts after the first. */
  retries: number;
  /** Ceiling of the first backoff delay; doubles per retry, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** The tuning both clients take, and the drivers pass on: limits, retries, instrumentation, the clock. */
export interface HttpClientTuning<Exchange> extends ClockOptions {
  /** Upper bound of one attempt, further cut to the caller's remaining time. */
  requestTimeoutMs?: number;
  retry?: Partial<HttpRetryPolicy>;
  /** Called after every exchange on the wire, including retried and re-authenticated ones. */
  onExchange?: (exchange: Exchange) => void;
}

/**
 * The limits one client works within, from its tuning and defaults: the timeout of an attempt, the retries
 * of transient failures, the clock, and where exchanges are reported.
 */
export class HttpLimits<Exchange> {
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly now: () => number;
  readonly #onExchange: ((exchange: Exchange) => void) | undefined;

  constructor(
    tuning: HttpClientTuning<Exchange>,
    defaults: { requestTimeoutMs: number; retry: HttpRetryPolicy },
  ) {
    const clock = clockOf(tuning);
    const { retries, baseDelayMs, maxDelayMs } = { ...defaults.retry, ...tuning.retry };
    this.timeoutMs = tuning.requestTimeoutMs ?? defaults.requestTimeoutMs;
    this.retry = { ...clock, maxAttempts: retries + 1, baseDelayMs, maxDelayMs };
    this.now = clock.now;
    this.#onExchange = tuning.onExchange;
  }

  /**
   * Runs `attempt` again after each transient `HttpError` that `own` accepts (a failure of this very
   * request, not of the login or token fetched for it, which its own request already retried), with backoff
   * or the wait `Retry-After` asked for, and never sleeping past the deadline: the caller then gets the real
   * failure while it still has time to act on it.
   */
  retryTransient<T>(
    attempt: () => Promise<T>,
    options: RequestOptions,
    own: (error: HttpError) => boolean,
  ): Promise<T> {
    return retryWithin(attempt, {
      deadline: options.deadline,
      signal: options.signal,
      policy: this.retry,
      retryable: (error) => error instanceof HttpError && error.transient && own(error),
      delayOf: (error) => (error instanceof HttpError ? error.retryAfterMs : undefined),
    });
  }

  /**
   * One exchange on the wire, bounded by the caller's deadline: nothing is sent once it has passed, `send`
   * gets the attempt's time limit (and whether that limit is the deadline itself), every outcome is reported
   * through `describe` with its duration, and the caller's abort comes back as its own reason. Any other
   * failure (no answer) is thrown as `noAnswer` makes it.
   */
  async exchange<R>(
    what: string,
    options: RequestOptions,
    send: (timeoutMs: number, atDeadline: boolean) => Promise<R>,
    describe: (response: R | undefined, durationMs: number) => Exchange,
    noAnswer: (error: unknown) => unknown,
  ): Promise<R> {
    const remaining = options.deadline - this.now();
    if (remaining <= 0) throw new DeadlineExceededError(`deadline passed before ${what}`);
    options.signal?.throwIfAborted();
    const started = this.now();
    const report = (response: R | undefined) => this.#onExchange?.(describe(response, this.now() - started));
    try {
      const response = await send(Math.min(this.timeoutMs, remaining), this.timeoutMs >= remaining);
      report(response);
      return response;
    } catch (error) {
      report(undefined);
      if (options.signal?.aborted) throw options.signal.reason;
      throw noAnswer(error);
    }
  }
}

/**
 * Parses a 2xx JSON body with `parse` (a schema check that throws on a mismatch); any failure becomes what
 * `unusable` makes of its message, so the error names the call and keeps the body.
 */
export function parseJsonBody<T>(
  text: string,
  parse: (value: unknown) => T,
  unusable: (message: string, cause: unknown) => Error,
): T {
  try {
    return parse(JSON.parse(text));
  } catch (error) {
    throw unusable(error instanceof Error ? error.message : String(error), error);
  }
}
