/** URLs of the Cinder API (block storage v3) relative to the catalog's endpoint, which ends in the project id. */

/** `GET` reads the volume's status and attachments. */
export function volumeUrl(endpoint: string, volumeId: string): string {
  return `${endpoint}/volumes/${encodeURIComponent(volumeId)}`;
}
