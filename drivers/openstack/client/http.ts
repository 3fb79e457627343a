/**
 * The one HTTP helper of the OpenStack client, a small typed wrapper around `fetch`: JSON in and out, a
 * timeout per attempt taken from the caller's deadline, bounded retries with backoff for transient failures
 * of idempotent requests, and one re-authentication when a service answers 401.
 */

import { DeadlineExceededError } from '../../driver.js';
import type { HttpClientTuning, HttpRetryPolicy, RequestOptions } from '../../http-client.js';
import { HttpLimits, parseJsonBody } from '../../http-client.js';
import { retryAfterMs } from '../../http-error.js';
import { OpenStackError } from './errors.js';

export type { HttpRetryPolicy, RequestOptions };

/** The methods the client sends. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Where service requests get their `X-Auth-Token`; implemented by the Keystone session. */
export interface TokenProvider {
  /** A token valid for a while yet, issuing one when none is cached. */
  token(options: RequestOptions): Promise<string>;
  /** Forgets a token a service rejected, so the next `token` call issues a fresh one. */
  invalidate(token: string): void;
}

/**
 * One OpenStack service as the request functions see it (gophercloud's `ServiceClient`): the shared HTTP
 * client and token, the service's endpoint from the catalog, and the headers every request to it carries
 * (a microversion).
 */
export interface ServiceClient {
  http: HttpClient;
  auth: TokenProvider;
  /** Base URL from the catalog, without a trailing slash. */
  endpoint: string;
  headers: Record<string, string>;
}

/** One request as a caller describes it. */
export interface HttpRequest {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  /** Sent as a JSON body. `null` is a valid body (Nova's `{"os-stop": null}` is built by the caller). */
  json?: unknown;
  /** Adds `X-Auth-Token`; on a 401 the token is dropped, a new one issued and the request sent once more. */
  auth?: TokenProvider;
  /**
   * Overrides whether the request may be repeated after a transient failure. By default only GET, HEAD,
   * PUT and DELETE are (RFC 9110 §9.2.2); a POST is repeated only when the caller knows it is safe.
   */
  idempotent?: boolean;
}

/** A successful (2xx) answer, body already read. */
export interface HttpResponse {
  method: HttpMethod;
  url: string;
  status: number;
  headers: Headers;
  /** The body as text; empty for 202/204 answers. */
  text: string;
  requestId: string | undefined;
}

/** One request/response exchange on the wire, reported for logs and call counting. */
export interface HttpExchange {
  method: HttpMethod;
  url: string;
  /** Absent when no response arrived. */
  status?: number;
  attempt: number;
  durationMs: number;
  requestId?: string;
}

/** Injection points and limits of an `HttpClient`. */
export interface HttpClientOptions extends HttpClientTuning<HttpExchange> {
  /** Injectable for tests and instrumentation; defaults to the global `fetch`. */
  fetch?: typeof fetch;
  userAgent?: string;
}

/** Up to 4 retries, 250 ms doubling to 5 s: about 8 s of patience, well inside a fence's budget. */
export const DEFAULT_HTTP_RETRY_POLICY: HttpRetryPolicy = { retries: 4, baseDelayMs: 250, maxDelayMs: 5000 };
/** Upper bound of one attempt; Nova and Cinder answer reads in well under a second when healthy. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

const IDEMPOTENT_METHODS: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/**
 * Sends requests to OpenStack services. Successful (2xx) answers are returned; anything else is thrown as
 * an `OpenStackError`, so callers branch on `error.status`.
 *
 * @example
 * const http = new HttpClient({ fetch });
 * const res = await http.request({ method: 'GET', url: `${compute}/servers/${id}`, auth: session }, { deadline });
 */
export class HttpClient {
  readonly #fetch: typeof fetch;
  readonly #limits: HttpLimits<HttpExchange>;
  readonly #userAgent: string;

  constructor(options: HttpClientOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#limits = new HttpLimits(options, {
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      retry: DEFAULT_HTTP_RETRY_POLICY,
    });
    this.#userAgent = options.userAgent ?? 'alertfence';
  }

  /** Sends `request`, retrying and re-authenticating as described on the class; throws `OpenStackError`. */
  async request(request: HttpRequest, options: RequestOptions): Promise<HttpResponse> {
    const idempotent = request.idempotent ?? IDEMPOTENT_METHODS.has(request.method);
    let attempt = 0;
    let reauthenticated = false;
    const send = async (): Promise<HttpResponse> => {
      const token = await request.auth?.token(options);
      try {
        return await this.#send(request, token, ++attempt, options);
      } catch (error) {
        // A 401 means the token was refused before the request was processed (keystonemiddleware runs
        // first), so even a POST is safe to repeat once with a fresh token. A second 401 is configuration.
        if (
          error instanceof OpenStackError &&
          error.status === 401 &&
          token !== undefined &&
          !reauthenticated
        ) {
          request.auth?.invalidate(token);
          reauthenticated = true;
          return send();
        }
        throw error;
      }
    };
    return this.#limits.retryTransient(
      send,
      options,
      (error) => idempotent && error instanceof OpenStackError && error.url === request.url,
    );
  }

  async #send(
    request: HttpRequest,
    token: string | undefined,
    attempt: number,
    options: RequestOptions,
  ): Promise<HttpResponse> {
    const { method, url } = request;
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.#userAgent,
      ...request.headers,
    };
    if (token !== undefined) headers['X-Auth-Token'] = token;
    let body: string | undefined;
    if (request.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(request.json);
    }
    let timedOutAtDeadline = false;
    const answer = await this.#limits.exchange(
      `${method} ${url}`,
      options,
      async (timeoutMs, atDeadline) => {
        const timeout = new AbortController();
        // A plain timer rather than AbortSignal.timeout: it follows fake timers in tests.
        const timer = setTimeout(() => {
          timedOutAtDeadline = atDeadline;
          timeout.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
        }, timeoutMs);
        const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
        try {
          const response = await this.#fetch(url, { method, headers, body, signal });
          // Read the body under the same timeout: a stalled body is as dead as a stalled connection.
          return { response, text: await response.text() };
        } finally {
          clearTimeout(timer);
        }
      },
      (answered, durationMs) => ({
        method,
        url,
        attempt,
        durationMs,
        status: answered?.response.status,
        requestId: answered && requestIdOf(answered.response.headers),
      }),
      (error) =>
        timedOutAtDeadline
          ? new DeadlineExceededError(`deadline passed during ${method} ${url}`, { cause: error })
          : // Connection refused, reset, DNS, or our per-attempt timeout: no response, transient.
            new OpenStackError({ method, url, cause: error }),
    );
    const { response, text } = answer;
    const requestId = requestIdOf(response.headers);
    if (response.status >= 200 && response.status < 300) {
      return { method, url, status: response.status, headers: response.headers, text, requestId };
    }
    throw new OpenStackError({
      method,
      url,
      status: response.status,
      body: text,
      requestId,
      retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
    });
  }
}

/** Keystone and Cinder answer with `x-openstack-request-id`, Nova also with its older `x-compute-request-id`. */
function requestIdOf(headers: Headers): string | undefined {
  return headers.get('x-openstack-request-id') ?? headers.get('x-compute-request-id') ?? undefined;
}

/**
 * Parses a 2xx JSON body with `parse` (a schema check that throws on a mismatch), turning any failure into
 * an `OpenStackError` that names the call and keeps the body.
 */
export function readJson<T>(response: HttpResponse, parse: (value: unknown) => T): T {
  return parseJsonBody(
    response.text,
    parse,
    (message, cause) =>
      new OpenStackError({
        method: response.method,
        url: response.url,
        status: response.status,
        body: response.text,
        requestId: response.requestId,
        reason: `the answer does not match the API reference (${message})`,
        cause,
      }),
  );
}

/**
 * Sends one request to a service: `path` under its endpoint, with its headers and token, and `json` as the
 * body when given.
 */
export function callService(
  service: ServiceClient,
  method: HttpMethod,
  path: string,
  options: RequestOptions,
  json?: unknown,
): Promise<HttpResponse> {
  const request = { method, url: `${service.endpoint}${path}`, headers: service.headers, auth: service.auth };
  return service.http.request(json === undefined ? request : { ...request, json }, options);
}
