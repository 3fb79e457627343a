/**
 * HTTP to the API server: one keep-alive agent with the endpoint's TLS settings, a bearer token per request
 * where the identity has one, a time limit on every request, and JSON in and out. It knows nothing of kinds
 * or verbs; `client.ts` does.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { ExecPlugin, KubeEndpoint } from './kubeconfig.js';

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
  /** Epoch ms by which the answer must be in: the caller's step deadline, when shorter than the time limit. */
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

/** No credentials to send: the token file or the credential plugin failed. */
export class KubeCredentialError extends Error {
  override name = 'KubeCredentialError';
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
  /** Supplies a bearer token per request (the EKS IAM token); wins over the endpoint's own credentials. */
  bearerToken?: () => Promise<string>;
  /** Runs an exec credential plugin; injected by tests. */
  runExec?: (plugin: ExecPlugin) => Promise<string>;
}

/** How long a token file is trusted before it is read again: the kubelet rotates projected tokens. */
const TOKEN_FILE_TTL_MS = 60_000;
/** An exec credential is renewed this long before it expires, so no request carries an expiring token. */
const EXEC_EXPIRY_MARGIN_MS = 60_000;
const EXEC_TIMEOUT_MS = 30_000;

const USER_AGENT = 'alertfence';

const run = promisify(execFile);

async function runExecPlugin(plugin: ExecPlugin): Promise<string> {
  const { stdout } = await run(plugin.command, plugin.args, {
    env: {
      ...process.env,
      ...plugin.env,
      KUBERNETES_EXEC_INFO: JSON.stringify({
        apiVersion: plugin.apiVersion,
        kind: 'ExecCredential',
        spec: { interactive: false },
      }),
    },
    timeout: EXEC_TIMEOUT_MS,
    maxBuffer: 1024 * 1024,
  });
  return stdout;
}

/** A cached value and when it must be fetched again. */
interface Cached {
  value: string;
  until: number;
}

/** The bearer token source of an endpoint, or `undefined` when it authenticates by certificate alone. */
function tokenSource(endpoint: KubeEndpoint, options: TransportOptions) {
  if (options.bearerToken) return { get: options.bearerToken, forget: () => {} };
  if (endpoint.token) {
    const token = endpoint.token;
    return { get: async () => token, forget: () => {} };
  }
  let cached: Cached | undefined;
  const remembered = async (fetch: () => Promise<Cached>) => {
    if (!cached || Date.now() >= cached.until) cached = await fetch();
    return cached.value;
  };
  const forget = () => {
    cached = undefined;
  };
  const { tokenFile, exec } = endpoint;
  if (tokenFile) {
    return {
      get: () =>
        remembered(async () => {
          const token = await readFile(tokenFile, 'utf8').catch((error: Error) => {
            throw new KubeCredentialError(`cannot read the token file ${tokenFile}: ${error.message}`);
          });
          return { value: token.trim(), until: Date.now() + TOKEN_FILE_TTL_MS };
        }),
      forget,
    };
  }
  if (exec) {
    const runExec = options.runExec ?? runExecPlugin;
    return {
      get: () =>
        remembered(async () => {
          const output = await runExec(exec).catch((error: Error) => {
            throw new KubeCredentialError(`credential plugin ${exec.command} failed: ${error.message}`);
          });
          let status: { token?: string; expirationTimestamp?: string } | undefined;
          try {
            status = (JSON.parse(output) as { status?: typeof status }).status;
          } catch {
            throw new KubeCredentialError(`credential plugin ${exec.command} printed no ExecCredential JSON`);
          }
          if (!status?.token) {
            throw new KubeCredentialError(
              `credential plugin ${exec.command} printed no status.token (client certificates from a plugin are not supported)`,
            );
          }
          const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Number.NaN;
          return {
            value: status.token,
            until: Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires - EXEC_EXPIRY_MARGIN_MS,
          };
        }),
      forget,
    };
  }
  return undefined;
}

/** The answer's body as text, decompressed when the API server compressed it. */
function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const body = response.headers['content-encoding'] === 'gzip' ? response.pipe(createGunzip()) : response;
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    body.on('error', reject);
    if (body !== response) response.on('error', reject);
  });
}

function statusError(status: number, text: string): KubeStatusError {
  let body: { reason?: string; message?: string } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = { message: text.slice(0, 200) };
  }
  return new KubeStatusError(status, body?.reason || undefined, body?.message || undefined);
}

/**
 * A transport to one endpoint.
 *
 * @example
 * const transport = createTransport(loadKubeconfigFile('/etc/alertfence/kubeconfig'), { timeoutMs: 15_000 });
 * const node = await transport.request({ method: 'GET', path: '/api/v1/nodes/worker-1' });
 */
export function createTransport(endpoint: KubeEndpoint, options: TransportOptions): KubeTransport {
  const base = new URL(endpoint.server);
  const secure = base.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({
        keepAlive: true,
        ca: endpoint.tls.ca,
        cert: endpoint.tls.cert,
        key: endpoint.tls.key,
        rejectUnauthorized: !endpoint.tls.insecureSkipVerify,
        ...(endpoint.tls.serverName ? { servername: endpoint.tls.serverName } : {}),
      })
    : new HttpAgent({ keepAlive: true });
  const send = secure ? httpsRequest : httpRequest;
  const tokens = tokenSource(endpoint, options);
  const basePath = base.pathname.replace(/\/+$/, '');

  async function once<T>(request: KubeRequest): Promise<T> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) query.set(name, String(value));
    }
    const search = query.size > 0 ? `?${query}` : '';
    const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
    const headers: Record<string, string | number> = {
      accept: request.accept ?? 'application/json',
      // Lists of Nodes are megabytes of near-identical JSON: the API server compresses answers over 128 KiB
      // (APIResponseCompression) when asked, about 25 times here, as it does for client-go, which asks by default.
      'accept-encoding': 'gzip',
      'user-agent': USER_AGENT,
    };
    if (payload) {
      headers['content-type'] = request.contentType ?? 'application/json';
      headers['content-length'] = payload.length;
    }
    if (tokens) headers.authorization = `Bearer ${await tokens.get()}`;
    // The shorter of the transport's limit and what is left of the caller's step: a step never outlives its
    // deadline waiting on a hung API server.
    const limitMs =
      request.deadline === undefined
        ? options.timeoutMs
        : Math.min(options.timeoutMs, request.deadline - Date.now());
    if (limitMs <= 0)
      throw new KubeTimeoutError(`the step's deadline passed before ${request.method} ${request.path}`);

    return new Promise((resolve, reject) => {
      const outgoing = send(
        {
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port,
          path: `${basePath}${request.path}${search}`,
          method: request.method,
          headers,
          agent,
        },
        (response) => {
          readBody(response).then((text) => {
            clearTimeout(timer);
            const status = response.statusCode ?? 0;
            if (status === 401) tokens?.forget();
            if (status < 200 || status >= 300) return reject(statusError(status, text));
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch {
              reject(new Error(`HTTP ${status} with a body that is not JSON`));
            }
          }, reject);
        },
      );
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
    close: () => agent.destroy(),
  };
}
