/** The Lambda function's non-HTTP events: a continuation it sent itself, and the scheduled tick. */
import type { LambdaContext } from 'hono/aws-lambda';
import { parseHandoff } from '../../fence/handoff.js';
import { type LambdaRuntime, lambdaDeadline } from './runtime.js';

/** What the handler answers a worker (continuation) invocation with. */
export interface WorkerResult {
  status: string;
  node: string;
  fence: string;
  phase?: string;
  /** Why nothing ran, when the continuation was refused. */
  reason?: string;
}

/** The event is neither a Function URL request, a continuation nor the tick. */
export class UnsupportedEventError extends Error {
  override name = 'UnsupportedEventError';
}

/**
 * A worker stopped on a failure that a later attempt can overcome. Thrown so that Lambda's own retry of a
 * failed asynchronous event (twice, per the template) resumes the fence: the worker released the journal
 * Lease and kept the hand-over's digest, so the retried event can take it over.
 */
export class FenceRetryError extends Error {
  override name = 'FenceRetryError';
}

/** One worker invocation: continue the fence, and let it hand itself on when time runs short. */
export async function work(
  runtime: LambdaRuntime,
  raw: unknown,
  context: LambdaContext,
): Promise<WorkerResult> {
  const { assembly, continuation } = runtime;
  const parsed = parseHandoff(raw);
  if ('problems' in parsed) {
    throw new UnsupportedEventError(
      `continuation event without a valid handoff: ${parsed.problems.join('; ')}`,
    );
  }
  const { handoff } = parsed;
  const { answer, handoffs } = await assembly.service.continueFence(handoff, {
    requestId: context.awsRequestId,
    deadline: lambdaDeadline(context, assembly.config.runBudgetMs),
  });
  await continuation.continue(handoffs);
  const result: WorkerResult = {
    status: answer.status,
    node: handoff.node,
    fence: handoff.fenceId,
    ...('journal' in answer ? { phase: answer.journal.phase } : { reason: answer.reason }),
  };
  assembly.log.info('worker invocation finished', {
    requestId: context.awsRequestId,
    node: handoff.node,
    fence: handoff.fenceId,
    outcome: result.status,
    remainingMs: context.getRemainingTimeInMillis(),
  });
  if (answer.status === 'retry' && 'journal' in answer) {
    throw new FenceRetryError(
      `fence ${handoff.fenceId} of ${handoff.node} stopped on a retryable failure: ${answer.journal.lastError?.message ?? 'see the journal'}`,
    );
  }
  return result;
}

/**
 * The scheduled tick (an EventBridge schedule's `{"alertfence":"tick"}`): resume or report stale fences, then
 * record the cluster-wide state (fences running and waiting, the pause, readiness) as this invocation's
 * metrics: on Lambda nothing scrapes, so the tick is what reports the state every ALERTFENCE_TICK_INTERVAL.
 */
export async function tick(runtime: LambdaRuntime, context: LambdaContext) {
  const { assembly, continuation, metrics } = runtime;
  const { answer, handoffs } = await assembly.service.tick({
    requestId: context.awsRequestId,
    deadline: lambdaDeadline(context, assembly.config.runBudgetMs),
  });
  await continuation.continue(handoffs);
  await metrics.recordState({ overview: (read) => assembly.service.overview(read), ready: assembly.ready });
  const outcomes: Record<string, number> = {};
  for (const result of answer) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
  return { status: 'ticked', fences: answer.length, outcomes };
}
