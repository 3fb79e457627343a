/**
 * Waits bounded by the caller's deadline, shared by the drivers, the Kubernetes layer and the runtimes:
 * polling until something reaches a state, the backoff of retry loops, a deadline-aware sleep, and one retry
 * loop. What is retried and what a failure means stay with each caller.
 */
import { DeadlineExceededError } from './deadline.js';

/** A deadline (epoch ms), an optional abort signal, and a progress callback: what every bounded wait takes. */
export interface Bounds {
  deadline: number;
  signal?: AbortSignal;
  onProgress?: (detail: string) => void;
}

/** Time kept for the last probe itself: a poll that starts at the deadline has no time to answer. */
export const PROBE_RESERVE_MS = 500;

/** Delays between polls, in ms: quick first looks (moto and fast clouds), then a steady pace. */
export const DEFAULT_POLL_SCHEDULE: readonly number[] = [250, 500, 1000, 2000, 3000, 5000];

export interface PollOptions<T> extends Bounds {
  /** Reads the current state. */
  probe: () => Promise<T>;
  /** True when the wanted state is reached. */
  done: (value: T) => boolean;
  /** Called after a probe that is not done; may nudge the cloud (re-issue a dropped call). */
  onPending?: (value: T, attempt: number) => Promise<void> | void;
  /** What is being waited for, for progress lines and the deadline error. */
  what: string;
  describeState?: (value: T) => string;
  schedule?: readonly number[];
  /** Time kept back from the deadline for the last probe; `PROBE_RESERVE_MS` by default. */
  probeReserveMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** Sleeps, waking early (with an error) on abort. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Polls `probe` until `done`, never sleeping past the deadline: the last sleep is shortened so one final
 * probe still has `probeReserveMs` to answer. Throws `DeadlineExceededError` naming the last state seen,
 * also when the deadline cuts off a probe itself (its own `DeadlineExceededError` becomes the `cause`).
 */
export async function pollUntil<T>(options: PollOptions<T>): Promise<T> {
  const schedule = options.schedule ?? DEFAULT_POLL_SCHEDULE;
  const wait = options.sleep ?? sleep;
  const now = options.now ?? Date.now;
  const reserve = options.probeReserveMs ?? PROBE_RESERVE_MS;
  const show = options.describeState ?? ((value: T) => String(value));
  const timedOut = (value: T, cause?: unknown) =>
    new DeadlineExceededError(
      `deadline passed while waiting for ${options.what} (last state: ${show(value)})`,
      cause === undefined ? {} : { cause },
    );
  const startedAt = now();
  let last: { value: T } | undefined;
  for (let attempt = 0; ; attempt++) {
    let value: T;
    try {
      value = await options.probe();
    } catch (error) {
      if (error instanceof DeadlineExceededError && last) throw timedOut(last.value, error);
      throw error;
    }
    if (options.done(value)) return value;
    last = { value };
    const remaining = options.deadline - now() - reserve;
    if (remaining <= 0) throw timedOut(value);
    options.onProgress?.(
      `waiting for ${options.what}: ${show(value)} after ${Math.round((now() - startedAt) / 1000)}s`,
    );
    await options.onPending?.(value, attempt);
    const delay = schedule[Math.min(attempt, schedule.length - 1)] ?? 1000;
    await wait(Math.min(delay, remaining), options.signal);
  }
}

/** Bounds of an exponential backoff with jitter. */
export interface Backoff {
  /** Ceiling of the first delay in ms; doubles per retry up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Uniform in [0, 1); injectable so tests get fixed delays. */
  random: () => number;
}

/** The time source of a wait; injectable so unit tests run on a virtual clock. */
export interface WaitClock {
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Delay before retry number `retry` (0 for the first retry): "equal jitter", half the exponential ceiling
 * plus a random half, so retries never bunch at zero and concurrent fences do not retry in lockstep.
 *
 * @example
 * backoffDelay(2, { baseDelayMs: 200, maxDelayMs: 5000, random: () => 0.5 }); // 600: 3/4 of 800
 */
export function backoffDelay(retry: number, backoff: Backoff): number {
  const ceiling = Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** retry);
  return Math.round(ceiling / 2 + (backoff.random() * ceiling) / 2);
}

/**
 * Sleeps `ms`, or, when waking would reach the deadline, throws what `tooLate` returns at once without
 * sleeping: the caller gets its failure while it still has time to act on it.
 */
export async function sleepWithin(
  ms: number,
  options: Pick<Bounds, 'deadline' | 'signal'>,
  clock: WaitClock,
  tooLate: () => unknown,
): Promise<void> {
  if (clock.now() + ms >= options.deadline) throw tooLate();
  await clock.sleep(ms, options.signal);
}

/** How a call is retried: bounds of the backoff, attempts, and the clock. */
export interface RetryPolicy extends Backoff, WaitClock {
  /** Attempts, the first included; the deadline usually ends a retry loop first. */
  maxAttempts: number;
}

export interface RetryOptions extends Pick<Bounds, 'deadline' | 'signal'> {
  policy: RetryPolicy;
  /** Whether a failure is worth another attempt. */
  retryable: (error: unknown) => boolean;
  /** The delay a failure asks for itself (`Retry-After`), instead of the backoff. */
  delayOf?: (error: unknown) => number | undefined;
  /** Called before each retry, e.g. to log it. */
  onRetry?: (error: unknown, retry: number, delayMs: number) => void;
  /** What to throw when the deadline leaves no time for another attempt; the last error by default. */
  tooLate?: (error: unknown) => unknown;
}

/**
 * Runs `attempt` until it succeeds, retrying the failures `retryable` accepts with backoff while the
 * attempts and the deadline allow; then throws the last failure (or what `tooLate` makes of it).
 *
 * @example
 * await retryWithin(() => fetch(url), { deadline, policy, retryable: isTransient });
 */
export async function retryWithin<T>(
  attempt: (retry: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { policy } = options;
  for (let retry = 0; ; retry++) {
    try {
      return await attempt(retry);
    } catch (error) {
      if (!options.retryable(error) || retry + 1 >= policy.maxAttempts) throw error;
      const delay = options.delayOf?.(error) ?? backoffDelay(retry, policy);
      options.onRetry?.(error, retry + 1, delay);
      await sleepWithin(delay, options, policy, () => (options.tooLate ? options.tooLate(error) : error));
    }
  }
}
