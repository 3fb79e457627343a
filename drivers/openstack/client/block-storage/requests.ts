/** Cinder requests: the volume status that confirms a detach. */

import { type RequestOptions, readJson } from '../http.js';
import type { ServiceClient } from '../service-client.js';
import { parseVolumeBody, type Volume } from './results.js';
import { volumeUrl } from './urls.js';

/** `GET /volumes/{id}`; 404 when the volume does not exist or belongs to another project. */
export async function getVolume(
  client: ServiceClient,
  volumeId: string,
  options: RequestOptions,
): Promise<Volume> {
  const response = await client.http.request(
    { method: 'GET', url: volumeUrl(client.endpoint, volumeId), headers: client.headers, auth: client.auth },
    options,
  );
  return readJson(response, parseVolumeBody);
}
