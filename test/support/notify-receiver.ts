/**
 * A webhook receiver for the notification tests: a real HTTP server on 127.0.0.1 that records every request
 * (headers and the exact body) and answers as its script says: a status, or never (it hangs until closed).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntil } from '../peers/process.js';

export interface ReceivedRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the receiver answers its n-th request (0-based): a status, a status after a delay, or never (`hang`). */
export type ReceiverAnswer = (index: number) => number | { status: number; afterMs: number } | 'hang';

export interface NotifyReceiver {
  url: string;
  received: ReceivedRequest[];
  /** The parsed bodies, in order. */
  bodies(): Array<Record<string, unknown>>;
  /** Waits (bounded) until `count` requests arrived; the message names what is missing. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startNotifyReceiver(answer: ReceiverAnswer = () => 200): Promise<NotifyReceiver> {
  const received: ReceivedRequest[] = [];
  // Requests not answered yet: ended when the receiver closes.
  const hanging = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const index = received.length;
      received.push({
        at: Date.now(),
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answered = answer(index);
      if (answered === 'hang') {
        hanging.add(response);
        return;
      }
      const { status, afterMs } = typeof answered === 'number' ? { status: answered, afterMs: 0 } : answered;
      hanging.add(response);
      setTimeout(() => {
        hanging.delete(response);
        response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'error');
      }, afterMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/XXXXSECRETPATH`,
    received,
    bodies: () => received.map((request) => JSON.parse(request.body) as Record<string, unknown>),
    async waitFor(count, timeoutMs = 20_000) {
      await waitUntil(() => received.length >= count, {
        timeoutMs,
        intervalMs: 20,
        what: `${count} notification request(s) at the receiver`,
      });
    },
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
