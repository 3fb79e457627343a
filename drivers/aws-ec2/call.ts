/**
 * One EC2 call bounded by the invocation's deadline: an abort signal that fires at the deadline (or with
 * the caller's), and explicit retries with backoff for throttling and server faults that stop before the
 * deadline. The SDK clients the driver builds have `maxAttempts: 1`, so these are the only retries.
 */

import { sleep as defaultSleep, type RetryPolicy, retryWithin } from '../../functions/lib/wait.js';
import { type CallOptions, DeadlineExceededError } from '../driver.js';
import { awsErrorCode, classifyEc2Error, isRetryableKind } from './errors.js';

export type { RetryPolicy };

/** 200 ms doubling to 5 s, 8 attempts: about 20 s of backoff at most, less when the deadline is nearer. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseDelayMs: 200,
  maxDelayMs: 5000,
  maxAttempts: 8,
  sleep: defaultSleep,
  now: Date.now,
  random: Math.random,
};

/**
 * Runs `operation` (one SDK call, given an abort signal to pass on) until it succeeds, retrying throttling
 * and transient faults with backoff while the deadline allows.
 *
 * Throws `DeadlineExceededError` when the deadline passes (the in-flight request is aborted) or the caller
 * aborts (with the abort reason as `cause`), and otherwise the call's last error unchanged, so the caller
 * can act on its code (`IncorrectInstanceState`, `DryRunOperation`, …).
 */
export async function callWithin<T>(
  operation: (abortSignal: AbortSignal) => Promise<T>,
  options: CallOptions,
  policy: RetryPolicy,
  what: string,
): Promise<T> {
  return retryWithin(
    async () => {
      const remaining = options.deadline - policy.now();
      if (remaining <= 0) throw new DeadlineExceededError(`deadline passed before ${what}`);
      if (options.signal?.aborted) throw abortedError(options.signal, what);
      try {
        return await raceDeadline(operation, remaining, options.signal, what);
      } catch (error) {
        if (options.signal?.aborted) throw abortedError(options.signal, what);
        throw error;
      }
    },
    {
      deadline: options.deadline,
      ...(options.signal ? { signal: options.signal } : {}),
      policy,
      retryable: (error) =>
        !(error instanceof DeadlineExceededError) && isRetryableKind(classifyEc2Error(error)),
      onRetry: (error, retry) =>
        options.onProgress?.(
          `${what}: ${classifyEc2Error(error)} (${awsErrorCode(error) ?? 'error'}), retry ${retry}`,
        ),
      tooLate: (error) =>
        new DeadlineExceededError(`deadline passed before retrying ${what}`, { cause: error }),
    },
  );
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs one attempt with an abort signal that fires after `ms` or when the caller aborts, and settles no
 * later than that even if the SDK is still busy (e.g. resolving credentials, which does not observe the
 * signal).
 */
async function raceDeadline<T>(
  operation: (abortSignal: AbortSignal) => Promise<T>,
  ms: number,
  callerSignal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(callerSignal?.reason);
  callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  // setTimeout fires at once for delays beyond 2^31-1 ms; a far (or infinite) deadline needs no timer.
  const timer =
    ms <= MAX_TIMER_MS
      ? setTimeout(() => controller.abort(new DeadlineExceededError(`deadline passed during ${what}`)), ms)
      : undefined;
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  const pending = operation(controller.signal);
  // Whichever side loses the race may reject later; that is not a failure of this call.
  aborted.catch(() => {});
  pending.catch(() => {});
  try {
    return await Promise.race([pending, aborted]);
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
  }
}

// The caller aborts when its invocation is about to end: to the workflow that is a deadline, and retryable.
function abortedError(signal: AbortSignal, what: string): DeadlineExceededError {
  return new DeadlineExceededError(`${what} aborted by the caller`, { cause: signal.reason });
}
