import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';

/** A request the function queued through `/async-function/`. */
export interface QueuedCall {
  functionName: string;
  /** The path after the function name, e.g. `/v1/fences/continue`. */
  path: string;
  headers: Record<string, string>;
  body: string;
  callId: string;
}

/** What the function answered when the queued call was replayed to it. */
export interface Replay {
  call: QueuedCall;
  status: number;
  json: unknown;
  durationMs: number;
}

/**
 * A local stand-in for the OpenFaaS gateway's asynchronous path: `POST /async-function/<fn>/<path>` answers
 * 202 with an `X-Call-Id` and queues the request; `deliver` replays queued requests, headers and body
 * included, to the function one at a time, as the gateway's queue worker does.
 */
export interface GatewayStandIn {
  url: string;
  calls: QueuedCall[];
  deliver(functionUrl: string, max?: number): Promise<Replay[]>;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startGatewayStandIn(): Promise<GatewayStandIn> {
  const calls: QueuedCall[] = [];
  const queue: QueuedCall[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const match = /^\/async-function\/([^/]+)(\/.*)?$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match?.[1]) {
        res.writeHead(404).end();
        return;
      }
      const call: QueuedCall = {
        functionName: match[1],
        path: match[2] ?? '/',
        headers: {
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}),
        },
        body,
        callId: randomUUID(),
      };
      calls.push(call);
      queue.push(call);
      res.writeHead(202, { 'x-call-id': call.callId }).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('gateway stand-in has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    calls,
    async deliver(functionUrl, max = 20) {
      const replays: Replay[] = [];
      while (queue.length > 0 && replays.length < max) {
        const call = queue.shift() as QueuedCall;
        const started = performance.now();
        const response = await fetch(`${functionUrl}${call.path}`, {
          method: 'POST',
          headers: { ...call.headers, 'x-call-id': call.callId },
          body: call.body,
        });
        const text = await response.text();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        replays.push({ call, status: response.status, json, durationMs: performance.now() - started });
      }
      return replays;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
