/**
 * The Lambda function's runtime, built once per execution environment on its first event (not at import): the
 * secrets read at run time, the assembly, the continuation (an asynchronous self-invoke) and the app behind
 * `hono/aws-lambda`. A configuration error then answers every request with a 500 and a log line, instead of an
 * init failure that Lambda retries in a loop and the Function URL reports as a bare 502.
 */
import { Hono } from 'hono';
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { ConfigError, type Env } from '../../config.js';
import { createApp } from '../../http/app.js';
import type { Continuation } from '../../http/continuation.js';
import { errorBody } from '../../http/errors.js';
import { deadlineFrom } from '../../lib/deadline.js';
import { captureProcessWarnings, createLogger, type Logger } from '../../log.js';
import { createEmfMetrics, type EmfMetrics } from '../../observability/emf.js';
import { type AssembleOptions, type Assembly, assemble } from '../assemble.js';
import { lambdaContinuationFromConfig } from './continuation.js';
import { resolveSecretArns, type SecretsClient } from './secrets.js';

/** Tests and the demo inject these instead of building them from the environment. */
export interface LambdaHandlerOptions extends AssembleOptions {
  continuation?: Continuation;
  /** Secrets Manager client for `ALERTFENCE_*_SECRET_ARN` (tests point one at moto). */
  secrets?: SecretsClient;
  /** Where the EMF lines of the metrics go; stdout by default, where the runtime sends them to CloudWatch Logs. */
  metricsWrite?: (line: string) => void;
}

type HttpHandler = (event: LambdaEvent, context: LambdaContext) => Promise<unknown>;

/** The built runtime of an execution environment. */
export interface LambdaRuntime {
  assembly: Assembly<EmfMetrics>;
  continuation: Continuation;
  http: HttpHandler;
  /** The invocation's metrics, written as EMF lines when it ends (`flush`). */
  metrics: EmfMetrics;
}

/** Epoch ms by which work started now must be saved: the shorter of the run budget and Lambda's clock. */
export function lambdaDeadline(context: LambdaContext, runBudgetMs: number): number {
  return deadlineFrom(Date.now(), runBudgetMs, context.getRemainingTimeInMillis());
}

/** Answers every request of a misconfigured function, through `handle()` like any other answer. */
const misconfigured = handle(
  new Hono().all('*', (c) =>
    c.json(
      errorBody('misconfigured', 'alertfence is misconfigured; the function log says what to fix', {
        // hono/aws-lambda hands the app `{ event, requestContext, lambdaContext }` as its bindings.
        requestId: (c.env as { lambdaContext?: LambdaContext }).lambdaContext?.awsRequestId,
      }),
      500,
    ),
  ),
) as HttpHandler;

/**
 * The runtime, built on the first event; undefined (the reason logged once per event) while the configuration
 * is invalid. A failed build is tried again on the next event: a secret may be readable then.
 */
export function lambdaRuntime(env: Env, options: LambdaHandlerOptions = {}) {
  const bootLog: Logger = options.log ?? createLogger({ base: { component: 'alertfence' } });
  // On the managed runtime nothing else owns the process: its warnings (the AWS SDK's) become JSON lines too.
  captureProcessWarnings(bootLog);
  let built: Promise<LambdaRuntime> | undefined;
  const build = async (): Promise<LambdaRuntime> => {
    const started = Date.now();
    const resolved = await resolveSecretArns(env, options.secrets);
    const assembly = assemble(resolved, {
      ...options,
      instrument: (config, log) =>
        createEmfMetrics({
          config,
          service: config.metrics.service,
          log,
          ...(options.metricsWrite ? { write: options.metricsWrite } : {}),
          ...(options.now ? { now: options.now } : {}),
        }),
    });
    const { config, service, ready, log, metrics } = assembly;
    if (!metrics) throw new Error('the assembly was asked for metrics and built none');
    const continuation = options.continuation ?? lambdaContinuationFromConfig(config.lambda, log);
    const app = createApp({
      config,
      service,
      ready,
      log,
      continuation,
      deadlineOf: (c) =>
        lambdaDeadline((c.env as { lambdaContext: LambdaContext }).lambdaContext, config.runBudgetMs),
    });
    log.info('runtime built', {
      durationMs: Date.now() - started,
      dryRun: config.dryRun,
      drivers: config.drivers,
    });
    return { assembly, continuation, http: handle(app) as HttpHandler, metrics };
  };
  return {
    async get(context: LambdaContext): Promise<LambdaRuntime | undefined> {
      built ??= build().catch((error: unknown) => {
        built = undefined;
        throw error;
      });
      try {
        return await built;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        bootLog.error('alertfence refuses to work: invalid configuration', {
          requestId: context.awsRequestId,
          reason: error.message,
        });
        return undefined;
      }
    },
    misconfigured,
  };
}
