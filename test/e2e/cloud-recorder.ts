/**
 * A recording proxy in front of moto for alertfence's EC2 calls: each call's action and duration, so the
 * timeline can tell time spent waiting on the cloud from alertfence's own. Dry runs (the driver's pre-flight,
 * behind `/readyz`) change nothing and are no part of a fence: they are counted apart.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CloudCall {
  /** The query API action (`StopInstances`, `DescribeInstances`, …). */
  action: string;
  start: number;
  end: number;
  status: number;
}

export interface CloudRecorder {
  /** Point the SDK here (`ALERTFENCE_AWS_ENDPOINT`). */
  url: string;
  readonly calls: readonly CloudCall[];
  /** Calls sent with `DryRun=true`. */
  readonly dryRuns: readonly CloudCall[];
  stop(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts the proxy on a free loopback port, forwarding to `target` (moto's endpoint). */
export async function startCloudRecorder(target: string): Promise<CloudRecorder> {
  const calls: CloudCall[] = [];
  const dryRuns: CloudCall[] = [];
  const server = createServer((request, response) => {
    void (async () => {
      const start = Date.now();
      const body = await readBody(request);
      const form = new URLSearchParams(body.toString('utf8'));
      const action = form.get('Action') ?? request.method ?? '?';
      const record = form.get('DryRun') === 'true' ? dryRuns : calls;
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers)) {
        if (value === undefined || ['host', 'content-length', 'connection'].includes(name)) continue;
        headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      try {
        const upstream = await fetch(new URL(request.url ?? '/', target), {
          method: request.method ?? 'POST',
          headers,
          ...(body.length > 0 ? { body } : {}),
        });
        const payload = Buffer.from(await upstream.arrayBuffer());
        record.push({ action, start, end: Date.now(), status: upstream.status });
        response.writeHead(upstream.status, {
          'content-type': upstream.headers.get('content-type') ?? 'text/xml',
          'content-length': String(payload.length),
        });
        response.end(payload);
      } catch (error) {
        record.push({ action, start, end: Date.now(), status: 502 });
        response.writeHead(502, { 'content-type': 'text/plain' });
        response.end(String(error));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    dryRuns,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
