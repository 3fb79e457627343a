/**
 * The cloud as the OpenStack driver reads it: one Keystone session, the Nova and Cinder clients of a region
 * from its catalog, and the reads of a server (404 is `missing`, never off) and of a volume.
 */

import type { CallOptions, InstanceDescription, InstanceRef } from '../driver.js';
import type { HttpClientTuning } from '../http-client.js';
import { cinderClient, getVolume, type Volume } from './client/cinder.js';
import { OpenStackError } from './client/errors.js';
import { HttpClient, type HttpExchange, type ServiceClient } from './client/http.js';
import { type EndpointInterface, type KeystoneCredentials, KeystoneSession } from './client/keystone.js';
import { DEFAULT_COMPUTE_MICROVERSION, getServer, listVolumeAttachments, novaClient } from './client/nova.js';
import { describeServer, isMissing, type ServerReading } from './server-state.js';

/** Where the cloud is and who the driver is there; only `authUrl` and `credentials` are required. */
export interface OpenStackAccessOptions extends HttpClientTuning<HttpExchange> {
  /** Keystone, with or without `/v3`. */
  authUrl: string;
  credentials: KeystoneCredentials;
  /** Region of the endpoints; a providerID of the form `openstack://<region>/<id>` overrides it. */
  region?: string;
  /** Catalog interface; `internal` when the functions run inside the cloud. Default `public`. */
  interface?: EndpointInterface;
  /** Compute microversion; default {@link DEFAULT_COMPUTE_MICROVERSION}. */
  computeMicroversion?: string;
  fetch?: typeof fetch;
  /** How long before expiry a cached token is replaced. */
  tokenRefreshMarginMs?: number;
}

/** The driver's reads of Nova and Cinder, on one shared token. */
export class OpenStackAccess {
  readonly session: KeystoneSession;
  readonly #options: OpenStackAccessOptions;
  /**
   * Root volumes per server, learnt from `describe`. Whether an attached volume is the boot disk never
   * changes while it stays attached, so a detach after a describe needs no second look.
   */
  readonly #roots = new Map<string, Set<string>>();

  constructor(options: OpenStackAccessOptions) {
    this.#options = options;
    this.session = new KeystoneSession({
      http: new HttpClient(options),
      authUrl: options.authUrl,
      credentials: options.credentials,
      now: options.now,
      refreshMarginMs: options.tokenRefreshMarginMs,
    });
  }

  /** The catalog interface and the region of `ref`'s endpoints. */
  where(ref: Pick<InstanceRef, 'region'>): { interface: EndpointInterface; region: string | undefined } {
    return { interface: this.#options.interface ?? 'public', region: ref.region ?? this.#options.region };
  }

  /** Nova of `ref`'s region, at the configured microversion. */
  nova(ref: Pick<InstanceRef, 'region'>, options: CallOptions): Promise<ServiceClient> {
    const microversion = this.#options.computeMicroversion ?? DEFAULT_COMPUTE_MICROVERSION;
    return novaClient(this.session, { ...this.where(ref), microversion }, options);
  }

  /** Reads the server; Nova's 404 is `missing`, never off. */
  async readServer(ref: InstanceRef, options: CallOptions): Promise<ServerReading> {
    return getServer(await this.nova(ref, options), ref.id, options).catch(
      unless404({ missing: true } as const),
    );
  }

  /** The volume, or undefined when Cinder does not know it (deleted, or another project's). */
  async readVolume(ref: InstanceRef, volumeId: string, options: CallOptions): Promise<Volume | undefined> {
    const cinder = await cinderClient(this.session, this.where(ref), options);
    return getVolume(cinder, volumeId, options).catch(unless404(undefined));
  }

  /** Describes a server from a reading and its attachments, and remembers its root volumes. */
  async describe(
    ref: InstanceRef,
    reading: ServerReading,
    options: CallOptions,
  ): Promise<InstanceDescription> {
    if (isMissing(reading)) return describeServer(ref, reading, []);
    const nova = await this.nova(ref, options);
    // Gone between the two reads: as unproven as any other 404.
    const attachments = await listVolumeAttachments(nova, ref.id, options).catch(unless404(undefined));
    if (attachments === undefined) return describeServer(ref, { missing: true }, []);
    const description = describeServer(ref, reading, attachments);
    this.#roots.set(ref.id, new Set(description.volumes.flatMap((v) => (v.root ? [v.id] : []))));
    return description;
  }

  /** The root volumes of a server, when `describe` has seen it. */
  rootsOf(serverId: string): ReadonlySet<string> | undefined {
    return this.#roots.get(serverId);
  }
}

/** A catch handler that reads Nova's or Cinder's 404 as `absent`, and rethrows anything else. */
function unless404<T>(absent: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof OpenStackError && error.status === 404) return absent;
    throw error;
  };
}
