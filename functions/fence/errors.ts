/** A step would break a safety invariant of the design; the fence stops and an operator must look. */
export class SafetyViolationError extends Error {
  override name = 'SafetyViolationError';
}

/** The cloud did not reach the wanted power state within ALERTFENCE_POWER_TIMEOUT. */
export class PowerTimeoutError extends Error {
  override name = 'PowerTimeoutError';
}

/** Another invocation took the fence's Lease over (compare-and-swap lost): this one stops at once. */
export class LockLostError extends Error {
  override name = 'LockLostError';
}
