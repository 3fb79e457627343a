/** Keystone v3 token responses and the service catalog they carry. */

import * as z from 'zod';

/** Endpoint interfaces of the Keystone v3 catalog. */
export type EndpointInterface = 'public' | 'internal' | 'admin';

const endpointSchema = z.object({
  url: z.string(),
  interface: z.string(),
  /** `region` is the deprecated twin of `region_id`; Keystone still fills both. */
  region_id: z.string().nullish(),
  region: z.string().nullish(),
});

const serviceSchema = z.object({
  type: z.string(),
  name: z.string().optional(),
  endpoints: z.array(endpointSchema),
});

const tokenBodySchema = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    methods: z.array(z.string()).optional(),
    user: z.object({ id: z.string(), name: z.string().optional() }),
    project: z.object({ id: z.string(), name: z.string().optional() }).optional(),
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

/** What to look up in the catalog. */
export interface EndpointQuery {
  /**
   * Service types in order of preference, e.g. `['block-storage', 'volumev3']`: the official type of the
   * service-types authority first, then the aliases older clouds register.
   */
  types: readonly string[];
  interface: EndpointInterface;
  /** Region id; required when the catalog has the service in several regions. */
  region?: string;
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
  for (const type of query.types) {
    const urls = new Set<string>();
    for (const service of catalog) {
      if (service.type !== type) continue;
      for (const endpoint of service.endpoints) {
        if (endpoint.interface !== query.interface) continue;
        if (query.region !== undefined && (endpoint.region_id ?? endpoint.region) !== query.region) continue;
        urls.add(endpoint.url.replace(/\/+$/, ''));
      }
    }
    if (urls.size > 1) {
      throw new EndpointNotFoundError(
        `the catalog has ${urls.size} ${query.interface} endpoints of type ${type}` +
          `${query.region === undefined ? '; set the region to choose one' : ` in region ${query.region}`}: ` +
          [...urls].join(', '),
      );
    }
    const [url] = urls;
    if (url !== undefined) return url;
  }
  const where = query.region === undefined ? '' : ` in region ${query.region}`;
  const offered = catalog.map((service) => service.type).join(', ') || 'nothing';
  throw new EndpointNotFoundError(
    `the catalog has no ${query.interface} endpoint of type ${query.types.join(' or ')}${where} (it offers: ${offered})`,
  );
}
