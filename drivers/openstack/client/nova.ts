/**
 * Nova (compute v2.1): read a server, find servers, stop and start them, list and detach their volumes. Each
 * request is a function over a `ServiceClient`; each answer is checked against the API reference and turned
 * into a plain typed value.
 */

import * as z from 'zod';
import { callService, type RequestOptions, readJson, type ServiceClient } from './http.js';
import type { EndpointInterface, KeystoneSession } from './keystone.js';

/**
 * The compute microversion alertfence asks for: 2.3 is the lowest that shows a server's root device name
 * (`OS-EXT-SRV-ATTR:root_device_name`, where policy allows), and every Nova since Liberty serves it. Nothing
 * else we read changed since 2.1, and pinning keeps responses stable when the cloud upgrades.
 */
export const DEFAULT_COMPUTE_MICROVERSION = '2.3';

/** Service types of the catalog, official name first, then the aliases older clouds register. */
export const COMPUTE_SERVICE_TYPES = ['compute'] as const;

/** Both spellings of the microversion header: the generic one (2.27+) and Nova's own for older clouds. */
export function computeMicroversionHeaders(version: string): Record<string, string> {
  return { 'OpenStack-API-Version': `compute ${version}`, 'X-OpenStack-Nova-API-Version': version };
}

/** Nova in the catalog of `session`, every request carrying the microversion `version`. */
export async function novaClient(
  session: KeystoneSession,
  where: { interface: EndpointInterface; region: string | undefined; microversion: string },
  options: RequestOptions,
): Promise<ServiceClient> {
  const { client } = await session.service({ types: COMPUTE_SERVICE_TYPES, ...where }, options);
  return { ...client, headers: computeMicroversionHeaders(where.microversion) };
}

const serverSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  'OS-EXT-STS:task_state': z.string().nullish(),
  addresses: z
    .record(z.string(), z.array(z.object({ addr: z.string(), version: z.number().optional() })))
    .optional(),
  /** `""` for a server booted from a volume; an object naming the image otherwise. */
  image: z.union([z.string(), z.object({ id: z.string() })]).nullish(),
  /** Microversion ≥ 2.3 and, under Nova's default policy, admins only. */
  'OS-EXT-SRV-ATTR:root_device_name': z.string().nullish(),
});

const serversBodySchema = z.object({
  servers: z.array(serverSchema),
  servers_links: z.array(z.object({ rel: z.string(), href: z.string() })).optional(),
});

const volumeAttachmentsBodySchema = z.object({
  volumeAttachments: z.array(
    z.object({
      id: z.string().optional(),
      volumeId: z.string(),
      serverId: z.string().optional(),
      /** Null for a server whose disks are not on a host (shelved offloaded). */
      device: z.string().nullish(),
    }),
  ),
});

/** A Nova server, reduced to what fencing needs. */
export interface Server {
  id: string;
  name: string;
  /** `ACTIVE`, `SHUTOFF`, `ERROR`, `HARD_REBOOT`, … */
  status: string;
  /** `powering-off`, `powering-on`, `rebooting_hard`, …; null when no task is in progress. */
  taskState: string | null;
  /** Every fixed and floating address, for look-up by IP. */
  addresses: string[];
  /** Booted from a volume (`image` is empty), so one of its volumes is the root disk. */
  volumeBacked: boolean;
  /** The root disk's device name, when the policy lets us see it. */
  rootDeviceName: string | undefined;
}

/** One volume attached to a server, as Nova lists it. */
export interface VolumeAttachment {
  volumeId: string;
  device: string | undefined;
}

function toServer(raw: z.infer<typeof serverSchema>): Server {
  return {
    id: raw.id,
    name: raw.name,
    status: raw.status,
    taskState: raw['OS-EXT-STS:task_state'] ?? null,
    addresses: Object.values(raw.addresses ?? {}).flatMap((list) => list.map((a) => a.addr)),
    volumeBacked: raw.image === '' || raw.image === null,
    rootDeviceName: raw['OS-EXT-SRV-ATTR:root_device_name'] ?? undefined,
  };
}

/** Reads `{"server": {…}}`; throws when it is not the documented shape. */
export function parseServerBody(value: unknown): Server {
  return toServer(z.object({ server: serverSchema }).parse(value).server);
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
  nova: ServiceClient,
  serverId: string,
  options: RequestOptions,
): Promise<Server> {
  return readJson(await callService(nova, 'GET', serverPath(serverId), options), parseServerBody);
}

/** `GET /servers/detail` with filters, following pagination. */
export async function listServers(
  nova: ServiceClient,
  filters: ServerFilters,
  options: RequestOptions,
): Promise<Server[]> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value !== undefined) query.set(key, value);
  const servers: Server[] = [];
  let url: string | undefined = `${nova.endpoint}/servers/detail${query.toString() ? `?${query}` : ''}`;
  for (let page = 0; url !== undefined && page < MAX_PAGES; page++) {
    const response = await nova.http.request(
      { method: 'GET', url, headers: nova.headers, auth: nova.auth },
      options,
    );
    const body = readJson(response, (value) => serversBodySchema.parse(value));
    servers.push(...body.servers.map(toServer));
    url = body.servers_links?.find((link) => link.rel === 'next')?.href;
  }
  return servers;
}

/**
 * `POST /servers/{id}/action {"os-stop": null}` → 202. Nova needs the server `ACTIVE` or `ERROR` with no
 * task in progress and answers 409 otherwise. Nova shuts the guest down cleanly first and destroys it after
 * its `shutdown_timeout` (60 s by default, image property `os_shutdown_timeout`); there is no forced stop.
 * `os-start` needs the server `SHUTOFF`, else 409.
 */
export async function serverAction(
  nova: ServiceClient,
  serverId: string,
  action: 'os-stop' | 'os-start',
  options: RequestOptions,
): Promise<void> {
  await callService(nova, 'POST', `${serverPath(serverId)}/action`, options, { [action]: null });
}

/** `GET /servers/{id}/os-volume_attachments`. */
export async function listVolumeAttachments(
  nova: ServiceClient,
  serverId: string,
  options: RequestOptions,
): Promise<VolumeAttachment[]> {
  const response = await callService(nova, 'GET', `${serverPath(serverId)}/os-volume_attachments`, options);
  return readJson(response, (value) =>
    volumeAttachmentsBodySchema
      .parse(value)
      .volumeAttachments.map((a) => ({ volumeId: a.volumeId, device: a.device ?? undefined })),
  );
}

/**
 * `DELETE /servers/{id}/os-volume_attachments/{volume_id}` (up to microversion 2.88 the attachment is
 * addressed by the volume id) → 202; the detach then runs asynchronously until Cinder shows the volume
 * `available`. Nova answers 404 when the volume is not attached, 400 for the root volume or a volume not
 * `in-use`, 409 when the server is locked or busy with a task.
 */
export async function deleteVolumeAttachment(
  nova: ServiceClient,
  serverId: string,
  volumeId: string,
  options: RequestOptions,
): Promise<void> {
  const path = `${serverPath(serverId)}/os-volume_attachments/${encodeURIComponent(volumeId)}`;
  await callService(nova, 'DELETE', path, options);
}

function serverPath(serverId: string): string {
  return `/servers/${encodeURIComponent(serverId)}`;
}
