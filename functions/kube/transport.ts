/**
 * HTTP to the API server: the thin call layer under alertfence's Kubernetes calls. Credentials and TLS material
 * of every request come from `@kubernetes/client-node`'s `KubeConfig.applyToHTTPSOptions` (its authenticators
 * and alertfence's); the request itself goes out here, on one keep-alive agent, with a time limit, JSON in
 * and out. It knows nothing of kinds or verbs; `client.ts` does. Why not the library's generated API
 * classes: `README.md`.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { createGunzip } from 'node:zlib';
import type { KubeConfig } from '@kubernetes/client-node';
import type { WireCluster } from './kubeconfig.js';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. `/api/v1/nodes/worker-1`; names already encoded. */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Default `application/json`; a JSON patch says `application/json-patch+json`. */
  contentType?: string;
  /** Default `application/json`; a server-side Table asks for `application/json;as=Table;…`. */
  accept?: string;
  /** Epoch ms by which the answer must be in: the caller's phase deadline, when shorter than the time limit. */
  deadline?: number;
}

/** The API server answered with a status outside 2xx; `reason` and `message` come from its `Status` body. */
export class KubeStatusError extends Error {
  override name = 'KubeStatusError';
  constructor(
    readonly status: number,
    readonly reason: string | undefined,
    detail: string | undefined,
  ) {
    super(`HTTP ${status}${reason ? ` ${reason}` : ''}${detail ? `: ${detail}` : ''}`);
  }
}

/** A reused keep-alive connection was reset before an idempotent request got its answer: send it again. */
class StaleConnectionError extends Error {
  override name = 'StaleConnectionError';
}

/** No answer in time: the API server is hung or unreachable. */
export class KubeTimeoutError extends Error {
  override name = 'KubeTimeoutError';
}

export interface KubeTransport {
  /** Sends one request and resolves with the parsed JSON answer (`undefined` when empty). */
  request<T>(request: KubeRequest): Promise<T>;
  /** Closes idle keep-alive connections (a server shutting down, a test ending). */
  close(): void;
}

export interface TransportOptions {
  /** Time limit of each request, from sending it to the last byte of the answer. */
  timeoutMs: number;
  /** Told when the API server refused the credentials (401), so that the next request fetches new ones. */
  onUnauthorized?: () => void;
}

const USER_AGENT = 'alertfence';

/** The answer's body as text, decompressed when the API server compressed it. */
export function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const body = response.headers['content-encoding'] === 'gzip' ? response.pipe(createGunzip()) : response;
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    body.on('error', reject);
    if (body !== response) response.on('error', reject);
  });
}

export function statusError(status: number, text: string): KubeStatusError {
  let body: { reason?: string; message?: string } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = { message: text.slice(0, 200) };
  }
  return new KubeStatusError(status, body?.reason || undefined, body?.message || undefined);
}

/** The parts of `applyToHTTPSOptions`' answer that make the TLS connection (the agent pools by them). */
function tlsOptions(credentials: RequestOptions): RequestOptions {
  const { ca, cert, key, servername, rejectUnauthorized } = credentials;
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(servername ? { servername } : {}),
    ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
  };
}

/** How requests go out to the current cluster of a `KubeConfig`: one keep-alive agent, and each request's form. */
export interface Wire {
  /** The request's wire form: its URL, this request's credentials and TLS material, and its headers. */
  prepare(request: KubeRequest): Promise<{ wire: RequestOptions; payload: Buffer | undefined }>;
  send: typeof httpsRequest;
  close(): void;
}

/** The wire to the current cluster of a `KubeConfig`, as its current user (shared by `transport` and `stream`). */
export function createWire(config: KubeConfig): Wire {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const secure = base.protocol === 'https:';
  // The library's `applyToHTTPSOptions` makes a new agent for every request (no keep-alive: a TLS handshake per
  // call); alertfence keeps one, which pools connections by the TLS material each request names.
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const send = (secure ? httpsRequest : httpRequest) as typeof httpsRequest;
  const basePath = base.pathname.replace(/\/+$/, '');
  const compressionDisabled = (cluster as WireCluster).disableCompression === true;

  async function prepare(request: KubeRequest) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) query.set(name, String(value));
    }
    const search = query.size > 0 ? `?${query}` : '';
    const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
    // This request's credentials (a token from a plugin, a file or a supplier, a client certificate) and TLS
    // material, as the library works them out from the kubeconfig.
    const credentials: RequestOptions = { headers: {} };
    await config.applyToHTTPSOptions(credentials);
    const headers: Record<string, string | number> = {};
    for (const [name, value] of Object.entries(credentials.headers ?? {})) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    headers.accept = request.accept ?? 'application/json';
    // Lists of Nodes are megabytes of near-identical JSON: the API server compresses answers over 128 KiB
    // (APIResponseCompression) when asked, about 25 times here, as it does for client-go, which asks by default
    // unless the kubeconfig's cluster sets `disable-compression`.
    if (!compressionDisabled) headers['accept-encoding'] = 'gzip';
    headers['user-agent'] = USER_AGENT;
    if (payload) {
      headers['content-type'] = request.contentType ?? 'application/json';
      headers['content-length'] = payload.length;
    }
    const wire: RequestOptions = {
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port,
      path: `${basePath}${request.path}${search}`,
      method: request.method,
      headers,
      ...(credentials.auth ? { auth: credentials.auth } : {}),
      ...tlsOptions(credentials),
      // Through a `proxy-url`, the library's proxy agent; else the kept-alive one.
      agent: cluster?.proxyUrl ? credentials.agent : agent,
    };
    return { wire, payload };
  }

  return { prepare, send, close: () => agent.destroy() };
}

/**
 * A transport to the current cluster of a `KubeConfig`, as its current user.
 *
 * @example
 * const transport = createTransport(loadKubeconfigFile('/etc/alertfence/kubeconfig'), { timeoutMs: 15_000 });
 * const node = await transport.request({ method: 'GET', path: '/api/v1/nodes/worker-1' });
 */
export function createTransport(config: KubeConfig, options: TransportOptions): KubeTransport {
  const { prepare, send, close } = createWire(config);

  async function once<T>(request: KubeRequest): Promise<T> {
    const { wire, payload } = await prepare(request);
    // The shorter of the transport's limit and what is left of the caller's phase: a phase never outlives its
    // deadline waiting on a hung API server.
    const limitMs =
      request.deadline === undefined
        ? options.timeoutMs
        : Math.min(options.timeoutMs, request.deadline - Date.now());
    if (limitMs <= 0)
      throw new KubeTimeoutError(`the phase's deadline passed before ${request.method} ${request.path}`);

    return new Promise((resolve, reject) => {
      const outgoing = send(wire, (response) => {
        readBody(response).then((text) => {
          clearTimeout(timer);
          const status = response.statusCode ?? 0;
          if (status === 401) options.onUnauthorized?.();
          if (status < 200 || status >= 300) return reject(statusError(status, text));
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch {
            reject(new Error(`HTTP ${status} with a body that is not JSON`));
          }
        }, reject);
      });
      // One limit for the whole exchange: connect, send, wait, and read the answer to its end.
      const timer = setTimeout(
        () => outgoing.destroy(new KubeTimeoutError(`no answer within ${limitMs} ms`)),
        limitMs,
      );
      outgoing.on('error', (error) => {
        clearTimeout(timer);
        // A kept-alive connection the server closed while idle (or while a Lambda was frozen) fails on reuse.
        // Reads and deletes are retried once on a new connection; a create or a patch is not, because it may
        // have landed, and the layer above re-reads before it writes again.
        const idempotent = request.method === 'GET' || request.method === 'DELETE';
        const stale = outgoing.reusedSocket && (error as NodeJS.ErrnoException).code === 'ECONNRESET';
        reject(idempotent && stale ? new StaleConnectionError(error.message, { cause: error }) : error);
      });
      outgoing.end(payload);
    });
  }

  return {
    async request<T>(request: KubeRequest): Promise<T> {
      try {
        return await once<T>(request);
      } catch (error) {
        if (!(error instanceof StaleConnectionError)) throw error;
        return once<T>(request);
      }
    },
    close,
  };
}
