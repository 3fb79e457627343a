/**
 * A recording proxy in front of the API server: it serves TLS with a certificate of its own CA, forwards every
 * request to the API server unchanged (the client's own bearer token included), and records what went through
 * — method, path, status, bytes each way and how long the API server took. Pointed at by the function's
 * kubeconfig, it measures exactly what alertfence asks of the API server and reads back, per alert.
 */
import { mkdir } from 'node:fs/promises';
import { Agent, createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createGunzip } from 'node:zlib';
import { createCertificateAuthority, issueCertificate } from './certs.js';

/** One request the proxy forwarded. */
export interface RecordedCall {
  method: string;
  /** Path without the query. */
  path: string;
  query: string;
  /** The request's `accept` and `accept-encoding` headers, so a call can be sent again as it was. */
  accept?: string;
  acceptEncoding?: string;
  status: number;
  /** Request body bytes. */
  sentBytes: number;
  /** Response body bytes on the wire (compressed when the API server compressed them). */
  wireBytes: number;
  /** Response body bytes once decompressed: what the client had to parse. */
  bodyBytes: number;
  /** The response's `content-encoding`, when any. */
  encoding?: string;
  /** From the request arriving to the last byte of the answer, ms. */
  ms: number;
  /** When it arrived, `performance.now()` of this process. */
  at: number;
}

export interface RecordingProxy {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** PEM of the CA that signed the proxy's certificate. */
  caPem: string;
  /** Everything recorded since the start or the last `take()`. */
  calls(): readonly RecordedCall[];
  /** Returns what was recorded and starts afresh. */
  take(): RecordedCall[];
  stop(): Promise<void>;
}

export interface RecordingProxyOptions {
  /** The API server, `https://127.0.0.1:<port>`. */
  upstream: string;
  /** PEM of the CA the API server's certificate is signed by. */
  upstreamCa: string;
  /** Where the proxy's CA and certificate are written. */
  dir: string;
}

/** Totals of a set of recorded calls. */
export interface CallTotals {
  calls: number;
  wireBytes: number;
  bodyBytes: number;
  sentBytes: number;
  /** Calls by `METHOD kind`, e.g. `GET nodes` or `LIST leases`. */
  byKind: Record<string, number>;
}

/** The resource a path names, and whether the request lists it (`LIST nodes`, `GET leases`). */
export function callKind(call: Pick<RecordedCall, 'method' | 'path'>): string {
  const parts = call.path.split('/').filter(Boolean);
  // /api/v1/<resource>[/<name>], /api/v1/namespaces/<ns>/<resource>[/<name>], /apis/<group>/<version>/...
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  const scoped = rest[0] === 'namespaces' && rest.length >= 3 ? rest.slice(2) : rest;
  const resource = scoped[0] ?? call.path;
  const isList = call.method === 'GET' && scoped.length === 1;
  return `${isList ? 'LIST' : call.method} ${resource}`;
}

export function totals(calls: readonly RecordedCall[]): CallTotals {
  const byKind: Record<string, number> = {};
  let wireBytes = 0;
  let bodyBytes = 0;
  let sentBytes = 0;
  for (const call of calls) {
    const kind = callKind(call);
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    wireBytes += call.wireBytes;
    bodyBytes += call.bodyBytes;
    sentBytes += call.sentBytes;
  }
  return { calls: calls.length, wireBytes, bodyBytes, sentBytes, byKind };
}

/**
 * Starts the proxy on a free loopback port.
 *
 * @example
 * const proxy = await startRecordingProxy({ upstream: cluster.server, upstreamCa, dir: cluster.dir });
 * // point a kubeconfig at proxy.url with proxy.caPem, then:
 * const calls = proxy.take();
 */
export async function startRecordingProxy(options: RecordingProxyOptions): Promise<RecordingProxy> {
  const dir = join(options.dir, 'recording-proxy');
  await mkdir(dir, { recursive: true });
  const ca = await createCertificateAuthority(dir, 'alertfence-recording-proxy-ca');
  const serving = await issueCertificate(ca, dir, {
    name: 'proxy',
    commonName: 'recording-proxy',
    usage: 'server',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  const upstream = new URL(options.upstream);
  const agent = new Agent({ keepAlive: true, ca: options.upstreamCa, maxSockets: 64 });
  let recorded: RecordedCall[] = [];

  const server: Server = createServer(
    { cert: serving.certPem, key: serving.keyPem, keepAlive: true },
    (incoming, outgoing) => {
      const at = performance.now();
      const url = incoming.url ?? '/';
      const queryAt = url.indexOf('?');
      const path = queryAt < 0 ? url : url.slice(0, queryAt);
      const query = queryAt < 0 ? '' : url.slice(queryAt + 1);
      const headers = { ...incoming.headers, host: upstream.host };
      let sentBytes = 0;
      const forward = httpsRequest(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: url,
          headers,
          agent,
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          // At once, as the API server sends a watch's headers before its first event: Node would hold them
          // until the first byte of the body, and a watch would look accepted only once something changed.
          outgoing.flushHeaders();
          const encoding = answer.headers['content-encoding'];
          let wireBytes = 0;
          let bodyBytes = 0;
          const gunzip = encoding === 'gzip' ? createGunzip() : undefined;
          gunzip?.on('data', (chunk: Buffer) => {
            bodyBytes += chunk.length;
          });
          const done = new Promise<void>((resolve) => {
            if (gunzip) gunzip.on('end', resolve).on('error', () => resolve());
            else answer.on('end', resolve);
          });
          answer.on('data', (chunk: Buffer) => {
            wireBytes += chunk.length;
            if (gunzip) gunzip.write(chunk);
            else bodyBytes += chunk.length;
          });
          answer.on('end', () => gunzip?.end());
          answer.pipe(outgoing);
          void done.then(() =>
            recorded.push({
              method: incoming.method ?? 'GET',
              path,
              query,
              ...(incoming.headers.accept ? { accept: incoming.headers.accept } : {}),
              ...(incoming.headers['accept-encoding']
                ? { acceptEncoding: String(incoming.headers['accept-encoding']) }
                : {}),
              status: answer.statusCode ?? 0,
              sentBytes,
              wireBytes,
              bodyBytes,
              ...(typeof encoding === 'string' ? { encoding } : {}),
              ms: performance.now() - at,
              at,
            }),
          );
        },
      );
      forward.on('error', (error) => {
        if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' });
        outgoing.end(`recording proxy: ${error.message}`);
      });
      incoming.on('data', (chunk: Buffer) => {
        sentBytes += chunk.length;
      });
      incoming.pipe(forward);
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    caPem: ca.certPem,
    calls: () => recorded,
    take() {
      const taken = recorded;
      recorded = [];
      return taken;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
