import { dirname } from 'node:path';
import {
  type InvocationResult,
  type InvokeOptions,
  type LambdaRuntimeApiFake,
  startLambdaRuntimeApiFake,
} from '../../../fakes/lambda-runtime-api.js';
import { type PeerProcess, startProcess } from '../../../peers/process.js';
import { isolatedEnv } from './env.js';

export interface LambdaRuntimeOptions {
  /** The handler bundle, e.g. `<dir>/lambda/lambda.mjs`; its directory is the task root. */
  handlerFile: string;
  /** The Runtime API client (`lambda-bootstrap.mjs`). */
  bootstrapFile: string;
  /** The function's own settings (`Environment.Variables`). */
  env: Record<string, string>;
}

/** The bootstrap bundle running a handler bundle against the Runtime API fake. */
export interface LambdaRuntime {
  api: LambdaRuntimeApiFake;
  process: PeerProcess;
  invoke(event: unknown, options?: InvokeOptions): Promise<InvocationResult>;
  logs(): string;
  stop(): Promise<void>;
}

/** `lambda.handler` for `<task root>/lambda.mjs`. */
export function handlerSpec(handlerFile: string, exportName = 'handler'): string {
  const taskRoot = dirname(handlerFile);
  return `${handlerFile.slice(taskRoot.length + 1).replace(/\.m?js$/, '')}.${exportName}`;
}

/**
 * The environment Lambda gives a runtime process: its reserved variables ("Defined runtime environment
 * variables" in the Lambda developer guide), dummy credentials, and the function's own settings. No function
 * timeout: the runtime learns its time from each event's `Lambda-Runtime-Deadline-Ms`.
 */
export function runtimeEnvironment(
  api: LambdaRuntimeApiFake,
  handlerFile: string,
  handler: string,
  env: Record<string, string>,
): Record<string, string | undefined> {
  return isolatedEnv({
    AWS_LAMBDA_RUNTIME_API: api.address,
    _HANDLER: handler,
    LAMBDA_TASK_ROOT: dirname(handlerFile),
    AWS_LAMBDA_FUNCTION_NAME: 'alertfence',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    ...env,
  });
}

/**
 * Starts the Runtime API fake and `node lambda-bootstrap.mjs <file>.handler` against it, as the managed
 * runtime starts a function (no `--enable-source-maps`, as the template deploys it), and waits until the
 * runtime polls for its first event, which is when Lambda's init phase ends.
 */
export async function startLambdaRuntime(options: LambdaRuntimeOptions): Promise<LambdaRuntime> {
  const api = await startLambdaRuntimeApiFake();
  const handler = handlerSpec(options.handlerFile);
  try {
    const peer = await startProcess({
      name: 'lambda-bootstrap',
      command: process.execPath,
      args: [options.bootstrapFile, handler],
      cwd: dirname(options.handlerFile),
      env: runtimeEnvironment(api, options.handlerFile, handler, options.env),
      ready: async () => api.isPolling(),
      timeoutMs: 15_000,
    });
    return {
      api,
      process: peer,
      invoke: (event, invokeOptions) => api.invoke(event, invokeOptions),
      logs: () => peer.logs(),
      async stop() {
        await peer.stop();
        await api.stop();
      },
    };
  } catch (error) {
    await api.stop();
    throw error;
  }
}
