/** The `spec.providerID` the OpenStack cloud provider writes on a Node. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The server a providerID names; `region` is set by cloud-provider-openstack in multi-region clusters. */
export interface OpenStackProviderID {
  serverId: string;
  region?: string;
}

/** Whether a providerID uses the OpenStack scheme at all (well-formed or not). */
export function isOpenStackProviderID(providerID: string): boolean {
  return providerID.startsWith('openstack://');
}

/**
 * Parses `openstack:///<server-uuid>` (and `openstack://<region>/<server-uuid>`, the multi-region form of
 * cloud-provider-openstack). Returns undefined for anything else, including a malformed UUID: a node we
 * cannot name precisely is refused, never guessed.
 *
 * @example
 * parseOpenStackProviderID('openstack:///8d2b0f0e-5b9e-4a53-9b63-1c5b2a1f6c11');
 * // → { serverId: '8d2b0f0e-5b9e-4a53-9b63-1c5b2a1f6c11' }
 */
export function parseOpenStackProviderID(providerID: string): OpenStackProviderID | undefined {
  const match = /^openstack:\/\/([^/]*)\/([^/]+)$/.exec(providerID);
  if (!match) return undefined;
  const [, region, serverId] = match;
  if (serverId === undefined || !UUID.test(serverId)) return undefined;
  return region ? { serverId: serverId.toLowerCase(), region } : { serverId: serverId.toLowerCase() };
}
