/**
 * The admin calls the harness makes on the test OpenStack, over `fetch`: Keystone users and roles, a
 * flavor and an image, servers and volumes for the tests, and the service lists that tell when the cloud
 * is ready. Tests use it to arrange and to look at the cloud; the driver under test never does.
 */

import { waitUntil } from '../process.js';

/** Attempts of a set-up call the cloud answered with a 5xx (each after a longer pause). */
const SETUP_ATTEMPTS = 3;

/** An OpenStack API answered something the harness did not expect. */
export class OpenStackSetupError extends Error {
  override name = 'OpenStackSetupError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Base URLs of the services, as registered in the catalog (the volume one with the project filled in). */
export interface ServiceUrls {
  compute: string;
  volume: string;
  image: string;
  placement: string;
}

/** What a test reads of a server. */
export interface ServerView {
  id: string;
  name: string;
  status: string;
  taskState: string | null;
  /** `OS-EXT-SRV-ATTR:host`, the compute host. */
  host: string | null;
  /** Volume ids attached, from `os-extended-volumes:volumes_attached`. */
  volumeIds: string[];
}

/** What a test reads of a volume. */
export interface VolumeView {
  id: string;
  name: string;
  status: string;
  /** Server ids of its attachments. */
  attachedTo: string[];
}

/** The microversions the harness speaks: servers without networks need compute ≥ 2.37. */
const COMPUTE_VERSION = 'compute 2.79';
const VOLUME_VERSION = 'volume 3.60';

type Service = keyof ServiceUrls | 'identity';

/**
 * Admin access to one test cloud. `token` gives an admin token scoped to the admin project (re-asked
 * after a 401).
 */
export class OpenStackAdmin {
  #token: string | undefined;

  constructor(
    private readonly authUrl: string,
    readonly urls: ServiceUrls,
    private readonly issueToken: () => Promise<string>,
  ) {}

  /** One call; `expected` statuses answer the parsed body (or `{}`), any other throws. */
  async call(
    service: Service,
    method: string,
    path: string,
    options: { body?: unknown; expected?: number[]; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: unknown }> {
    const base = service === 'identity' ? `${this.authUrl}/v3` : this.urls[service];
    for (let attempt = 0; ; attempt++) {
      this.#token ??= await this.issueToken();
      const headers: Record<string, string> = { 'x-auth-token': this.#token, ...options.headers };
      if (service === 'compute') headers['openstack-api-version'] = COMPUTE_VERSION;
      if (service === 'volume') headers['openstack-api-version'] = VOLUME_VERSION;
      if (service === 'placement') headers['openstack-api-version'] = 'placement 1.10';
      if (options.body !== undefined && !headers['content-type'])
        headers['content-type'] = 'application/json';
      const response = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(options.body === undefined
          ? {}
          : { body: options.body instanceof Uint8Array ? options.body : JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await response.text();
      if (response.status === 401 && attempt === 0) {
        this.#token = undefined;
        continue;
      }
      // On a loaded machine the services' sqlite can answer a 500 (its write lock timed out): the set-up tries
      // again, a bounded number of times, rather than fail a test that is not about it.
      if (response.status >= 500 && attempt < SETUP_ATTEMPTS - 1) {
        await new Promise((resolve) => setTimeout(resolve, 2_000 * (attempt + 1)));
        continue;
      }
      const expected = options.expected ?? [200, 201, 202, 204];
      if (!expected.includes(response.status)) {
        throw new OpenStackSetupError(
          `${service}: ${method} ${path} answered ${response.status}: ${text.slice(0, 600)}`,
          response.status,
        );
      }
      return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as unknown) };
    }
  }

  /** The id of the named entity of a Keystone collection, created when missing. */
  async ensureIdentity(collection: 'projects' | 'roles' | 'users', body: Record<string, unknown>) {
    const singular = collection.slice(0, -1);
    const name = String(body.name);
    const { body: list } = await this.call(
      'identity',
      'GET',
      `/${collection}?name=${encodeURIComponent(name)}`,
    );
    const found = (list as Record<string, Array<{ id: string }>>)[collection]?.[0];
    if (found) return found.id;
    const { body: created } = await this.call('identity', 'POST', `/${collection}`, {
      body: { [singular]: body },
      expected: [201],
    });
    return (created as Record<string, { id: string }>)[singular]?.id ?? '';
  }

  /** Grants `role` on `projectId` to `userId`. */
  async grant(projectId: string, userId: string, roleId: string): Promise<void> {
    await this.call('identity', 'PUT', `/projects/${projectId}/users/${userId}/roles/${roleId}`, {
      expected: [200, 204],
    });
  }

  /** Creates a flavor and answers its id. */
  async createFlavor(name: string): Promise<string> {
    const { body } = await this.call('compute', 'POST', '/flavors', {
      body: { flavor: { name, ram: 512, vcpus: 1, disk: 1 } },
    });
    return (body as { flavor: { id: string } }).flavor.id;
  }

  /** Creates an image from `bytes` and waits until it is `active`. */
  async createImage(name: string, bytes: Uint8Array): Promise<string> {
    const { body } = await this.call('image', 'POST', '/v2/images', {
      body: { name, disk_format: 'raw', container_format: 'bare', visibility: 'public' },
      expected: [201],
    });
    const id = (body as { id: string }).id;
    await this.call('image', 'PUT', `/v2/images/${id}/file`, {
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
      expected: [204],
    });
    await waitUntil(
      async () =>
        ((await this.call('image', 'GET', `/v2/images/${id}`)).body as { status: string }).status ===
        'active',
      { timeoutMs: 30_000, what: `image ${name} to be active` },
    );
    return id;
  }

  /** Boots a server without networks and waits until it is ACTIVE; answers its id. */
  async createServer(options: {
    name: string;
    imageId: string;
    flavorId: string;
    metadata?: Record<string, string>;
  }): Promise<string> {
    const { body } = await this.call('compute', 'POST', '/servers', {
      body: {
        server: {
          name: options.name,
          imageRef: options.imageId,
          flavorRef: options.flavorId,
          networks: 'none',
          ...(options.metadata ? { metadata: options.metadata } : {}),
        },
      },
    });
    const id = (body as { server: { id: string } }).server.id;
    await this.waitForServer(id, (s) => s.status === 'ACTIVE' && s.taskState === null, 'ACTIVE');
    return id;
  }

  /** The server, or undefined when Nova answers 404. */
  async server(id: string): Promise<ServerView | undefined> {
    const { status, body } = await this.call('compute', 'GET', `/servers/${id}`, { expected: [200, 404] });
    if (status === 404) return undefined;
    const server = (body as { server: Record<string, unknown> }).server;
    const attached = (server['os-extended-volumes:volumes_attached'] ?? []) as Array<{ id: string }>;
    return {
      id,
      name: String(server.name),
      status: String(server.status),
      taskState: (server['OS-EXT-STS:task_state'] as string | null) ?? null,
      host: (server['OS-EXT-SRV-ATTR:host'] as string | null) ?? null,
      volumeIds: attached.map((v) => v.id),
    };
  }

  /**
   * Waits until `done` holds for the server. A server in ERROR fails the wait at once, with Nova's fault:
   * ERROR is final, and waiting out the timeout would only hide the fault behind "timed out".
   */
  async waitForServer(id: string, done: (server: ServerView) => boolean, what: string): Promise<ServerView> {
    const server = await waitUntil(
      async () => {
        const found = await this.server(id);
        return found && (done(found) || found.status === 'ERROR') ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `server ${id} to be ${what}` },
    );
    if (done(server)) return server;
    const { body } = await this.call('compute', 'GET', `/servers/${id}`);
    throw new OpenStackSetupError(
      `server ${id} went to ERROR: ${JSON.stringify((body as { server: { fault?: unknown } }).server.fault)}`,
    );
  }

  /** `POST /servers/{id}/action`; answers the status (202, or 409 when the state forbids it). */
  async serverAction(id: string, action: Record<string, unknown>): Promise<number> {
    return (
      await this.call('compute', 'POST', `/servers/${id}/action`, { body: action, expected: [202, 409] })
    ).status;
  }

  /** Deletes a server and waits until Nova answers 404. */
  async deleteServer(id: string): Promise<void> {
    await this.call('compute', 'DELETE', `/servers/${id}`, { expected: [204, 404] });
    await waitUntil(async () => (await this.server(id)) === undefined, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: `server ${id} to be deleted`,
    });
  }

  /** Creates an empty volume and waits until it is `available`. */
  async createVolume(name: string, sizeGb = 1): Promise<string> {
    const { body } = await this.call('volume', 'POST', '/volumes', {
      body: { volume: { name, size: sizeGb } },
    });
    const id = (body as { volume: { id: string } }).volume.id;
    await this.waitForVolume(id, (v) => v.status === 'available', 'available');
    return id;
  }

  /** The volume, or undefined when Cinder answers 404. */
  async volume(id: string): Promise<VolumeView | undefined> {
    const { status, body } = await this.call('volume', 'GET', `/volumes/${id}`, { expected: [200, 404] });
    if (status === 404) return undefined;
    const volume = (body as { volume: Record<string, unknown> }).volume;
    const attachments = (volume.attachments ?? []) as Array<{ server_id: string }>;
    return {
      id,
      name: String(volume.name),
      status: String(volume.status),
      attachedTo: attachments.map((a) => a.server_id),
    };
  }

  /** Waits until `done` holds for the volume; `error*` states fail the wait. */
  async waitForVolume(id: string, done: (volume: VolumeView) => boolean, what: string): Promise<VolumeView> {
    return waitUntil(
      async () => {
        const volume = await this.volume(id);
        if (volume?.status.startsWith('error')) {
          throw new OpenStackSetupError(`volume ${id} went to ${volume.status}`);
        }
        return volume && done(volume) ? volume : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `volume ${id} to be ${what}` },
    );
  }

  /** Attaches a volume through Nova (as a CSI controller would) and waits until Cinder shows it `in-use`. */
  async attachVolume(serverId: string, volumeId: string): Promise<void> {
    await this.call('compute', 'POST', `/servers/${serverId}/os-volume_attachments`, {
      body: { volumeAttachment: { volumeId } },
    });
    await this.waitForVolume(
      volumeId,
      (v) => v.status === 'in-use' && v.attachedTo.includes(serverId),
      `in-use on ${serverId}`,
    );
  }

  /** Detaches a volume through Nova and waits until Cinder shows it `available`. */
  async detachVolume(serverId: string, volumeId: string): Promise<void> {
    await this.call('compute', 'DELETE', `/servers/${serverId}/os-volume_attachments/${volumeId}`, {
      expected: [202, 404],
    });
    await this.waitForVolume(volumeId, (v) => v.status === 'available', 'available');
  }

  /** `binary`: state of each service of that binary, from Nova's or Cinder's service list. */
  async serviceStates(service: 'compute' | 'volume', binary: string): Promise<string[]> {
    const path = service === 'compute' ? `/os-services?binary=${binary}` : `/os-services?binary=${binary}`;
    const { body } = await this.call(service, 'GET', path);
    return (body as { services: Array<{ state: string; status: string }> }).services.map(
      (s) => `${s.state}/${s.status}`,
    );
  }
}
