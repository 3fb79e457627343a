/**
 * A contract fake of the AWS Lambda Runtime API, version 2018-06-01: the HTTP API that a runtime inside a
 * Lambda execution environment long-polls for events and answers on. Written from the AWS reference, "Using
 * the Lambda runtime API for custom runtimes" (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
 * and its OpenAPI document (`samples/runtime-api.zip` there), not from an emulator's code.
 *
 * It stands in, in CI, for the AWS Lambda Runtime Interface Emulator, which cannot be installed on this
 * project's machines (the Go module proxy answers 403 for it); `test/emulators/` runs the same bundle under
 * the real emulator where one is provided, and that remains the stronger proof.
 *
 * Modelled: one execution environment serving one invocation at a time (not Managed Instances); `next`
 * blocks until an event is queued and answers it with the `Lambda-Runtime-Aws-Request-Id`,
 * `Lambda-Runtime-Deadline-Ms`, `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id` headers;
 * `…/response` and `…/error` answer 202, or 400 for a request id that is not awaiting an answer; an
 * `init/error` is served "in response to the first invoke" (and every later one), and the runtime "should exit
 * after reporting the error". An invocation not answered by its deadline ends as `timeout`.
 *
 * Not modelled: payload limits (6 MB, 413), response streaming, the Client-Context and Cognito-Identity
 * headers, extensions and the Telemetry API, freezing the process between events. At a deadline Lambda stops
 * the environment; the fake does not (the test owns the process), it only refuses the late answer.
 *
 * Whatever a runtime does that the reference does not allow is recorded in `violations`, so a test can
 * assert the runtime kept to the contract, not just that it got its answers through. The reference defines
 * the shape of an ErrorResponse, not its `errorType` values: those the fake answers with are its own.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const PREFIX = '/2018-06-01/runtime';
/** The function's timeout when an invoke names none (Lambda's own default is 3 s, too short for a test). */
const DEFAULT_TIMEOUT_MS = 30_000;

/** What the fake puts in `Lambda-Runtime-Invoked-Function-Arn`. */
export const INVOKED_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:alertfence';

export interface InvokeOptions {
  /** The function's timeout for this invocation: the deadline is the moment `next` delivers it plus this. */
  timeoutMs?: number;
}

/** How an invocation ended, as the caller of Lambda's Invoke API would learn it. */
export interface InvocationResult {
  requestId: string;
  /**
   * `response`: the runtime posted `…/response`; `error`: it posted `…/error`, or `init/error` before it;
   * `timeout`: nothing came back by the deadline.
   */
  outcome: 'response' | 'error' | 'timeout';
  /** The body the runtime posted, JSON-decoded when it is JSON: the result, or an ErrorRequest. */
  payload: unknown;
  /** The `Lambda-Runtime-Function-Error-Type` header of an error. */
  errorType?: string | undefined;
  /** The `Lambda-Runtime-Trace-Id` sent with the event (none for an init error served in its place). */
  traceId?: string | undefined;
  /** The epoch ms sent as `Lambda-Runtime-Deadline-Ms` (for an init error: when it was served). */
  deadlineMs: number;
  /** Epoch ms at which the answer arrived or the deadline passed. */
  answeredAt: number;
  /** From the invoke to the answer, as the caller measures it. */
  durationMs: number;
}

/** An error a runtime reported on `POST /runtime/init/error`. */
export interface InitError {
  errorType: string | undefined;
  payload: unknown;
}

export interface LambdaRuntimeApiFake {
  /** `host:port`: the value of `AWS_LAMBDA_RUNTIME_API` for the runtime. */
  address: string;
  /** Queues an event, as an Invoke does, and resolves once the runtime has answered it or its deadline passed. */
  invoke(event: unknown, options?: InvokeOptions): Promise<InvocationResult>;
  /** True while the runtime waits on `GET …/invocation/next`: it has initialised and is idle. */
  isPolling(): boolean;
  initErrors: InitError[];
  /** Calls the reference does not allow, in order; empty for a runtime that keeps to the contract. */
  violations: string[];
  stop(): Promise<void>;
}

interface Invocation {
  requestId: string;
  event: unknown;
  timeoutMs: number;
  invokedAt: number;
  deadlineMs?: number;
  traceId?: string;
  timer?: NodeJS.Timeout;
  state: 'queued' | 'delivered' | 'answered' | 'timed-out';
  resolve(result: InvocationResult): void;
  reject(error: Error): void;
}

/** An X-Ray trace header as Lambda passes it (`Root=1-<epoch hex>-<96 bits>;Parent=<64 bits>;Sampled=0`). */
function traceHeader(): string {
  const epoch = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The ErrorRequest schema: `{ errorMessage, errorType, stackTrace? }`, every field a string (array). */
function isErrorRequest(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { errorMessage, errorType, stackTrace } = value as Record<string, unknown>;
  return (
    typeof errorMessage === 'string' &&
    typeof errorType === 'string' &&
    (stackTrace === undefined ||
      (Array.isArray(stackTrace) && stackTrace.every((line) => typeof line === 'string')))
  );
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/**
 * Starts the fake on a free loopback port.
 *
 * @example
 * const api = await startLambdaRuntimeApiFake();
 * // run the runtime with AWS_LAMBDA_RUNTIME_API=api.address, then:
 * const result = await api.invoke(event, { timeoutMs: 6_000 });
 */
export async function startLambdaRuntimeApiFake(): Promise<LambdaRuntimeApiFake> {
  const queue: Invocation[] = [];
  const byId = new Map<string, Invocation>();
  const initErrors: InitError[] = [];
  const violations: string[] = [];
  let inFlight: Invocation | undefined;
  let parked: ServerResponse | undefined;

  const finish = (
    invocation: Invocation,
    ended: Omit<InvocationResult, 'requestId' | 'traceId' | 'deadlineMs' | 'answeredAt' | 'durationMs'>,
  ) => {
    clearTimeout(invocation.timer);
    if (inFlight === invocation) inFlight = undefined;
    invocation.resolve({
      requestId: invocation.requestId,
      traceId: invocation.traceId,
      deadlineMs: invocation.deadlineMs ?? Date.now(),
      answeredAt: Date.now(),
      durationMs: performance.now() - invocation.invokedAt,
      ...ended,
    });
  };

  const serveInitError = (invocation: Invocation, error: InitError) => {
    invocation.state = 'answered';
    finish(invocation, { outcome: 'error', payload: error.payload, errorType: error.errorType });
  };

  const deliver = (invocation: Invocation, res: ServerResponse) => {
    invocation.state = 'delivered';
    invocation.deadlineMs = Date.now() + invocation.timeoutMs;
    invocation.traceId = traceHeader();
    inFlight = invocation;
    byId.set(invocation.requestId, invocation);
    res
      .writeHead(200, {
        'content-type': 'application/json',
        'lambda-runtime-aws-request-id': invocation.requestId,
        'lambda-runtime-deadline-ms': String(invocation.deadlineMs),
        'lambda-runtime-invoked-function-arn': INVOKED_FUNCTION_ARN,
        'lambda-runtime-trace-id': invocation.traceId,
      })
      .end(JSON.stringify(invocation.event));
    invocation.timer = setTimeout(() => {
      if (invocation.state !== 'delivered') return;
      invocation.state = 'timed-out';
      finish(invocation, { outcome: 'timeout', payload: undefined });
    }, invocation.timeoutMs);
  };

  const next = (res: ServerResponse) => {
    if (initErrors.length > 0) {
      // The reference: after init/error the runtime should exit; the environment is not recoverable (500).
      violations.push('GET next after POST init/error: the runtime should have exited');
      send(res, 500, { errorMessage: 'init failed; exit', errorType: 'InitFailed' });
      return;
    }
    if (inFlight || parked) {
      violations.push(
        inFlight
          ? `GET next while invocation ${inFlight.requestId} is unanswered`
          : 'a second GET next while one is waiting',
      );
      send(res, 403, { errorMessage: 'one invocation at a time', errorType: 'InvalidStateTransition' });
      return;
    }
    const queued = queue.shift();
    if (queued) {
      deliver(queued, res);
      return;
    }
    parked = res;
    res.once('close', () => {
      if (parked === res) parked = undefined;
    });
  };

  const answer = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    kind: 'response' | 'error',
  ) => {
    const text = await readBody(req);
    const invocation = byId.get(requestId);
    if (invocation?.state !== 'delivered') {
      // A late answer after the deadline is refused, not a violation: Lambda would have stopped the runtime.
      if (invocation?.state !== 'timed-out') {
        violations.push(`POST ${kind} for request ${requestId}, which is not awaiting an answer`);
      }
      send(res, 400, {
        errorMessage: `request ${requestId} is not awaiting an answer`,
        errorType: 'InvalidRequestID',
      });
      return;
    }
    const payload = decode(text);
    if (kind === 'error' && !isErrorRequest(payload)) {
      violations.push(
        `POST error for request ${requestId} without an ErrorRequest body: ${text.slice(0, 200)}`,
      );
    }
    invocation.state = 'answered';
    send(res, 202, { status: 'OK' });
    const errorType = req.headers['lambda-runtime-function-error-type'] as string | undefined;
    finish(
      invocation,
      kind === 'response' ? { outcome: 'response', payload } : { outcome: 'error', payload, errorType },
    );
  };

  const initError = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req);
    if (byId.size > 0) violations.push('POST init/error after the first invocation was delivered');
    const payload = decode(text);
    if (!isErrorRequest(payload)) {
      violations.push(`POST init/error without an ErrorRequest body: ${text.slice(0, 200)}`);
    }
    const error: InitError = {
      errorType: req.headers['lambda-runtime-function-error-type'] as string | undefined,
      payload,
    };
    initErrors.push(error);
    send(res, 202, { status: 'OK' });
    for (const queued of queue.splice(0)) serveInitError(queued, error);
  };

  const server = createServer((req, res) => {
    const path = req.url?.startsWith(PREFIX) ? req.url.slice(PREFIX.length) : undefined;
    const invocationPath = /^\/invocation\/([^/]+)\/(response|error)$/.exec(path ?? '');
    const handled = (async () => {
      if (req.method === 'GET' && path === '/invocation/next') next(res);
      else if (req.method === 'POST' && path === '/init/error') await initError(req, res);
      else if (req.method === 'POST' && invocationPath?.[1]) {
        await answer(
          req,
          res,
          decodeURIComponent(invocationPath[1]),
          invocationPath[2] as 'response' | 'error',
        );
      } else {
        violations.push(`${req.method} ${req.url}: not a Runtime API call`);
        await readBody(req);
        send(res, 404, { errorMessage: 'not found', errorType: 'NotFound' });
      }
    })();
    handled.catch((error: unknown) => {
      violations.push(`${req.method} ${req.url}: the fake failed: ${String(error)}`);
      if (!res.headersSent) send(res, 500, { errorMessage: String(error), errorType: 'FakeError' });
    });
  });
  // `next` long-polls on one keep-alive connection: never time it out.
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the Runtime API fake has no port');

  return {
    address: `127.0.0.1:${address.port}`,
    invoke(event, options = {}) {
      return new Promise<InvocationResult>((resolve, reject) => {
        const invocation: Invocation = {
          requestId: randomUUID(),
          event,
          timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          invokedAt: performance.now(),
          state: 'queued',
          resolve,
          reject,
        };
        const failedInit = initErrors[0];
        if (failedInit) {
          serveInitError(invocation, failedInit);
        } else if (parked) {
          const res = parked;
          parked = undefined;
          deliver(invocation, res);
        } else {
          queue.push(invocation);
        }
      });
    },
    isPolling: () => parked !== undefined,
    initErrors,
    violations,
    async stop() {
      for (const invocation of [...queue.splice(0), ...byId.values()]) {
        clearTimeout(invocation.timer);
        if (invocation.state === 'queued' || invocation.state === 'delivered') {
          invocation.reject(
            new Error(`the Runtime API fake stopped before ${invocation.requestId} was answered`),
          );
        }
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
