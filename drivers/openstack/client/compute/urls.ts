/** URLs of the Nova API (compute v2.1) relative to the catalog's compute endpoint. */

/** `GET` reads the server. */
export function serverUrl(endpoint: string, serverId: string): string {
  return `${endpoint}/servers/${encodeURIComponent(serverId)}`;
}

/** `POST` with one action object: `{"os-stop": null}`, `{"os-start": null}`. */
export function serverActionUrl(endpoint: string, serverId: string): string {
  return `${serverUrl(endpoint, serverId)}/action`;
}

/** `GET /servers/detail` with query filters (`name`, `ip`, `ip6`: regular expressions, matched by search). */
export function serversDetailUrl(endpoint: string, filters: Record<string, string>): string {
  const query = new URLSearchParams(filters).toString();
  return `${endpoint}/servers/detail${query ? `?${query}` : ''}`;
}

/** `GET` lists the volumes attached to the server. */
export function volumeAttachmentsUrl(endpoint: string, serverId: string): string {
  return `${serverUrl(endpoint, serverId)}/os-volume_attachments`;
}

/** Up to microversion 2.88 the attachment is addressed by the volume id. */
export function volumeAttachmentUrl(endpoint: string, serverId: string, volumeId: string): string {
  return `${volumeAttachmentsUrl(endpoint, serverId)}/${encodeURIComponent(volumeId)}`;
}
