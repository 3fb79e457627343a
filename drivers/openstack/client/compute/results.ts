/** Nova responses, checked against the API reference and turned into plain typed values. */

import * as z from 'zod';

const addressSchema = z.object({ addr: z.string(), version: z.number().optional() });

const serverSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  'OS-EXT-STS:task_state': z.string().nullish(),
  addresses: z.record(z.string(), z.array(addressSchema)).optional(),
  /** `""` for a server booted from a volume; an object naming the image otherwise. */
  image: z.union([z.string(), z.object({ id: z.string() })]).nullish(),
  /** Microversion ≥ 2.3 and, under Nova's default policy, admins only. */
  'OS-EXT-SRV-ATTR:root_device_name': z.string().nullish(),
});

const serverLinkSchema = z.object({ rel: z.string(), href: z.string() });

const serverBodySchema = z.object({ server: serverSchema });
const serversBodySchema = z.object({
  servers: z.array(serverSchema),
  servers_links: z.array(serverLinkSchema).optional(),
});

const volumeAttachmentSchema = z.object({
  id: z.string().optional(),
  volumeId: z.string(),
  serverId: z.string().optional(),
  /** Null for a server whose disks are not on a host (shelved offloaded). */
  device: z.string().nullish(),
});
const volumeAttachmentsBodySchema = z.object({ volumeAttachments: z.array(volumeAttachmentSchema) });

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

/** Reads `{"server": {…}}`; throws when it is not the documented shape. */
export function parseServerBody(value: unknown): Server {
  return toServer(serverBodySchema.parse(value).server);
}

/** The servers of one page, and the URL of the next page when Nova paginated. */
export function parseServersBody(value: unknown): { servers: Server[]; next: string | undefined } {
  const body = serversBodySchema.parse(value);
  return {
    servers: body.servers.map(toServer),
    next: body.servers_links?.find((link) => link.rel === 'next')?.href,
  };
}

/** Reads `{"volumeAttachments": […]}`; throws when it is not the documented shape. */
export function parseVolumeAttachmentsBody(value: unknown): VolumeAttachment[] {
  return volumeAttachmentsBodySchema
    .parse(value)
    .volumeAttachments.map((a) => ({ volumeId: a.volumeId, device: a.device ?? undefined }));
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
