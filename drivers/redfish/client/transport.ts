/**
 * HTTPS to one BMC over `node:https`, not `fetch`: each BMC gets its own trust (a CA bundle, a TLS server name,
 * or — only when the operator says so — none), which Node's `fetch` cannot take per request. One small
 * keep-alive agent per BMC: BMCs serve few connections at a time.
 */
import { type Agent, Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/** One request as the client sends it. */
export interface WireRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path and query on the BMC, e.g. `/redfish/v1/Systems/1`. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Time limit from sending to the last byte of the answer. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Any answer, whatever its status: the client judges it. */
export interface WireResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  text: string;
}

/** Sends one request to a BMC; rejects only when no answer arrived. Injectable for unit tests. */
export type WireSend = (request: WireRequest) => Promise<WireResponse>;

/** How to reach a BMC and whom to trust there. */
export interface TlsEndpoint {
  /** `https://host[:port]`. */
  address: string;
  /** PEM certificates trusted for this BMC instead of the system's; undefined trusts the system's. */
  ca?: string;
  /** Name the certificate must carry, when the address is an IP or another name than the certificate's. */
  serverName?: string;
  /** Accept any certificate. Only by explicit opt-in; the driver logs it at start and at every power action. */
  insecure?: boolean;
}

/** Largest answer read: a ComputerSystem is a few KiB; a BMC that streams more is broken. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Node's codes for a certificate that does not verify (OpenSSL's `X509_V_ERR_*` names, and the name check). */
const UNTRUSTED_CERTIFICATE: ReadonlySet<string> = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * `code: message` when a failed send is a certificate that does not verify (never a passing failure), else
 * undefined.
 */
export function untrustedCertificate(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined || !UNTRUSTED_CERTIFICATE.has(code)) return undefined;
  return `${code}: ${(error as Error).message}`;
}

/** The answer arrived without the whole body in time, or the request could not be sent. */
export class WireError extends Error {
  override name = 'WireError';
}

/**
 * A `WireSend` for one BMC over HTTPS, and `close` for its idle connections.
 *
 * @example
 * const wire = httpsWire({ address: 'https://10.0.1.11', ca: readFileSync('bmc-ca.pem', 'utf8') });
 * const answer = await wire.send({ method: 'GET', path: '/redfish/v1/', headers: {}, timeoutMs: 5000 });
 */
export function httpsWire(endpoint: TlsEndpoint): { send: WireSend; close: () => void } {
  const url = new URL(endpoint.address);
  const agent: Agent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 2,
    ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }),
    rejectUnauthorized: !endpoint.insecure,
    ...(endpoint.serverName === undefined
      ? {}
      : {
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            checkServerIdentity(endpoint.serverName as string, cert),
        }),
  });
  const send: WireSend = (request) =>
    new Promise<WireResponse>((resolve, reject) => {
      const req = httpsRequest(
        {
          agent,
          protocol: 'https:',
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || 443,
          method: request.method,
          path: request.path,
          headers: {
            ...request.headers,
            ...(request.body === undefined ? {} : { 'content-length': Buffer.byteLength(request.body) }),
          },
          ...(request.signal ? { signal: request.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new WireError(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
            }
            resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      // One limit for the whole exchange: a BMC that accepts the connection and then stalls is as dead as
      // one that refuses it.
      const timer = setTimeout(
        () => req.destroy(new WireError(`no answer within ${request.timeoutMs} ms`)),
        request.timeoutMs,
      );
      req.on('close', () => clearTimeout(timer));
      req.on('error', reject);
      req.end(request.body);
    });
  return { send, close: () => agent.destroy() };
}

/** Whether an answer is a redirect the client may follow with the same method and body. */
export function isRedirect(status: number, method: string): boolean {
  // 307 and 308 keep the method and body (RFC 9110 §15.4); the others turn a POST into a GET, never wanted.
  if (status === 307 || status === 308) return true;
  return method === 'GET' && (status === 301 || status === 302 || status === 303);
}

/** The path of a `Location` on this BMC, or undefined when it points anywhere else. */
export function sameOriginPath(location: string, origin: string | undefined): string | undefined {
  if (location.startsWith('/') && !location.startsWith('//')) return location;
  if (origin === undefined) return undefined;
  try {
    const url = new URL(location);
    return url.origin === origin ? `${url.pathname}${url.search}` : undefined;
  } catch {
    return undefined;
  }
}
