import { dirname } from 'node:path';
import { freePort, type PeerProcess, startProcess } from '../../../peers/process.js';
import { isolatedEnv, portAccepts } from './env.js';
import { type RuntimeBinary, requireRuntimeBinary } from './runtime-binaries.js';

/**
 * The AWS Lambda Runtime Interface Emulator: `$ALERTFENCE_RIE_BIN`, else `aws-lambda-rie` in the peers' bin
 * directory, where `test/peers/go/build.sh` (run by `.ci/run`) builds the pinned version.
 */
export const LAMBDA_RIE: RuntimeBinary = {
  name: 'aws-lambda-rie',
  envVar: 'ALERTFENCE_RIE_BIN',
  module: 'github.com/aws/aws-lambda-runtime-interface-emulator',
  howToGet: 'Build it with: bash test/peers/go/build.sh aws-lambda-rie (about a minute; .ci/run does it).',
};

export interface RieOptions {
  /** The handler bundle, e.g. `<dir>/lambda/lambda.mjs`; its directory is the task root. */
  handlerFile: string;
  /** The Runtime API client (`lambda-bootstrap.mjs`). */
  bootstrapFile: string;
  /** Environment of the function (the emulator passes its own environment on). */
  env: Record<string, string>;
  /** The function's timeout in seconds (`AWS_LAMBDA_FUNCTION_TIMEOUT`). Default 30. */
  timeoutSeconds?: number;
}

export interface InvokeResult {
  /** HTTP status of the emulator's invoke API (200 also for a function error, as Lambda's Invoke API). */
  status: number;
  /** The function's result, JSON-decoded. */
  payload: unknown;
  durationMs: number;
}

/** The Lambda Runtime Interface Emulator running one function. */
export interface Rie {
  url: string;
  process: PeerProcess;
  /** Synchronous invoke, as `POST /2015-03-31/functions/function/invocations`. */
  invoke(event: unknown): Promise<InvokeResult>;
  /** The init phase as the emulator measured it (`INIT REPORT(durationMs: …)`), once it has run. */
  initDurationMs(): number | undefined;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real Lambda Runtime Interface Emulator with `node lambda-bootstrap.mjs <file>.handler` as the
 * runtime: the emulator serves the Runtime API to it and the Invoke API to the test.
 */
export async function startRie(options: RieOptions): Promise<Rie> {
  const command = requireRuntimeBinary(LAMBDA_RIE);
  const [invokePort, runtimePort] = [await freePort(), await freePort()];
  const taskRoot = dirname(options.handlerFile);
  const module = options.handlerFile.slice(taskRoot.length + 1).replace(/\.m?js$/, '');
  const process_ = await startProcess({
    name: 'aws-lambda-rie',
    command,
    args: [
      `--runtime-interface-emulator-address=127.0.0.1:${invokePort}`,
      `--runtime-api-address=127.0.0.1:${runtimePort}`,
      '--log-level=info',
      // As the template deploys it: no --enable-source-maps (it costs cold start).
      process.execPath,
      options.bootstrapFile,
      `${module}.handler`,
    ],
    cwd: taskRoot,
    env: isolatedEnv({
      AWS_LAMBDA_FUNCTION_NAME: 'alertfence',
      AWS_LAMBDA_FUNCTION_TIMEOUT: String(options.timeoutSeconds ?? 30),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      LAMBDA_TASK_ROOT: taskRoot,
      ...options.env,
    }),
    ready: () => portAccepts(invokePort),
    timeoutMs: 15_000,
  });
  const url = `http://127.0.0.1:${invokePort}`;
  return {
    url,
    process: process_,
    async invoke(event) {
      const started = performance.now();
      const response = await fetch(`${url}/2015-03-31/functions/function/invocations`, {
        method: 'POST',
        body: JSON.stringify(event),
      });
      const text = await response.text();
      let payload: unknown = text;
      try {
        payload = JSON.parse(text);
      } catch {
        // The emulator answers plain text on a timeout ("Task timed out after …").
      }
      return { status: response.status, payload, durationMs: performance.now() - started };
    },
    initDurationMs() {
      const match = /INIT REPORT\(durationMs: ([\d.]+)\)/.exec(process_.logs());
      return match ? Number(match[1]) : undefined;
    },
    logs: () => process_.logs(),
    stop: () => process_.stop(),
  };
}
