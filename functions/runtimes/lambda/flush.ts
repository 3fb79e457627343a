import type { LambdaContext } from 'hono/aws-lambda';
import type { LambdaRuntime } from './runtime.js';

/**
 * How long an invocation waits, at its end, for its notifications to be sent. Short: a Function URL answers
 * only when the handler returns, so a receiver that hangs delays Alertmanager's answer by at most this.
 */
export const LAMBDA_NOTIFY_FLUSH_MS = 2_000;
/** Left of the invocation's time after the flush, to return before Lambda's timeout. */
const FLUSH_MARGIN_MS = 500;

/**
 * Sends what the invocation queued for the receivers: Lambda freezes the environment once the handler
 * returns, so what is not sent now waits for the next event.
 */
export async function flushNotifications(ready: LambdaRuntime, context: LambdaContext): Promise<void> {
  const budget = Math.min(LAMBDA_NOTIFY_FLUSH_MS, context.getRemainingTimeInMillis() - FLUSH_MARGIN_MS);
  const { pending } = await ready.assembly.notifier.flush(Date.now() + Math.max(0, budget));
  if (pending > 0) {
    ready.assembly.log.warn('notifications still pending as the invocation ends: sent when it next runs', {
      requestId: context.awsRequestId,
      pending,
    });
  }
}
