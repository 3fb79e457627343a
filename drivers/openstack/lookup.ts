/**
 * Finding a node's Nova server when the Node has no providerID: by its name, and only when the server also
 * holds one of the node's InternalIPs (names and addresses both get reused). No match, or several, is a
 * refusal, never a guess.
 */

import { type CallOptions, InstanceNotFoundError, type NodeIdentity } from '../driver.js';
import type { ServiceClient } from './client/http.js';
import { listServers } from './client/nova.js';

/** The id of the node's server; `InstanceNotFoundError` on none or several. */
export async function lookUpServer(
  nova: ServiceClient,
  node: NodeIdentity,
  options: CallOptions,
): Promise<string> {
  if (node.internalIPs.length === 0) {
    throw new InstanceNotFoundError(
      `node ${node.name} reports no InternalIP: a server is looked up by name and address together, never by name alone`,
    );
  }
  // Nova's filters are regular expressions matched anywhere (`worker-1` also finds `worker-10`): anchor and
  // escape them, then compare exactly on our side.
  const named = await listServers(nova, { name: `^${escapeRegExp(node.name)}$` }, options);
  const sameName = named.filter((server) => server.name === node.name);
  const found = sameName.filter((server) => node.internalIPs.some((ip) => server.addresses.includes(ip)));
  const wanted = `name ${node.name} and IP ${node.internalIPs.join(' or ')}`;
  const [server, ...others] = found;
  if (server === undefined) {
    throw new InstanceNotFoundError(
      sameName.length > 0
        ? `no server matches node ${node.name} by ${wanted}: ${sameName.map((s) => `${s.id} has ${s.addresses.join(', ') || 'no address'}`).join('; ')}; set spec.providerID to choose`
        : `no server matches node ${node.name} by ${wanted}`,
    );
  }
  if (others.length > 0) {
    throw new InstanceNotFoundError(
      `${found.length} servers match node ${node.name} by ${wanted} (${found.map((s) => s.id).join('; ')}); set spec.providerID to choose`,
    );
  }
  return server.id;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
