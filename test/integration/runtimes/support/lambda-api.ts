import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';

/** An `Invoke` call as the function's AWS SDK sent it. */
export interface RecordedInvoke {
  functionName: string;
  invocationType: string | undefined;
  /** The SigV4 `Authorization` header: proof that the real SDK signed the call. */
  authorization: string | undefined;
  /** `X-Amzn-Trace-Id`: the SDK passes on the trace of the invocation that made the call. */
  traceId: string | undefined;
  payload: unknown;
  at: number;
}

/** What runs one event to its end: the emulator's Invoke API, or the Runtime API fake. */
export interface EventRunner<R> {
  invoke(event: unknown): Promise<R>;
}

/**
 * A local stand-in for the Lambda `Invoke` API (`POST /2015-03-31/functions/{name}/invocations`), which
 * neither the emulator nor the Runtime API serves. Like Lambda's asynchronous invocation, it answers an
 * `Event` invoke with 202 and queues the event; `deliver` then hands queued events to the runtime one at a
 * time, as Lambda's internal queue hands them to a free execution environment.
 */
export interface LambdaApiStandIn {
  url: string;
  invokes: RecordedInvoke[];
  /** Delivers queued events to `runner` until the queue is empty (or `max` deliveries), in order. */
  deliver<R>(runner: EventRunner<R>, max?: number): Promise<Array<{ event: RecordedInvoke; result: R }>>;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startLambdaApiStandIn(): Promise<LambdaApiStandIn> {
  const invokes: RecordedInvoke[] = [];
  const queue: RecordedInvoke[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
      const body = await readBody(req);
      if (req.method !== 'POST' || !match?.[1]) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not found"}');
        return;
      }
      const invocationType = req.headers['x-amz-invocation-type'] as string | undefined;
      const recorded: RecordedInvoke = {
        functionName: decodeURIComponent(match[1]),
        invocationType,
        authorization: req.headers.authorization,
        traceId: req.headers['x-amzn-trace-id'] as string | undefined,
        payload: body === '' ? undefined : JSON.parse(body),
        at: Date.now(),
      };
      invokes.push(recorded);
      if (invocationType !== 'Event') {
        // Only asynchronous invokes are modelled; alertfence never invokes itself synchronously.
        res
          .writeHead(400, {
            'content-type': 'application/json',
            'x-amzn-errortype': 'InvalidParameterValueException',
          })
          .end('{"message":"the stand-in only queues InvocationType Event"}');
        return;
      }
      queue.push(recorded);
      res.writeHead(202, { 'x-amzn-requestid': randomUUID() }).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('stand-in has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    invokes,
    async deliver<R>(runner: EventRunner<R>, max = 20) {
      const delivered: Array<{ event: RecordedInvoke; result: R }> = [];
      while (queue.length > 0 && delivered.length < max) {
        const event = queue.shift() as RecordedInvoke;
        delivered.push({ event, result: await runner.invoke(event.payload) });
      }
      return delivered;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
