/**
 * A small Redfish client for one BMC: basic or session authentication, the HTTP status of every answer checked
 * (fence_redfish checks none of its power requests), bounded retries of transient failures of reads, one
 * re-authentication after a 401, same-origin redirects, and a deadline on everything.
 */

import { backoffDelay, sleep as defaultSleep, sleepWithin } from '../../../functions/lib/wait.js';
import { DeadlineExceededError } from '../../driver.js';
import { RedfishError } from './errors.js';
import type { WireResponse, WireSend } from './transport.js';

/** A BMC account. */
export interface Credentials {
  username: string;
  password: string;
}

/** Where the account comes from: read once, and read again when the BMC refused it (a rotated secret). */
export interface CredentialSource {
  current(): Credentials;
  reload(): Credentials;
}

/**
 * How the client proves itself: `basic` sends the account with every request (RFC 7617) and leaves nothing
 * behind on the BMC; `session` logs in once (DSP0266 §13.3.4, `POST /redfish/v1/SessionService/Sessions`)
 * and sends `X-Auth-Token`, re-logging in after a 401.
 */
export type AuthMode = 'basic' | 'session';

/** The deadline (epoch ms) and abort signal every request runs under; the shape of a driver call's options. */
export interface RequestOptions {
  deadline: number;
  signal?: AbortSignal;
}

/** One request/answer exchange on the wire, for logs and request counting. */
export interface RedfishExchange {
  bmc: string;
  method: string;
  path: string;
  /** Absent when no answer arrived. */
  status?: number;
  attempt: number;
  durationMs: number;
}

/** Bounds of the retries of transient failures of reads. */
export interface RetryPolicy {
  /** Extra attempts after the first. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** A successful (2xx) answer. */
export interface RedfishResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The path that answered, after same-origin redirects. */
  path: string;
}

export interface BmcClientOptions {
  /** The BMC's configured name, for messages. */
  name: string;
  send: WireSend;
  /** `https://host:port` of the BMC: an absolute `Location` is followed only when it names this origin. */
  origin?: string;
  credentials: CredentialSource;
  auth?: AuthMode;
  /** Upper bound of one attempt, further cut to the caller's remaining time. Default 10 s. */
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  onExchange?: (exchange: RedfishExchange) => void;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** Three retries, 250 ms doubling to 2 s: BMCs drop requests under load and recover within seconds. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 3, baseDelayMs: 250, maxDelayMs: 2000 };
/** BMCs are slow: a few hundred ms per answer is common, seconds under load. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The sessions collection's URI is fixed by DSP0266 §13.3.4 ("Session login"). */
export const SESSIONS_PATH = '/redfish/v1/SessionService/Sessions';

const MAX_REDIRECTS = 3;

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
 * Sends requests to one BMC. 2xx answers are returned; anything else is thrown as a `RedfishError`, so callers
 * branch on `error.status`.
 *
 * @example
 * const bmc = new BmcClient({ name: 'rack1', send: httpsWire({ address }).send, credentials });
 * const system = await bmc.get('/redfish/v1/Systems/1', { deadline: Date.now() + 10_000 });
 */
export class BmcClient {
  readonly name: string;
  readonly #send: WireSend;
  readonly #origin: string | undefined;
  readonly #credentials: CredentialSource;
  readonly #auth: AuthMode;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #onExchange: ((exchange: RedfishExchange) => void) | undefined;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  #session: Promise<{ token: string; path: string | undefined }> | undefined;

  constructor(options: BmcClientOptions) {
    this.name = options.name;
    this.#send = options.send;
    this.#origin = options.origin === undefined ? undefined : new URL(options.origin).origin;
    this.#credentials = options.credentials;
    this.#auth = options.auth ?? 'basic';
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#onExchange = options.onExchange;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
  }

  get auth(): AuthMode {
    return this.#auth;
  }

  /** Reads a resource; transient failures are retried within the deadline. */
  get(path: string, options: RequestOptions): Promise<RedfishResponse> {
    return this.#request('GET', path, undefined, options, true);
  }

  /**
   * Posts an action. Never repeated after a transient failure: whether a lost reset took effect is for the
   * caller to read back, not for the client to guess.
   */
  post(path: string, body: unknown, options: RequestOptions): Promise<RedfishResponse> {
    return this.#request('POST', path, JSON.stringify(body), options, false);
  }

  /** Logs out of the session, if there is one (BMCs have few session slots). Failures are ignored. */
  async logout(options: RequestOptions): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (!session) return;
    try {
      const { token, path } = await session;
      if (path) await this.#exchange('DELETE', path, { 'X-Auth-Token': token }, undefined, 1, options);
    } catch {
      // The session times out on the BMC by itself.
    }
  }

  async #request(
    method: 'GET' | 'POST',
    initialPath: string,
    body: string | undefined,
    options: RequestOptions,
    retryTransient: boolean,
  ): Promise<RedfishResponse> {
    let path = initialPath;
    let redirects = 0;
    let reauthenticated = false;
    let retries = 0;
    for (let attempt = 1; ; attempt++) {
      const auth = await this.#authHeaders(options);
      let response: WireResponse;
      try {
        response = await this.#exchange(method, path, auth.headers, body, attempt, options);
      } catch (error) {
        if (!(error instanceof RedfishError) || !error.transient) throw error;
        if (!retryTransient || retries >= this.#retry.retries) throw error;
        await this.#backoff(retries++, error, options);
        continue;
      }
      const status = response.status;
      if (status >= 200 && status < 300) return { ...response, path };
      const location = response.headers.location;
      if (isRedirect(status, method) && location !== undefined && redirects < MAX_REDIRECTS) {
        // Only on the same BMC: the account must never be sent anywhere else.
        const next = sameOriginPath(location, this.#origin);
        if (next !== undefined) {
          path = next;
          redirects++;
          continue;
        }
      }
      // A 401 is answered before the request is processed, so even a POST is safe to send once more with a
      // fresh login or a re-read (rotated) account. A second 401 is configuration.
      if (status === 401 && !reauthenticated) {
        reauthenticated = true;
        auth.invalidate();
        continue;
      }
      const error = new RedfishError({
        bmc: this.name,
        method,
        path,
        status,
        body: response.text,
        retryAfterMs: retryAfterOf(response.headers),
      });
      if (!error.transient || !retryTransient || retries >= this.#retry.retries) throw error;
      await this.#backoff(retries++, error, options);
    }
  }

  async #backoff(retry: number, error: RedfishError, options: RequestOptions): Promise<void> {
    const delay = error.retryAfterMs ?? backoffDelay(retry, { ...this.#retry, random: this.#random });
    // Never sleep past the deadline: give the caller the real failure while it still has time to act.
    await sleepWithin(delay, options, { now: this.#now, sleep: this.#sleep }, () => error);
  }

  async #authHeaders(
    options: RequestOptions,
  ): Promise<{ headers: Record<string, string>; invalidate: () => void }> {
    if (this.#auth === 'basic') {
      const { username, password } = this.#credentials.current();
      return {
        headers: {
          Authorization: `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`,
        },
        invalidate: () => this.#credentials.reload(),
      };
    }
    this.#session ??= this.#login(options);
    const session = this.#session;
    let token: string;
    try {
      token = (await session).token;
    } catch (error) {
      if (this.#session === session) this.#session = undefined;
      throw error;
    }
    return {
      headers: { 'X-Auth-Token': token },
      invalidate: () => {
        if (this.#session === session) this.#session = undefined;
        this.#credentials.reload();
      },
    };
  }

  async #login(options: RequestOptions): Promise<{ token: string; path: string | undefined }> {
    const { username, password } = this.#credentials.current();
    const body = JSON.stringify({ UserName: username, Password: password });
    let retries = 0;
    for (let attempt = 1; ; attempt++) {
      let response: WireResponse;
      try {
        response = await this.#exchange('POST', SESSIONS_PATH, {}, body, attempt, options);
      } catch (error) {
        // A login lost on the way at worst leaves a session that times out on the BMC.
        if (!(error instanceof RedfishError) || !error.transient) throw error;
        if (retries >= this.#retry.retries) throw error;
        await this.#backoff(retries++, error, options);
        continue;
      }
      if (response.status < 200 || response.status >= 300) {
        const error = new RedfishError({
          bmc: this.name,
          method: 'POST',
          path: SESSIONS_PATH,
          status: response.status,
          body: response.text,
          retryAfterMs: retryAfterOf(response.headers),
        });
        if (!error.transient || retries >= this.#retry.retries) throw error;
        await this.#backoff(retries++, error, options);
        continue;
      }
      const token = response.headers['x-auth-token'];
      if (!token) {
        throw new RedfishError({
          bmc: this.name,
          method: 'POST',
          path: SESSIONS_PATH,
          status: response.status,
          reason: 'the session login answered without an X-Auth-Token header',
        });
      }
      const location = response.headers.location;
      return { token, path: location === undefined ? undefined : sameOriginPath(location, this.#origin) };
    }
  }

  async #exchange(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    attempt: number,
    options: RequestOptions,
  ): Promise<WireResponse> {
    const remaining = options.deadline - this.#now();
    if (remaining <= 0) {
      throw new DeadlineExceededError(`deadline passed before ${method} ${path} on BMC ${this.name}`);
    }
    options.signal?.throwIfAborted();
    const started = this.#now();
    const report = (status?: number) =>
      this.#onExchange?.({
        bmc: this.name,
        method,
        path,
        attempt,
        durationMs: this.#now() - started,
        ...(status === undefined ? {} : { status }),
      });
    try {
      const response = await this.#send({
        method: method as 'GET' | 'POST' | 'DELETE',
        path,
        headers: {
          Accept: 'application/json',
          // DSP0266 §8.1: clients send the OData version they speak.
          'OData-Version': '4.0',
          'User-Agent': 'alertfence',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body }),
        timeoutMs: Math.min(this.#timeoutMs, remaining),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      report(response.status);
      return response;
    } catch (error) {
      report();
      if (options.signal?.aborted) throw options.signal.reason;
      if (this.#now() >= options.deadline) {
        throw new DeadlineExceededError(`deadline passed during ${method} ${path} on BMC ${this.name}`, {
          cause: error,
        });
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== undefined && UNTRUSTED_CERTIFICATE.has(code)) {
        // Not a passing failure: a BMC that cannot prove who it is must not get the account, now or later.
        throw new RedfishError({
          bmc: this.name,
          method,
          path,
          reason: `its TLS certificate is not trusted (${code}: ${(error as Error).message}); give its CA bundle, or its certificate's name as tlsServerName`,
          cause: error,
        });
      }
      // Refused, reset, or no answer within the per-request limit: transient.
      throw new RedfishError({ bmc: this.name, method, path, cause: error });
    }
  }
}

/**
 * Parses a 2xx JSON body with `parse` (a schema check that throws on a mismatch), turning any failure into a
 * `RedfishError` that names the call.
 */
export function readJson<T>(
  bmc: string,
  response: RedfishResponse,
  method: string,
  parse: (value: unknown) => T,
): T {
  try {
    return parse(JSON.parse(response.text));
  } catch (error) {
    throw new RedfishError({
      bmc,
      method,
      path: response.path,
      status: response.status,
      body: response.text,
      reason: `the answer is not a Redfish resource (${error instanceof Error ? error.message : String(error)})`,
      cause: error,
    });
  }
}

function isRedirect(status: number, method: string): boolean {
  // 307 and 308 keep the method and body (RFC 9110 §15.4); the others turn a POST into a GET, never wanted.
  if (status === 307 || status === 308) return true;
  return method === 'GET' && (status === 301 || status === 302 || status === 303);
}

/** The path of a `Location` on this BMC, or undefined when it points anywhere else. */
function sameOriginPath(location: string, origin: string | undefined): string | undefined {
  if (location.startsWith('/') && !location.startsWith('//')) return location;
  if (origin === undefined) return undefined;
  try {
    const url = new URL(location);
    return url.origin === origin ? `${url.pathname}${url.search}` : undefined;
  } catch {
    return undefined;
  }
}

function retryAfterOf(headers: Record<string, string>): number | undefined {
  const value = headers['retry-after'];
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
