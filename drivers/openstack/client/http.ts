/**
 * A small typed wrapper around `fetch` for OpenStack APIs: JSON in and out, a timeout per attempt taken from
 * the caller's deadline, bounded retries with backoff for transient failures of idempotent requests, and one
 * re-authentication when a service answers 401.
 */

import { backoffDelay, sleep as defaultSleep, sleepWithin } from '../../../functions/lib/wait.js';
import { DeadlineExceededError } from '../../driver.js';
import { OpenStackError } from './errors.js';

/** The methods the client sends. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The deadline (epoch ms) and abort signal every request runs under; the same shape as a driver call's. */
export interface RequestOptions {
  deadline: number;
  signal?: AbortSignal;
}

/** Where service requests get their `X-Auth-Token`; implemented by the Keystone session. */
export interface TokenProvider {
  /** A token valid for a while yet, issuing one when none is cached. */
  token(options: RequestOptions): Promise<string>;
  /** Forgets a token a service rejected, so the next `token` call issues a fresh one. */
  invalidate(token: string): void;
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

/** Bounds of the retries of transient failures; unlike the EC2 driver's `RetryPolicy`, counts retries. */
export interface HttpRetryPolicy {
  /** Extra attempts after the first, for transient failures of idempotent requests. */
  retries: number;
  /** First backoff delay; doubles per retry, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Injection points and limits of an `HttpClient`. */
export interface HttpClientOptions {
  /** Injectable for tests and instrumentation; defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Upper bound of one attempt, further cut to the caller's remaining time. */
  requestTimeoutMs?: number;
  retry?: Partial<HttpRetryPolicy>;
  userAgent?: string;
  /** Called after every exchange on the wire, including retried and re-authenticated ones. */
  onExchange?: (exchange: HttpExchange) => void;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). */
  random?: () => number;
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
  readonly #timeoutMs: number;
  readonly #retry: HttpRetryPolicy;
  readonly #userAgent: string;
  readonly #onExchange: ((exchange: HttpExchange) => void) | undefined;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;

  constructor(options: HttpClientOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#retry = { ...DEFAULT_HTTP_RETRY_POLICY, ...options.retry };
    this.#userAgent = options.userAgent ?? 'alertfence';
    this.#onExchange = options.onExchange;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
  }

  /** Sends `request`, retrying and re-authenticating as described on the class; throws `OpenStackError`. */
  async request(request: HttpRequest, options: RequestOptions): Promise<HttpResponse> {
    const idempotent = request.idempotent ?? IDEMPOTENT_METHODS.has(request.method);
    let reauthenticated = false;
    let retries = 0;
    for (let attempt = 1; ; attempt++) {
      const token = request.auth ? await request.auth.token(options) : undefined;
      try {
        return await this.#send(request, token, attempt, options);
      } catch (error) {
        if (!(error instanceof OpenStackError)) throw error;
        // A 401 means the token was refused before the request was processed (keystonemiddleware runs
        // first), so even a POST is safe to repeat once with a fresh token. A second 401 is configuration.
        if (error.status === 401 && request.auth && token !== undefined && !reauthenticated) {
          request.auth.invalidate(token);
          reauthenticated = true;
          continue;
        }
        if (!error.transient || !idempotent || retries >= this.#retry.retries) throw error;
        const delay = error.retryAfterMs ?? backoffDelay(retries, { ...this.#retry, random: this.#random });
        // Never sleep past the deadline: give the caller the real failure while it still has time to act.
        await sleepWithin(delay, options, { now: this.#now, sleep: this.#sleep }, () => error);
        retries++;
      }
    }
  }

  async #send(
    request: HttpRequest,
    token: string | undefined,
    attempt: number,
    options: RequestOptions,
  ): Promise<HttpResponse> {
    const remaining = options.deadline - this.#now();
    if (remaining <= 0) {
      throw new DeadlineExceededError(`deadline passed before ${request.method} ${request.url}`);
    }
    options.signal?.throwIfAborted();
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

    const timeoutMs = Math.min(this.#timeoutMs, remaining);
    const timeout = new AbortController();
    // A plain timer rather than AbortSignal.timeout: it follows fake timers in tests.
    const timer = setTimeout(
      () => timeout.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
      timeoutMs,
    );
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    const started = this.#now();
    const report = (status?: number, requestId?: string) =>
      this.#onExchange?.({
        method: request.method,
        url: request.url,
        attempt,
        durationMs: this.#now() - started,
        ...(status === undefined ? {} : { status }),
        ...(requestId === undefined ? {} : { requestId }),
      });
    try {
      const response = await this.#fetch(request.url, { method: request.method, headers, body, signal });
      // Read the body under the same timeout: a stalled body is as dead as a stalled connection.
      const text = await response.text();
      const requestId = requestIdOf(response.headers);
      report(response.status, requestId);
      if (response.status >= 200 && response.status < 300) {
        return {
          method: request.method,
          url: request.url,
          status: response.status,
          headers: response.headers,
          text,
          requestId,
        };
      }
      throw new OpenStackError({
        method: request.method,
        url: request.url,
        status: response.status,
        body: text,
        requestId,
        retryAfterMs: retryAfterOf(response.headers),
      });
    } catch (error) {
      if (error instanceof OpenStackError) throw error;
      report();
      if (options.signal?.aborted) throw options.signal.reason;
      if (timeout.signal.aborted && timeoutMs >= remaining) {
        throw new DeadlineExceededError(`deadline passed during ${request.method} ${request.url}`, {
          cause: error,
        });
      }
      // Connection refused, reset, DNS, or our per-attempt timeout: no response, transient.
      throw new OpenStackError({ method: request.method, url: request.url, cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

function retryAfterOf(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
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
  try {
    return parse(JSON.parse(response.text));
  } catch (error) {
    throw new OpenStackError({
      method: response.method,
      url: response.url,
      status: response.status,
      body: response.text,
      requestId: response.requestId,
      reason: `the answer does not match the API reference (${error instanceof Error ? error.message : String(error)})`,
      cause: error,
    });
  }
}
