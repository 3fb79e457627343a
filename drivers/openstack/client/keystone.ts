/**
 * Keystone v3 (identity): the two authentication methods alertfence supports, the token and the service
 * catalog it carries, and the session every service client shares (gophercloud's `ProviderClient`), which
 * keeps one token until shortly before it expires.
 */

import * as z from 'zod';
import {
  type HttpClient,
  type RequestOptions,
  readJson,
  type ServiceClient,
  type TokenProvider,
} from './http.js';

/** A domain by id or by name; Keystone needs one of them to place a user or project named by name. */
export type DomainRef = { id: string } | { name: string };

/**
 * The `password` method with a project scope: the classic user + domain + project triple of an
 * `openrc` file or a `clouds.yaml` entry.
 */
export interface PasswordCredentials {
  method: 'password';
  user: { id: string } | { name: string; domain: DomainRef };
  password: string;
  project: { id: string } | { name: string; domain: DomainRef };
}

/**
 * The `application_credential` method: the credential is bound to one user and one project, and Keystone
 * refuses a scope in the request (the token is always scoped to the credential's project).
 */
export interface ApplicationCredentialCredentials {
  method: 'application_credential';
  /** By id, or by name together with the owning user (a name is unique per user only). */
  credential: { id: string } | { name: string; user: { id: string } | { name: string; domain: DomainRef } };
  secret: string;
}

/** The credentials alertfence can authenticate with. */
export type KeystoneCredentials = PasswordCredentials | ApplicationCredentialCredentials;

/** Endpoint interfaces of the Keystone v3 catalog. */
export type EndpointInterface = 'public' | 'internal' | 'admin';

const serviceSchema = z.object({
  type: z.string(),
  name: z.string().optional(),
  endpoints: z.array(
    z.object({
      url: z.string(),
      interface: z.string(),
      /** `region` is the deprecated twin of `region_id`; Keystone still fills both. */
      region_id: z.string().nullish(),
      region: z.string().nullish(),
    }),
  ),
});

const tokenBodySchema = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    user: z.object({ id: z.string() }),
    project: z.object({ id: z.string() }).optional(),
    catalog: z.array(serviceSchema).optional(),
  }),
});

/** One service of the catalog with its endpoints. */
export type CatalogService = z.infer<typeof serviceSchema>;

/** A token as the client keeps it: the secret id, its lifetime, its scope and the catalog. */
export interface IssuedToken {
  /** The `X-Subject-Token`; a secret, never logged. */
  id: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms; the local clock when Keystone did not say. */
  issuedAt: number;
  userId: string;
  /** The project the token is scoped to; always set for the two methods alertfence uses. */
  projectId: string | undefined;
  catalog: CatalogService[];
}

/**
 * The Keystone v3 base from a configured `auth_url`, which operators write with or without the version
 * (`https://keystone:5000` or `https://keystone:5000/v3`, sometimes under a path such as `/identity`).
 */
export function identityV3Base(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

/** `POST` issues a token, `GET`/`HEAD` validates one, `DELETE` revokes one. */
export function tokensUrl(authUrl: string): string {
  return `${identityV3Base(authUrl)}/auth/tokens`;
}

/** The JSON body of `POST /v3/auth/tokens` for `credentials` (Keystone API reference, "Authentication"). */
export function authRequestBody(credentials: KeystoneCredentials): unknown {
  if (credentials.method === 'password') {
    const { user, password, project } = credentials;
    return {
      auth: {
        identity: { methods: ['password'], password: { user: { ...byIdOrName(user), password } } },
        scope: { project: byIdOrName(project) },
      },
    };
  }
  const ref = credentials.credential;
  const credential = 'id' in ref ? { id: ref.id } : { name: ref.name, user: byIdOrName(ref.user) };
  return {
    auth: {
      identity: {
        methods: ['application_credential'],
        application_credential: { ...credential, secret: credentials.secret },
      },
    },
  };
}

/** A user or project by id, or by name in its domain. */
function byIdOrName(ref: { id: string } | { name: string; domain: DomainRef }): Record<string, unknown> {
  return 'id' in ref ? { id: ref.id } : { name: ref.name, domain: ref.domain };
}

/** Reads the body of a token response; throws when it is not the documented shape. */
export function parseTokenBody(value: unknown): Omit<IssuedToken, 'id'> {
  const { token } = tokenBodySchema.parse(value);
  const expiresAt = Date.parse(token.expires_at);
  if (Number.isNaN(expiresAt)) throw new Error(`expires_at is not a date: ${token.expires_at}`);
  const issuedAt = token.issued_at ? Date.parse(token.issued_at) : Number.NaN;
  return {
    expiresAt,
    issuedAt: Number.isNaN(issuedAt) ? Date.now() : issuedAt,
    userId: token.user.id,
    projectId: token.project?.id,
    catalog: token.catalog ?? [],
  };
}

/**
 * Issues a token. Keystone answers 201 with the token in `X-Subject-Token` and the catalog in the body.
 * A POST, but safe to repeat after a transient failure: a token that was issued and never received is
 * simply never used.
 */
export async function issueToken(
  http: HttpClient,
  authUrl: string,
  credentials: KeystoneCredentials,
  options: RequestOptions,
): Promise<IssuedToken> {
  const response = await http.request(
    { method: 'POST', url: tokensUrl(authUrl), json: authRequestBody(credentials), idempotent: true },
    options,
  );
  const id = response.headers.get('x-subject-token');
  return readJson(response, (value) => {
    if (!id) throw new Error('no X-Subject-Token header');
    return { id, ...parseTokenBody(value) };
  });
}

/** What to look up in the catalog. */
export interface EndpointQuery {
  /**
   * Service types in order of preference, e.g. `['block-storage', 'volumev3']`: the official type of the
   * service-types authority first, then the aliases older clouds register.
   */
  types: readonly string[];
  interface: EndpointInterface;
  /** Region id; required when the catalog has the service in several regions. */
  region?: string | undefined;
}

/** The catalog has no endpoint, or several, for a query: configuration to fix (type, interface, region). */
export class EndpointNotFoundError extends Error {
  override name = 'EndpointNotFoundError';
}

/**
 * Picks the URL of a service from the catalog by type, interface and region. Throws
 * `EndpointNotFoundError` when nothing matches or when several URLs do and no region tells them apart.
 *
 * @example
 * selectEndpoint(token.catalog, { types: ['compute'], interface: 'public', region: 'RegionOne' });
 * // → 'https://nova.example.com/v2.1'
 */
export function selectEndpoint(catalog: readonly CatalogService[], query: EndpointQuery): string {
  const where = query.region === undefined ? '' : ` in region ${query.region}`;
  for (const type of query.types) {
    const urls = new Set<string>();
    for (const endpoint of catalog.flatMap((service) => (service.type === type ? service.endpoints : []))) {
      if (endpoint.interface !== query.interface) continue;
      if (query.region !== undefined && (endpoint.region_id ?? endpoint.region) !== query.region) continue;
      urls.add(endpoint.url.replace(/\/+$/, ''));
    }
    if (urls.size > 1) {
      throw new EndpointNotFoundError(
        `the catalog has ${urls.size} ${query.interface} endpoints of type ${type}` +
          `${where || '; set the region to choose one'}: ${[...urls].join(', ')}`,
      );
    }
    const [url] = urls;
    if (url !== undefined) return url;
  }
  const offered = catalog.map((service) => service.type).join(', ') || 'nothing';
  throw new EndpointNotFoundError(
    `the catalog has no ${query.interface} endpoint of type ${query.types.join(' or ')}${where} (it offers: ${offered})`,
  );
}

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
  readonly #options: KeystoneSessionOptions;
  #current: IssuedToken | undefined;
  #pending: Promise<IssuedToken> | undefined;
  #issued = 0;

  constructor(options: KeystoneSessionOptions) {
    this.#options = options;
  }

  /** How many tokens this session has issued; one per process lifetime is the goal. */
  get tokensIssued(): number {
    return this.#issued;
  }

  /** The cached token when still fresh, else a newly issued one. `fresh` forces a new one (pre-flight). */
  async authenticate(options: RequestOptions, fresh = false): Promise<IssuedToken> {
    if (!fresh && this.#current && this.#isFresh(this.#current)) return this.#current;
    if (!fresh && this.#pending) return this.#pending;
    const { http, authUrl, credentials } = this.#options;
    const pending = issueToken(http, authUrl, credentials, options).then((token) => {
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

  /**
   * A service of the catalog as its request functions see it, authenticated by this session; `project` is
   * the token's project, which some endpoints need in their path.
   */
  async service(
    query: EndpointQuery,
    options: RequestOptions,
  ): Promise<{ client: ServiceClient; project: string | undefined }> {
    const token = await this.authenticate(options);
    const endpoint = selectEndpoint(token.catalog, query);
    return {
      client: { http: this.#options.http, auth: this, endpoint, headers: {} },
      project: token.projectId,
    };
  }

  #isFresh(token: IssuedToken): boolean {
    const lifetime = token.expiresAt - token.issuedAt;
    const margin = Math.min(this.#options.refreshMarginMs ?? 60_000, Math.max(0, lifetime / 4));
    return (this.#options.now ?? Date.now)() < token.expiresAt - margin;
  }
}
