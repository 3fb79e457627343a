/** Cinder responses, checked against the API reference. */

import * as z from 'zod';

const attachmentSchema = z.object({
  server_id: z.string().nullish(),
  attachment_id: z.string().nullish(),
  device: z.string().nullish(),
});

const volumeBodySchema = z.object({
  volume: z.object({
    id: z.string(),
    name: z.string().nullish(),
    status: z.string(),
    attachments: z.array(attachmentSchema).optional(),
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
