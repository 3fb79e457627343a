import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LambdaContext } from 'hono/aws-lambda';
import { captureProcessWarnings, createLogger } from '../../../functions/log.js';

/**
 * A minimal client of the Lambda Runtime API (`/2018-06-01/runtime/…`): what the managed Node runtime does
 * around a handler, and what `aws-lambda-ric` does in a container image, without its native build. It runs
 * `functions/lambda.ts` under the Runtime Interface Emulator, or in a custom runtime.
 *
 * Reference: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
 */

type Env = Record<string, string | undefined>;

/** A handler as Lambda calls it: the event, the context, a promise of the result. */
export type RuntimeHandler = (event: unknown, context: LambdaContext) => Promise<unknown>;

/** One event from `GET /runtime/invocation/next`. */
export interface Invocation {
  requestId: string;
  /** Epoch ms at which Lambda stops the invocation (`Lambda-Runtime-Deadline-Ms`). */
  deadlineMs: number;
  invokedFunctionArn: string;
  traceId: string | undefined;
  event: unknown;
}

/** The Runtime API answered something a runtime cannot work with. */
export class RuntimeApiError extends Error {
  override name = 'RuntimeApiError';
}

/** The body Lambda expects on `…/error` and `…/init/error`. */
function errorPayload(error: unknown) {
  const failure = error instanceof Error ? error : new Error(String(error));
  return {
    errorType: failure.name,
    errorMessage: failure.message,
    stackTrace: (failure.stack ?? '')
      .split('\n')
      .slice(1)
      .map((line) => line.trim()),
  };
}

/** The few calls of the Runtime API, over one keep-alive connection and without timeouts: `next` long-polls. */
export function runtimeApiClient(address: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const base = `http://${address}/2018-06-01/runtime`;

  const call = (
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> =>
    new Promise((done, fail) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body) ?? 'null');
      const req = request(
        `${base}${path}`,
        {
          method,
          agent,
          headers: {
            ...headers,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            done({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', fail);
        },
      );
      req.on('error', fail);
      req.end(payload);
    });

  const expectAccepted = (what: string, res: { status: number; text: string }) => {
    if (res.status !== 202)
      throw new RuntimeApiError(`${what}: Runtime API answered ${res.status} ${res.text}`);
  };

  return {
    async next(): Promise<Invocation> {
      const res = await call('GET', '/invocation/next');
      if (res.status !== 200)
        throw new RuntimeApiError(`next: Runtime API answered ${res.status} ${res.text}`);
      const header = (name: string) => {
        const value = res.headers[name];
        return Array.isArray(value) ? value[0] : value;
      };
      const requestId = header('lambda-runtime-aws-request-id');
      if (!requestId) throw new RuntimeApiError('next: no Lambda-Runtime-Aws-Request-Id header');
      return {
        requestId,
        deadlineMs: Number(header('lambda-runtime-deadline-ms') ?? Number.NaN),
        invokedFunctionArn: header('lambda-runtime-invoked-function-arn') ?? '',
        traceId: header('lambda-runtime-trace-id'),
        event: res.text === '' ? undefined : JSON.parse(res.text),
      };
    },
    async respond(requestId: string, result: unknown): Promise<void> {
      expectAccepted('response', await call('POST', `/invocation/${requestId}/response`, result ?? null));
    },
    async fail(requestId: string, error: unknown): Promise<void> {
      const body = errorPayload(error);
      expectAccepted(
        'error',
        await call('POST', `/invocation/${requestId}/error`, body, {
          'lambda-runtime-function-error-type': body.errorType,
        }),
      );
    },
    async initError(error: unknown): Promise<void> {
      const body = errorPayload(error);
      await call('POST', '/init/error', body, { 'lambda-runtime-function-error-type': body.errorType });
    },
  };
}

/** The context object a handler receives, as the managed runtime builds it. */
export function invocationContext(invocation: Invocation, env: Env): LambdaContext {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? '',
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
    invokedFunctionArn: invocation.invokedFunctionArn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '',
    awsRequestId: invocation.requestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? '',
    getRemainingTimeInMillis: () => Math.max(0, invocation.deadlineMs - Date.now()),
  };
}

/**
 * Resolves a `_HANDLER` such as `lambda.handler` (file `lambda.mjs` or `lambda.js` in the task root, export
 * `handler`) to the function, as the managed Node runtime does.
 */
export async function loadHandler(spec: string, taskRoot: string): Promise<RuntimeHandler> {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) throw new RuntimeApiError(`handler "${spec}" is not of the form file.export`);
  const file = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const path = ['.mjs', '.js', '.cjs']
    .map((extension) => resolve(taskRoot, `${file}${extension}`))
    .find((candidate) => existsSync(candidate));
  if (!path) throw new RuntimeApiError(`no module ${file}.mjs or ${file}.js in ${taskRoot}`);
  const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const handler = module[name];
  if (typeof handler !== 'function') throw new RuntimeApiError(`${path} exports no function "${name}"`);
  return handler as RuntimeHandler;
}

/**
 * Loads the handler, then serves invocations one at a time until the process is stopped. A failure to load
 * is reported on `/init/error` (Lambda then restarts the environment); a handler's error on `…/error`.
 */
export async function runRuntimeLoop(options: { api: string; handler: string; taskRoot: string; env: Env }) {
  const api = runtimeApiClient(options.api);
  let handler: RuntimeHandler;
  try {
    handler = await loadHandler(options.handler, options.taskRoot);
  } catch (error) {
    await api.initError(error);
    throw error;
  }
  for (;;) {
    const invocation = await api.next();
    // Read by the AWS SDK and X-Ray to tie calls to this invocation's trace.
    if (invocation.traceId) process.env._X_AMZN_TRACE_ID = invocation.traceId;
    else delete process.env._X_AMZN_TRACE_ID;
    let result: unknown;
    try {
      result = await handler(invocation.event, invocationContext(invocation, options.env));
    } catch (error) {
      await api.fail(invocation.requestId, error);
      continue;
    }
    await api.respond(invocation.requestId, result);
  }
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  // Every line the function writes is one JSON object, the runtime's own included: the handler's warnings
  // (the AWS SDK's on Node 20) and this loop's failures go through the same logger as the handler's lines.
  const log = createLogger({ base: { component: 'lambda-bootstrap' } });
  captureProcessWarnings(log);
  const api = process.env.AWS_LAMBDA_RUNTIME_API;
  const handler = process.argv[2] ?? process.env._HANDLER;
  if (!api || !handler) {
    log.error('usage: AWS_LAMBDA_RUNTIME_API=host:port node lambda-bootstrap.mjs file.export');
    process.exit(2);
  }
  runRuntimeLoop({
    api,
    handler,
    taskRoot: process.env.LAMBDA_TASK_ROOT ?? process.cwd(),
    env: process.env,
  }).catch((error: unknown) => {
    log.error('runtime loop stopped', { error, stack: error instanceof Error ? error.stack : undefined });
    process.exit(1);
  });
}
