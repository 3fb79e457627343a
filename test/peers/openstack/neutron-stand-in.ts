/**
 * A stand-in for Neutron, not Neutron: Nova asks the network service about ports and networks even for a
 * server booted with `"networks": "none"` (compute microversion ≥ 2.37), and fails the boot without an
 * answer. This answers those list calls with empty lists and refuses everything else, so a test that
 * needed real networking would fail loudly instead of passing on made-up data.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the stand-in saw. */
export interface NeutronRequest {
  method: string;
  path: string;
  status: number;
}

/** The running stand-in. */
export interface NeutronStandIn {
  /** Register this as the `network` service. */
  url: string;
  readonly requests: readonly NeutronRequest[];
  stop(): Promise<void>;
}

/** The collections Nova lists; each answers an empty list whatever the filters. */
const EMPTY_LISTS: Record<string, string> = {
  '/v2.0/ports': 'ports',
  '/v2.0/networks': 'networks',
  '/v2.0/subnets': 'subnets',
  '/v2.0/floatingips': 'floatingips',
  '/v2.0/security-groups': 'security_groups',
  '/v2.0/extensions': 'extensions',
};

/** Starts the stand-in on a free loopback port. */
export async function startNeutronStandIn(): Promise<NeutronStandIn> {
  const requests: NeutronRequest[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const path = url.pathname.replace(/\.json$/, '').replace(/\/$/, '');
    const collection = request.method === 'GET' ? EMPTY_LISTS[path] : undefined;
    const status = collection === undefined ? 404 : 200;
    requests.push({ method: request.method ?? 'GET', path: `${path}${url.search}`, status });
    const body =
      collection === undefined
        ? {
            NeutronError: {
              type: 'HTTPNotFound',
              message: `the Neutron stand-in only lists ${Object.keys(EMPTY_LISTS).join(', ')}`,
              detail: '',
            },
          }
        : { [collection]: [] };
    request.resume();
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
