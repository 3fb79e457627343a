/**
 * The authenticated session every service client shares (gophercloud's `ProviderClient`): it issues a
 * Keystone token and keeps it until shortly before it expires; its catalog says where each service is.
 */

import type { HttpClient, RequestOptions, TokenProvider } from './http.js';
import { issueToken, type KeystoneCredentials } from './identity/requests.js';
import type { IssuedToken } from './identity/results.js';

/** What a session needs to issue tokens. */
export interface KeystoneSessionOptions {
  http: HttpClient;
  /** Keystone's URL, with or without `/v3`. */
  authUrl: string;
  credentials: KeystoneCredentials;
  /**
   * How long before `expires_at` a cached token is replaced, so a token never expires in flight. Capped at a
   * quarter of the token's lifetime, so short-lived tokens are still reused. Default 60 s.
   */
  refreshMarginMs?: number;
  now?: () => number;
}

/**
 * A Keystone session: one token, reused across calls until it nears expiry or a service rejects it.
 * Concurrent callers share one in-flight token request.
 *
 * @example
 * const session = new KeystoneSession({ http, authUrl, credentials });
 * const { catalog } = await session.authenticate({ deadline });
 */
export class KeystoneSession implements TokenProvider {
  readonly #http: HttpClient;
  readonly #authUrl: string;
  readonly #credentials: KeystoneCredentials;
  readonly #refreshMarginMs: number;
  readonly #now: () => number;
  #current: IssuedToken | undefined;
  #pending: Promise<IssuedToken> | undefined;
  #issued = 0;

  constructor(options: KeystoneSessionOptions) {
    this.#http = options.http;
    this.#authUrl = options.authUrl;
    this.#credentials = options.credentials;
    this.#refreshMarginMs = options.refreshMarginMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** How many tokens this session has issued; one per process lifetime is the goal. */
  get tokensIssued(): number {
    return this.#issued;
  }

  /** The cached token when still fresh, else a newly issued one. `fresh` forces a new one (pre-flight). */
  async authenticate(options: RequestOptions, fresh = false): Promise<IssuedToken> {
    if (!fresh && this.#current && this.#isFresh(this.#current)) return this.#current;
    if (!fresh && this.#pending) return this.#pending;
    const pending = issueToken(this.#http, this.#authUrl, this.#credentials, options).then((token) => {
      this.#issued++;
      this.#current = token;
      return token;
    });
    this.#pending = pending;
    try {
      return await pending;
    } finally {
      if (this.#pending === pending) this.#pending = undefined;
    }
  }

  async token(options: RequestOptions): Promise<string> {
    return (await this.authenticate(options)).id;
  }

  invalidate(token: string): void {
    if (this.#current?.id === token) this.#current = undefined;
  }

  #isFresh(token: IssuedToken): boolean {
    const lifetime = token.expiresAt - token.issuedAt;
    const margin = Math.min(this.#refreshMarginMs, Math.max(0, lifetime / 4));
    return this.#now() < token.expiresAt - margin;
  }
}
