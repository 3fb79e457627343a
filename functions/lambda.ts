import type { Context } from 'hono';
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import type { PowerDriver } from '../drivers/driver.js';
import { ConfigError } from './config.js';
import { type Continuation, parseHandoff } from './fence/handoff.js';
import { errorBody } from './http/errors.js';
import type { KubePort } from './kube/port.js';
import { isContinuationEvent, isTickEvent, lambdaContinuationFromEnv } from './lambda-continuation.js';
import { resolveSecretArns, type SecretsClient } from './lambda-secrets.js';
import { createLogger, type Logger } from './log.js';
import { buildRuntime, type Runtime } from './wiring.js';

type Env = Record<string, string | undefined>;

/**
 * Time kept back from the invocation's remaining time to send the continuation and answer, on top of the
 * executor's own margin for saving the journal.
 */
const HANDOFF_MARGIN_MS = 2_000;

/** What the handler answers a worker (continuation) invocation with. */
export interface WorkerResult {
  status: string;
  node: string;
  fence: string;
  phase?: string;
  /** Why nothing ran, when the continuation was refused. */
  reason?: string;
}

/** A Lambda handler for both kinds of events this function receives. */
export type LambdaHandler = (event: unknown, context: LambdaContext) => Promise<unknown>;

/** Tests and the demo inject these instead of building them from the environment. */
export interface LambdaHandlerOptions {
  kube?: KubePort;
  drivers?: PowerDriver[];
  continuation?: Continuation;
  log?: Logger;
  /** Secrets Manager client for `ALERTFENCE_*_SECRET_ARN` (tests point one at moto). */
  secrets?: SecretsClient;
  /** The fence service's clock (tests). */
  now?: () => number;
}

/** The event is neither a Function URL request nor a continuation. */
export class UnsupportedEventError extends Error {
  override name = 'UnsupportedEventError';
}

/**
 * A worker stopped on a failure that a later attempt can overcome. Thrown so that Lambda's own retry of a
 * failed asynchronous event (twice by default, a minute and then two apart) resumes the fence: the worker
 * released the journal Lease, so the retried event can take it over.
 */
export class FenceRetryError extends Error {
  override name = 'FenceRetryError';
}

type LambdaBindings = { lambdaContext: LambdaContext };

type HttpHandler = (event: LambdaEvent, context: LambdaContext) => Promise<unknown>;

/** Epoch ms by which work started now must be saved: the shorter of the run budget and Lambda's clock. */
function deadlineOf(context: LambdaContext, runBudgetMs: number): number {
  return Date.now() + Math.min(runBudgetMs, context.getRemainingTimeInMillis() - HANDOFF_MARGIN_MS);
}

function isHttpEvent(event: unknown): event is LambdaEvent {
  return typeof event === 'object' && event !== null && 'requestContext' in event;
}

/**
 * The Lambda entrypoint, as a factory: Function URL events (payload 2.0) go to the HTTP app through
 * `hono/aws-lambda`; continuation events run the fence worker until it is done or the invocation's time runs
 * short, and then it hands itself the rest.
 *
 * The runtime is built once per execution environment, on the first event rather than at import: a
 * `ConfigError` then becomes a 500 with a JSON body and a log line on every request, instead of an init
 * failure that Lambda retries in a loop and that the Function URL reports as a bare 502.
 *
 * @example
 * export const handler = createLambdaHandler(process.env);
 */
export function createLambdaHandler(env: Env, options: LambdaHandlerOptions = {}): LambdaHandler {
  const bootLog = options.log ?? createLogger({ base: { component: 'alertfence' } });
  let built: { runtime: Runtime; http: HttpHandler } | undefined;

  const build = async () => {
    if (built) return built;
    const started = Date.now();
    let continuation: Continuation | undefined;
    let runBudgetMs = 0;
    // Secrets first (tokens, journal key): read at run time, never baked into the configuration.
    const resolved = await resolveSecretArns(env, options.secrets);
    if (built) return built;
    const runtime = buildRuntime(resolved, {
      // The continuation logs through the runtime's logger, which exists only once the runtime does.
      continuation: {
        schedule: async (handoff) => {
          if (!continuation) throw new Error('continuation scheduled before the runtime was built');
          await continuation.schedule(handoff);
        },
      },
      // hono/aws-lambda hands the app `{ event, requestContext, lambdaContext }` as its bindings.
      deadlineOf: (c: Context) => deadlineOf((c.env as LambdaBindings).lambdaContext, runBudgetMs),
      ...(options.kube ? { kube: options.kube } : {}),
      ...(options.drivers ? { drivers: options.drivers } : {}),
      ...(options.log ? { log: options.log } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    continuation = options.continuation ?? lambdaContinuationFromEnv(runtime.env, runtime.log);
    runBudgetMs = runtime.config.runBudgetMs;
    runtime.log.info('runtime built', {
      durationMs: Date.now() - started,
      dryRun: runtime.config.dryRun,
      drivers: runtime.config.drivers,
    });
    built = { runtime, http: handle(runtime.app) as HttpHandler };
    return built;
  };

  /** The built runtime; undefined, once logged, when the configuration is invalid. */
  const buildOrLog = async (context: LambdaContext) => {
    try {
      return await build();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      bootLog.error('alertfence refuses to work: invalid configuration', {
        requestId: context.awsRequestId,
        reason: error.message,
      });
      return undefined;
    }
  };

  return async (event, context) => {
    if (isContinuationEvent(event)) {
      const ready = await buildOrLog(context);
      if (!ready) return { status: 'misconfigured' };
      return work(ready.runtime, event.handoff, context);
    }
    if (isTickEvent(event)) {
      const ready = await buildOrLog(context);
      if (!ready) return { status: 'misconfigured' };
      return tick(ready.runtime, context);
    }
    if (isHttpEvent(event)) {
      const ready = await buildOrLog(context);
      if (!ready) {
        // The Function URL is public: the details stay in the log, the answer says where to find them.
        return {
          statusCode: 500,
          headers: { 'content-type': 'application/json' },
          isBase64Encoded: false,
          body: JSON.stringify(
            errorBody('misconfigured', 'alertfence is misconfigured; the function log says what to fix', {
              requestId: context.awsRequestId,
            }),
          ),
        };
      }
      return ready.http(event, context);
    }
    throw new UnsupportedEventError(
      'expected a Function URL request (payload 2.0), an alertfence continuation event or the scheduled tick',
    );
  };
}

/** The scheduled tick (an EventBridge schedule's `{"alertfence":"tick"}`): resume or report stale fences. */
async function tick(runtime: Runtime, context: LambdaContext) {
  const results = await runtime.service.tick({
    requestId: context.awsRequestId,
    deadline: deadlineOf(context, runtime.config.runBudgetMs),
  });
  const outcomes: Record<string, number> = {};
  for (const result of results) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
  return { status: 'ticked', fences: results.length, outcomes };
}

/** One worker invocation: continue the fence, and let it hand itself on when time runs short. */
async function work(runtime: Runtime, raw: unknown, context: LambdaContext): Promise<WorkerResult> {
  const parsed = parseHandoff(raw);
  if ('problems' in parsed) {
    throw new UnsupportedEventError(
      `continuation event without a valid handoff: ${parsed.problems.join('; ')}`,
    );
  }
  const { handoff } = parsed;
  const result = await runtime.service.continueFence(handoff, {
    requestId: context.awsRequestId,
    deadline: deadlineOf(context, runtime.config.runBudgetMs),
  });
  const answer: WorkerResult = {
    status: result.status,
    node: handoff.node,
    fence: handoff.fenceId,
    ...('journal' in result ? { phase: result.journal.phase } : { reason: result.reason }),
  };
  runtime.log.info('worker invocation finished', {
    requestId: context.awsRequestId,
    node: handoff.node,
    fence: handoff.fenceId,
    outcome: answer.status,
    remainingMs: context.getRemainingTimeInMillis(),
  });
  if (result.status === 'retry' && 'journal' in result) {
    throw new FenceRetryError(
      `fence ${handoff.fenceId} of ${handoff.node} stopped on a retryable failure: ${result.journal.lastError?.message ?? 'see the journal'}`,
    );
  }
  return answer;
}

/** The handler Lambda calls (`Handler: lambda.handler`). */
export const handler: LambdaHandler = createLambdaHandler(process.env);
