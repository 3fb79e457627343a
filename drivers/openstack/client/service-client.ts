import type { HttpClient, TokenProvider } from './http.js';

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
