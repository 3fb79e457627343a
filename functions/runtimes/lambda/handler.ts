import type { LambdaContext } from 'hono/aws-lambda';
import type { Env } from '../../config.js';
import { isContinuationEvent, isHttpEvent, isTickEvent } from './events.js';
import { flushNotifications } from './flush.js';
import { type LambdaHandlerOptions, lambdaRuntime } from './runtime.js';
import { tick, UnsupportedEventError, work } from './worker.js';

export { LAMBDA_NOTIFY_FLUSH_MS } from './flush.js';
export type { LambdaHandlerOptions } from './runtime.js';
export { FenceRetryError, UnsupportedEventError, type WorkerResult } from './worker.js';

/** A Lambda handler for every kind of event this function receives. */
export type LambdaHandler = (event: unknown, context: LambdaContext) => Promise<unknown>;

/**
 * The Lambda entrypoint: Function URL requests go to the app through `hono/aws-lambda`; continuation events run
 * the fence worker; the scheduled tick resumes or reports stopped fences (and records the cluster-wide state).
 * What each invocation did is written as CloudWatch EMF lines when it ends, whether it answered or threw.
 *
 * @example
 * export const handler = createLambdaHandler(process.env);
 */
export function createLambdaHandler(env: Env, options: LambdaHandlerOptions = {}): LambdaHandler {
  const runtime = lambdaRuntime(env, options);
  return async (event, context) => {
    const http = isHttpEvent(event);
    if (!http && !isContinuationEvent(event) && !isTickEvent(event)) {
      throw new UnsupportedEventError(
        'expected a Function URL request (payload 2.0), a continuation or the tick',
      );
    }
    const ready = await runtime.get(context);
    if (!ready) return http ? runtime.misconfigured(event, context) : { status: 'misconfigured' };
    try {
      if (http) return await ready.http(event, context);
      return isContinuationEvent(event)
        ? await work(ready, event.handoff, context)
        : await tick(ready, context);
    } finally {
      ready.metrics.flush();
      // Lambda freezes the environment once the handler returns: what is not sent now waits for the next event.
      await flushNotifications(ready, context);
    }
  };
}

/** The handler Lambda calls (`Handler: lambda.handler`). */
export const handler: LambdaHandler = createLambdaHandler(process.env);
