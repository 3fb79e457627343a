/** Nova requests: read a server, find servers, stop and start them, list and detach their volumes. */

import { type RequestOptions, readJson } from '../http.js';
import type { ServiceClient } from '../service-client.js';
import {
  parseServerBody,
  parseServersBody,
  parseVolumeAttachmentsBody,
  type Server,
  type VolumeAttachment,
} from './results.js';
import {
  serverActionUrl,
  serversDetailUrl,
  serverUrl,
  volumeAttachmentsUrl,
  volumeAttachmentUrl,
} from './urls.js';

/**
 * The compute microversion alertfence asks for: 2.3 is the lowest that shows a server's root device name
 * (`OS-EXT-SRV-ATTR:root_device_name`, where policy allows), and every Nova since Liberty serves it. Nothing
 * else we read changed since 2.1, and pinning keeps responses stable when the cloud upgrades.
 */
export const DEFAULT_COMPUTE_MICROVERSION = '2.3';

/** Both spellings of the microversion header: the generic one (2.27+) and Nova's own for older clouds. */
export function computeMicroversionHeaders(version: string): Record<string, string> {
  return { 'OpenStack-API-Version': `compute ${version}`, 'X-OpenStack-Nova-API-Version': version };
}

/** Filters of `GET /servers/detail` the look-up uses; Nova treats each as a regular expression. */
export interface ServerFilters {
  name?: string;
  ip?: string;
  ip6?: string;
}

/** Bound on followed `next` links, so a misbehaving endpoint cannot page forever. */
const MAX_PAGES = 20;

/** `GET /servers/{id}`; 404 when the server does not exist or is not visible to the token's project. */
export async function getServer(
  client: ServiceClient,
  serverId: string,
  options: RequestOptions,
): Promise<Server> {
  const response = await client.http.request(
    { method: 'GET', url: serverUrl(client.endpoint, serverId), headers: client.headers, auth: client.auth },
    options,
  );
  return readJson(response, parseServerBody);
}

/** `GET /servers/detail` with filters, following pagination. */
export async function listServers(
  client: ServiceClient,
  filters: ServerFilters,
  options: RequestOptions,
): Promise<Server[]> {
  const query: Record<string, string> = {};
  for (const [key, value] of Object.entries(filters)) if (value !== undefined) query[key] = value;
  const servers: Server[] = [];
  let url: string | undefined = serversDetailUrl(client.endpoint, query);
  for (let page = 0; url !== undefined && page < MAX_PAGES; page++) {
    const response = await client.http.request(
      { method: 'GET', url, headers: client.headers, auth: client.auth },
      options,
    );
    const result = readJson(response, parseServersBody);
    servers.push(...result.servers);
    url = result.next;
  }
  return servers;
}

/**
 * `POST /servers/{id}/action {"os-stop": null}` → 202. Nova needs the server `ACTIVE` or `ERROR` with no
 * task in progress and answers 409 otherwise. Nova shuts the guest down cleanly first and destroys it after
 * its `shutdown_timeout` (60 s by default, image property `os_shutdown_timeout`); there is no forced stop.
 */
export async function stopServer(
  client: ServiceClient,
  serverId: string,
  options: RequestOptions,
): Promise<void> {
  await serverAction(client, serverId, { 'os-stop': null }, options);
}

/** `POST /servers/{id}/action {"os-start": null}` → 202; Nova needs the server `SHUTOFF`, else 409. */
export async function startServer(
  client: ServiceClient,
  serverId: string,
  options: RequestOptions,
): Promise<void> {
  await serverAction(client, serverId, { 'os-start': null }, options);
}

/** `GET /servers/{id}/os-volume_attachments`. */
export async function listVolumeAttachments(
  client: ServiceClient,
  serverId: string,
  options: RequestOptions,
): Promise<VolumeAttachment[]> {
  const response = await client.http.request(
    {
      method: 'GET',
      url: volumeAttachmentsUrl(client.endpoint, serverId),
      headers: client.headers,
      auth: client.auth,
    },
    options,
  );
  return readJson(response, parseVolumeAttachmentsBody);
}

/**
 * `DELETE /servers/{id}/os-volume_attachments/{volume_id}` → 202; the detach then runs asynchronously until
 * Cinder shows the volume `available`. Nova answers 404 when the volume is not attached, 400 for the root
 * volume or a volume not `in-use`, 409 when the server is locked or busy with a task.
 */
export async function deleteVolumeAttachment(
  client: ServiceClient,
  serverId: string,
  volumeId: string,
  options: RequestOptions,
): Promise<void> {
  await client.http.request(
    {
      method: 'DELETE',
      url: volumeAttachmentUrl(client.endpoint, serverId, volumeId),
      headers: client.headers,
      auth: client.auth,
    },
    options,
  );
}

async function serverAction(
  client: ServiceClient,
  serverId: string,
  action: Record<string, null>,
  options: RequestOptions,
): Promise<void> {
  await client.http.request(
    {
      method: 'POST',
      url: serverActionUrl(client.endpoint, serverId),
      headers: client.headers,
      auth: client.auth,
      json: action,
    },
    options,
  );
}
