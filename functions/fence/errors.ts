import { DriverError } from '../../drivers/driver.js';
import { KubeConflictError, KubeUnavailableError } from '../kube/port.js';
import { DeadlineExceededError } from '../lib/deadline.js';

/**
 * An action would break a safety invariant, or the world contradicts the fence (the machine is on again after it
 * was verified off, the Node was replaced): the fence stops and an operator must look. Never retried.
 */
export class SafetyViolationError extends Error {
  override name = 'SafetyViolationError';
}

/** The cloud did not reach the wanted power state within ALERTFENCE_POWER_TIMEOUT; a later attempt may. */
export class PowerTimeoutError extends Error {
  override name = 'PowerTimeoutError';
}

/**
 * alertfence was paused while the fence ran, right before its power-off: the fence stops there, resumable,
 * and waits for the pause to end.
 */
export class FencePausedError extends Error {
  override name = 'FencePausedError';
}

/** Another invocation took the fence's Lease over (compare-and-swap lost): this one stops at once. */
export class LockLostError extends Error {
  override name = 'LockLostError';
}

/** Remote trouble that a later attempt can overcome; everything else needs an operator. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof KubeUnavailableError || error instanceof KubeConflictError) return true;
  if (error instanceof PowerTimeoutError || error instanceof DeadlineExceededError) return true;
  if (error instanceof FencePausedError) return true;
  if (error instanceof DriverError) return error.retryable;
  return false;
}

/** `Name: message` of anything thrown, for answers, logs and journals. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
