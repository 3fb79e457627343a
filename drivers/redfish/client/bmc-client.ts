/**
 * A small Redfish client for one BMC: basic or session authentication, the HTTP status of every answer checked
 * (fence_redfish checks none of its power requests), bounded retries of transient failures of reads, one
 * re-authentication after a 401, same-origin redirects, and a deadline on everything.
 */

import { DeadlineExceededError } from '../../driver.js';
import type { HttpClientTuning, HttpRetryPolicy, RequestOptions } from '../../http-client.js';
import { HttpLimits } from '../../http-client.js';
import { retryAfterMs } from '../../http-error.js';
import { RedfishError } from './errors.js';
import {
  isRedirect,
  sameOriginPath,
  untrustedCertificate,
  type WireResponse,
  type WireSend,
} from './transport.js';

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

/** A successful (2xx) answer. */
export interface RedfishResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The path that answered, after same-origin redirects. */
  path: string;
}

/** One BMC, and the tuning (request timeout default 10 s) of the client. */
export interface BmcClientOptions extends HttpClientTuning<RedfishExchange> {
  /** The BMC's configured name, for messages. */
  name: string;
  send: WireSend;
  /** `https://host:port` of the BMC: an absolute `Location` is followed only when it names this origin. */
  origin?: string;
  credentials: CredentialSource;
  auth?: AuthMode;
}

/** Three retries, 250 ms doubling to 2 s: BMCs drop requests under load and recover within seconds. */
export const DEFAULT_RETRY_POLICY: HttpRetryPolicy = { retries: 3, baseDelayMs: 250, maxDelayMs: 2000 };
/** BMCs are slow: a few hundred ms per answer is common, seconds under load. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The sessions collection's URI is fixed by DSP0266 §13.3.4 ("Session login"). */
export const SESSIONS_PATH = '/redfish/v1/SessionService/Sessions';

const MAX_REDIRECTS = 3;

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
  readonly #limits: HttpLimits<RedfishExchange>;
  #session: Promise<{ token: string; path: string | undefined }> | undefined;

  constructor(options: BmcClientOptions) {
    this.name = options.name;
    this.#send = options.send;
    this.#origin = options.origin === undefined ? undefined : new URL(options.origin).origin;
    this.#credentials = options.credentials;
    this.#auth = options.auth ?? 'basic';
    this.#limits = new HttpLimits(options, {
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      retry: DEFAULT_RETRY_POLICY,
    });
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
    repeatable: boolean,
  ): Promise<RedfishResponse> {
    let path = initialPath;
    let redirects = 0;
    let reauthenticated = false;
    let attempt = 0;
    const send = async (): Promise<RedfishResponse> => {
      for (;;) {
        const auth = await this.#authHeaders(options);
        const response = await this.#exchange(method, path, auth.headers, body, ++attempt, options);
        const status = response.status;
        if (status >= 200 && status < 300) return { ...response, path };
        const location = response.headers.location;
        // Only on the same BMC: the account must never be sent anywhere else.
        const next = location === undefined ? undefined : sameOriginPath(location, this.#origin);
        if (isRedirect(status, method) && next !== undefined && redirects < MAX_REDIRECTS) {
          path = next;
          redirects++;
          continue;
        }
        // A 401 is answered before the request is processed, so even a POST is safe to send once more with a
        // fresh login or a re-read (rotated) account. A second 401 is configuration.
        if (status === 401 && !reauthenticated) {
          reauthenticated = true;
          auth.invalidate();
          continue;
        }
        throw this.#failure(method, path, response);
      }
    };
    // A failed login is not this request's to repeat: the login's own retries are spent.
    return this.#limits.retryTransient(send, options, (error) => repeatable && error.method === method);
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
    let attempt = 0;
    // A login lost on the way at worst leaves a session that times out on the BMC: safe to repeat.
    const response = await this.#limits.retryTransient(
      async () => {
        const answer = await this.#exchange('POST', SESSIONS_PATH, {}, body, ++attempt, options);
        if (answer.status < 200 || answer.status >= 300) throw this.#failure('POST', SESSIONS_PATH, answer);
        return answer;
      },
      options,
      () => true,
    );
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

  #failure(method: string, path: string, response: WireResponse): RedfishError {
    return new RedfishError({
      bmc: this.name,
      method,
      path,
      status: response.status,
      body: response.text,
      retryAfterMs: retryAfterMs(response.headers['retry-after']),
    });
  }

  #exchange(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    attempt: number,
    options: RequestOptions,
  ): Promise<WireResponse> {
    return this.#limits.exchange(
      `${method} ${path} on BMC ${this.name}`,
      options,
      (timeoutMs) =>
        this.#send({
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
          body,
          timeoutMs,
          signal: options.signal,
        }),
      (response, durationMs) => ({
        bmc: this.name,
        method,
        path,
        attempt,
        durationMs,
        status: response?.status,
      }),
      (error) => this.#noAnswer(method, path, error, options),
    );
  }

  #noAnswer(method: string, path: string, error: unknown, options: RequestOptions): Error {
    if (this.#limits.now() >= options.deadline) {
      return new DeadlineExceededError(`deadline passed during ${method} ${path} on BMC ${this.name}`, {
        cause: error,
      });
    }
    // A certificate that does not verify is no passing failure: a BMC that cannot prove who it is must not get
    // the account, now or later. Anything else (refused, reset, no answer in time) is transient.
    const untrusted = untrustedCertificate(error);
    const reason =
      untrusted &&
      `its TLS certificate is not trusted (${untrusted}); give its CA bundle, or its certificate's name as tlsServerName`;
    return new RedfishError({ bmc: this.name, method, path, reason, cause: error });
  }
}
