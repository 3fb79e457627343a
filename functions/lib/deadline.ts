/**
 * Time: the deadline every wait and call is bounded by, the error when it passes first, and the margins an
 * invocation keeps back from its own deadline. One place, so the layers agree on what "time is up" means.
 */

/** The deadline passed before an answer or the wanted state; a later attempt may succeed. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError';
  /** Always: another invocation, with time of its own, can try again. */
  readonly retryable = true;
}

/**
 * What an invocation keeps back from its deadline, in ms. A phase's run (and any wait in it) ends by
 * `deadline - save`; a runtime hands a fence on by `remaining - handoff`; an in-invocation retry is tried only
 * with `retry` left.
 */
export const TIME_MARGINS = {
  /** Saving the journal after the last phase and handing the fence on. */
  saveMs: 3_000,
  /** Sending the continuation (Lambda Invoke, the OpenFaaS queue) and answering, before the runtime cuts off. */
  handoffMs: 2_000,
  /** Room an in-invocation retry needs to run a phase and save it. */
  retryMs: 10_000,
} as const;

/**
 * The deadline of work started now: the run budget, or what the runtime gives the invocation less the hand-over
 * margin, whichever ends first.
 *
 * @example
 * deadlineFrom(Date.now(), 14 * 60_000, context.getRemainingTimeInMillis());
 */
export function deadlineFrom(now: number, runBudgetMs: number, remainingMs?: number): number {
  if (remainingMs === undefined) return now + runBudgetMs;
  return now + Math.min(runBudgetMs, remainingMs - TIME_MARGINS.handoffMs);
}
