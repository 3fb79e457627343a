/** Cinder (block storage v3): the volume status that confirms a detach. */

import * as z from 'zod';
import { callService, type RequestOptions, readJson, type ServiceClient } from './http.js';
import type { EndpointInterface, KeystoneSession } from './keystone.js';

/**
 * Service types of the catalog. `volumev3` first: it has always meant the project-scoped v3 endpoint, while
 * `block-storage` is sometimes registered unversioned by deployment tools.
 */
export const BLOCK_STORAGE_SERVICE_TYPES = ['volumev3', 'block-storage'] as const;

/** Cinder in the catalog of `session`, its endpoint scoped to the token's project. */
export async function cinderClient(
  session: KeystoneSession,
  where: { interface: EndpointInterface; region: string | undefined },
  options: RequestOptions,
): Promise<ServiceClient> {
  const { client, project } = await session.service(
    { types: BLOCK_STORAGE_SERVICE_TYPES, ...where },
    options,
  );
  // A project-less v3 endpoint (Cinder ≥ 3.67 catalogs): every Cinder v3 also serves /v3/{project_id}.
  if (/\/v3$/.test(client.endpoint) && project)
    return { ...client, endpoint: `${client.endpoint}/${project}` };
  return client;
}

const volumeBodySchema = z.object({
  volume: z.object({
    id: z.string(),
    name: z.string().nullish(),
    status: z.string(),
    attachments: z
      .array(
        z.object({
          server_id: z.string().nullish(),
          attachment_id: z.string().nullish(),
          device: z.string().nullish(),
        }),
      )
      .optional(),
  }),
});

/** A Cinder volume, reduced to what a detach needs. */
export interface Volume {
  id: string;
  /** `available`, `in-use`, `detaching`, `attaching`, `reserved`, `error`, … */
  status: string;
  /** The servers the volume is attached to (several for a multi-attach volume). */
  attachedTo: string[];
}

/** Reads `{"volume": {…}}`; throws when it is not the documented shape. */
export function parseVolumeBody(value: unknown): Volume {
  const { volume } = volumeBodySchema.parse(value);
  return {
    id: volume.id,
    status: volume.status,
    attachedTo: (volume.attachments ?? []).flatMap((a) => (a.server_id ? [a.server_id] : [])),
  };
}

/** `GET /volumes/{id}`; 404 when the volume does not exist or belongs to another project. */
export async function getVolume(
  cinder: ServiceClient,
  volumeId: string,
  options: RequestOptions,
): Promise<Volume> {
  const response = await callService(cinder, 'GET', `/volumes/${encodeURIComponent(volumeId)}`, options);
  return readJson(response, parseVolumeBody);
}
