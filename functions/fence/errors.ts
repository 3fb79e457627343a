import { DriverError } from '../../drivers/driver.js';
import { KubeConflictError, KubeUnavailableError } from '../kube/port.js';
import { DeadlineExceededError } from '../lib/deadline.js';

/** Why the fence core stopped a fence; whether a later attempt may help is the error's own to say. */
export abstract class FenceStopError extends Error {
  /** True when a later attempt may get further; false when an operator must look. */
  abstract readonly retryable: boolean;
}

/** One kind of stop: its class, named, and whether it is retried; each kind is one line of the family below. */
function stop<Name extends string>(errorName: Name, retryable: boolean) {
  return class extends FenceStopError {
    override name: string = errorName;
    readonly retryable = retryable;
  };
}

/**
 * An action would break a safety invariant, or the world contradicts the fence (the machine is on again after
 * it was verified off, the Node was replaced): the fence stops and an operator must look. Never retried.
 */
export const SafetyViolationError = stop('SafetyViolationError', false);
export type SafetyViolationError = InstanceType<typeof SafetyViolationError>;

/** The cloud did not reach the wanted power state within ALERTFENCE_POWER_TIMEOUT; a later attempt may. */
export const PowerTimeoutError = stop('PowerTimeoutError', true);
export type PowerTimeoutError = InstanceType<typeof PowerTimeoutError>;

/**
 * alertfence was paused while the fence ran, right before its power-off: the fence stops there, resumable,
 * and waits for the pause to end.
 */
export const FencePausedError = stop('FencePausedError', true);
export type FencePausedError = InstanceType<typeof FencePausedError>;

/**
 * Another invocation took the fence's Lease over (compare-and-swap lost): this one stops at once, and leaves
 * the fence to the one that holds it.
 */
export const LockLostError = stop('LockLostError', false);
export type LockLostError = InstanceType<typeof LockLostError>;

/** Remote trouble that a later attempt can overcome, and the fence's own resumable stops; the rest needs an operator. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof KubeUnavailableError || error instanceof KubeConflictError) return true;
  if (error instanceof DeadlineExceededError) return true;
  if (error instanceof FenceStopError || error instanceof DriverError) return error.retryable;
  return false;
}
/** `Name: message` of anything thrown, for answers, logs and journals. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
