/**
 * A contract fake of Nova (compute v2.1) and Cinder (block storage v3), written from the OpenStack API
 * reference, for the endpoints a fence uses. Two `node:http` servers on port 0, like the real services on
 * their own ports (8774, 8776), so access-rule paths look like production ones (`/v2.1/servers/*`).
 *
 * Tokens are validated against a real Keystone the way keystonemiddleware does it: `GET /v3/auth/tokens`
 * with a service token in `X-Auth-Token`, the caller's in `X-Subject-Token`, `OpenStack-Identity-Access-Rules`
 * so application-credential tokens are accepted, then the credential's access rules are enforced.
 *
 * State changes take time, as on a real cloud: `os-stop` leaves the server `ACTIVE` with task
 * `powering-off` for `powerOffMs`, then `SHUTOFF`; a detach leaves the volume `detaching` for `detachMs`.
 * Time is read lazily from `now()`, so nothing runs between requests and nothing needs cleaning up.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface NovaCinderOptions {
  keystone: {
    authUrl: string;
    /** A token allowed to validate other tokens (Keystone's `service` or `admin` role). */
    serviceToken: () => Promise<string>;
  };
  /** Time a server spends `powering-off`. Default 1500 ms. */
  powerOffMs?: number;
  /** Time a server spends `powering-on`. Default 1500 ms. */
  powerOnMs?: number;
  /** Time a volume spends `detaching`. Default 1000 ms. */
  detachMs?: number;
  /**
   * How long a validated token is trusted without asking Keystone (keystonemiddleware's
   * `token_cache_time`, 300 s there). Default 0: every request is validated, so a revoked token is refused
   * at once.
   */
  tokenCacheMs?: number;
  /** Show `OS-EXT-SRV-ATTR:root_device_name` (Nova's default policy shows it to admins only). */
  showRootDeviceName?: boolean;
  now?: () => number;
}

/** Nova's vm states behind the API statuses this fake uses. */
type ServerStatus =
  | 'ACTIVE'
  | 'SHUTOFF'
  | 'ERROR'
  | 'PAUSED'
  | 'SUSPENDED'
  | 'SHELVED_OFFLOADED'
  | 'HARD_REBOOT';

export interface FakeServerSpec {
  id?: string;
  name: string;
  projectId: string;
  status?: ServerStatus;
  /** Network name → fixed addresses. */
  addresses?: Record<string, string[]>;
  /** An image id, or `''` for a server booted from a volume (the default). */
  image?: string;
  rootDeviceName?: string;
  locked?: boolean;
}

export interface FakeVolumeSpec {
  id?: string;
  name?: string;
  projectId: string;
  size?: number;
  bootable?: boolean;
}

/** What a test sees of a server. */
export interface FakeServerView {
  id: string;
  name: string;
  status: string;
  taskState: string | null;
  volumeIds: string[];
}

/** What a test sees of a volume. */
export interface FakeVolumeView {
  id: string;
  status: string;
  attachedTo: string[];
}

export interface RecordedRequest {
  service: 'compute' | 'volumev3';
  method: string;
  /** Path and query as sent. */
  path: string;
  status: number;
  /** The compute microversion the request asked for (absent: none asked, so 2.1). */
  microversion?: string;
}

export interface FaultMatch {
  service?: 'compute' | 'volumev3';
  method?: string;
  path?: RegExp;
}

export interface NovaCinderFake {
  /** Nova's endpoint for the catalog, e.g. `http://127.0.0.1:40001/v2.1`. */
  computeUrl: string;
  /** Cinder's endpoint for the catalog, with Keystone's project-id template. */
  volumeUrlTemplate: string;
  addServer(spec: FakeServerSpec): string;
  addVolume(spec: FakeVolumeSpec): string;
  /** Attaches at once (test setup); the root disk is attached as `rootDeviceName`. */
  attachVolume(serverId: string, volumeId: string, device: string, options?: { root?: boolean }): void;
  deleteServer(serverId: string): void;
  /** Simulates a dead hypervisor: a power task on this server never completes. */
  setStuck(serverId: string, stuck: boolean): void;
  /** The next `count` accepted actions on the server answer 202 and do nothing (a lost RPC). */
  dropActions(serverId: string, count: number): void;
  /** The next `count` requests matching answer `status` (after authentication, like a failing service). */
  failNext(match: FaultMatch, status: number, count?: number, headers?: Record<string, string>): void;
  server(serverId: string): FakeServerView;
  volume(volumeId: string): FakeVolumeView;
  requests: RecordedRequest[];
  /** Token validations sent to Keystone. */
  validations: number;
  stop(): Promise<void>;
}

interface Attachment {
  volumeId: string;
  device: string;
  root: boolean;
  attachmentId: string;
  attachedAt: string;
}

interface ServerRecord {
  id: string;
  name: string;
  projectId: string;
  status: ServerStatus;
  taskState: string | null;
  addresses: Record<string, string[]>;
  image: string;
  rootDeviceName: string;
  locked: boolean;
  attachments: Attachment[];
  created: string;
  updated: string;
  stuck: boolean;
  dropActions: number;
  /** The end of the running task, applied lazily. */
  pending?: { at: number; apply: () => void };
}

interface VolumeRecord {
  id: string;
  name: string;
  projectId: string;
  size: number;
  bootable: boolean;
  status: string;
  attachedTo: string[];
  pending?: { at: number; apply: () => void };
}

interface ValidatedToken {
  projectId: string | undefined;
  expiresAt: number;
  catalogTypes: string[];
  accessRules: Array<{ service: string; method: string; path: string }> | undefined;
  checkedAt: number;
}

const MAX_MICROVERSION: [number, number] = [2, 96];

/** Statuses from which Nova lets a volume be detached (nova/compute/api.py `detach_volume`). */
const DETACHABLE = new Set<ServerStatus>(['ACTIVE', 'PAUSED', 'SHUTOFF', 'SHELVED_OFFLOADED']);

class FaultError extends Error {
  override name = 'FaultError';
  constructor(
    readonly status: number,
    readonly fault: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts the fake. Register `computeUrl` as `compute` and `volumeUrlTemplate` as `volumev3` in Keystone.
 *
 * @example
 * const cloud = await startNovaCinder({ keystone: { authUrl, serviceToken } });
 * await keystone.registerService('compute', cloud.computeUrl);
 * await keystone.registerService('volumev3', cloud.volumeUrlTemplate);
 */
export async function startNovaCinder(options: NovaCinderOptions): Promise<NovaCinderFake> {
  const now = options.now ?? Date.now;
  const powerOffMs = options.powerOffMs ?? 1500;
  const powerOnMs = options.powerOnMs ?? 1500;
  const detachMs = options.detachMs ?? 1000;
  const tokenCacheMs = options.tokenCacheMs ?? 0;
  const servers = new Map<string, ServerRecord>();
  const volumes = new Map<string, VolumeRecord>();
  const tokens = new Map<string, ValidatedToken>();
  const faults: Array<{ match: FaultMatch; status: number; left: number; headers: Record<string, string> }> =
    [];
  const requests: RecordedRequest[] = [];
  let validations = 0;
  let serviceToken: string | undefined;

  const settle = (record: { pending?: { at: number; apply: () => void } }) => {
    if (record.pending && record.pending.at <= now()) {
      const { apply } = record.pending;
      record.pending = undefined;
      apply();
    }
  };
  const getServer = (id: string, projectId: string | undefined): ServerRecord => {
    const server = servers.get(id);
    // Nova hides other projects' servers behind the same 404 as missing ones.
    if (!server || server.projectId !== projectId) {
      throw new FaultError(404, 'itemNotFound', `Instance ${id} could not be found.`);
    }
    settle(server);
    return server;
  };
  const getVolume = (id: string, projectId: string | undefined): VolumeRecord => {
    const volume = volumes.get(id);
    if (!volume || volume.projectId !== projectId) {
      throw new FaultError(404, 'itemNotFound', `Volume ${id} could not be found.`);
    }
    settle(volume);
    return volume;
  };

  async function validate(token: string): Promise<ValidatedToken | undefined> {
    const cached = tokens.get(token);
    if (cached && now() - cached.checkedAt < tokenCacheMs)
      return cached.expiresAt > now() ? cached : undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      serviceToken ??= await options.keystone.serviceToken();
      validations++;
      const response = await fetch(`${options.keystone.authUrl.replace(/\/+$/, '')}/v3/auth/tokens`, {
        headers: {
          'X-Auth-Token': serviceToken,
          'X-Subject-Token': token,
          // keystonemiddleware ≥ 7 says it enforces access rules; without it Keystone refuses
          // application-credential tokens that carry rules.
          'OpenStack-Identity-Access-Rules': '1.0',
        },
      });
      const text = await response.text();
      if (response.status === 401 && attempt === 0) {
        serviceToken = undefined;
        continue;
      }
      if (response.status === 404 || response.status === 401) return undefined;
      if (response.status !== 200) {
        throw new FaultError(
          503,
          'serviceUnavailable',
          `Keystone answered ${response.status} to token validation`,
        );
      }
      const body = JSON.parse(text) as {
        token: {
          expires_at: string;
          project?: { id: string };
          catalog?: Array<{ type: string }>;
          application_credential?: {
            access_rules?: Array<{ service: string; method: string; path: string }>;
          };
        };
      };
      const validated: ValidatedToken = {
        projectId: body.token.project?.id,
        expiresAt: Date.parse(body.token.expires_at),
        catalogTypes: (body.token.catalog ?? []).map((s) => s.type),
        accessRules: body.token.application_credential?.access_rules,
        checkedAt: now(),
      };
      tokens.set(token, validated);
      return validated.expiresAt > now() ? validated : undefined;
    }
    return undefined;
  }

  /** keystonemiddleware's `validate_allowed_request`: rules name a service type, a method and a path. */
  function allowedByAccessRules(
    token: ValidatedToken,
    service: string,
    method: string,
    path: string,
  ): boolean {
    if (token.accessRules === undefined) return true;
    if (!token.catalogTypes.includes(service)) return false;
    return token.accessRules.some(
      (rule) => rule.service === service && rule.method === method && accessRulePattern(rule.path).test(path),
    );
  }

  function serverView(server: ServerRecord, microversion: [number, number]): unknown {
    const vmState = {
      ACTIVE: 'active',
      SHUTOFF: 'stopped',
      ERROR: 'error',
      PAUSED: 'paused',
      SUSPENDED: 'suspended',
      SHELVED_OFFLOADED: 'shelved_offloaded',
      HARD_REBOOT: 'active',
    }[server.status];
    const powerState = server.status === 'SHUTOFF' || server.status === 'SHELVED_OFFLOADED' ? 4 : 1;
    const view: Record<string, unknown> = {
      id: server.id,
      name: server.name,
      status: server.status,
      tenant_id: server.projectId,
      user_id: 'fake-user',
      created: server.created,
      updated: server.updated,
      hostId: 'fake-host',
      metadata: {},
      links: [{ rel: 'self', href: `${computeUrl}/servers/${server.id}` }],
      image: server.image === '' ? '' : { id: server.image, links: [] },
      flavor: { id: 'm1.small', links: [] },
      addresses: Object.fromEntries(
        Object.entries(server.addresses).map(([net, addrs]) => [
          net,
          addrs.map((addr) => ({ addr, version: addr.includes(':') ? 6 : 4, 'OS-EXT-IPS:type': 'fixed' })),
        ]),
      ),
      'OS-EXT-STS:task_state': server.taskState,
      'OS-EXT-STS:vm_state': vmState,
      'OS-EXT-STS:power_state': powerState,
      'os-extended-volumes:volumes_attached': server.attachments.map((a) => ({ id: a.volumeId })),
    };
    if (options.showRootDeviceName && atLeast(microversion, [2, 3])) {
      view['OS-EXT-SRV-ATTR:root_device_name'] = server.rootDeviceName;
    }
    return view;
  }

  function volumeView(volume: VolumeRecord): unknown {
    return {
      volume: {
        id: volume.id,
        name: volume.name,
        status: volume.status,
        size: volume.size,
        availability_zone: 'nova',
        bootable: String(volume.bootable),
        multiattach: false,
        volume_type: 'standard',
        attachments: volume.attachedTo.map((serverId) => {
          const attachment = servers.get(serverId)?.attachments.find((a) => a.volumeId === volume.id);
          return {
            id: volume.id,
            volume_id: volume.id,
            server_id: serverId,
            attachment_id: attachment?.attachmentId,
            device: attachment?.device,
            attached_at: attachment?.attachedAt,
            host_name: null,
          };
        }),
      },
    };
  }

  function serverAction(server: ServerRecord, body: unknown): void {
    if (typeof body !== 'object' || body === null || Object.keys(body).length !== 1) {
      throw new FaultError(400, 'badRequest', 'Malformed request body');
    }
    const [action] = Object.keys(body) as [string];
    if (action !== 'os-stop' && action !== 'os-start') {
      throw new FaultError(400, 'badRequest', `There is no such action: ${action}`);
    }
    const verb = action === 'os-stop' ? 'stop' : 'start';
    if (server.locked) throw new FaultError(409, 'conflictingRequest', `Instance ${server.id} is locked`);
    // nova/compute/api.py: stop needs vm_state ACTIVE or ERROR, start needs STOPPED; both need no task.
    const allowed = action === 'os-stop' ? ['ACTIVE', 'ERROR'] : ['SHUTOFF'];
    if (server.taskState !== null || !allowed.includes(server.status)) {
      const state =
        server.taskState === null
          ? `vm_state ${server.status.toLowerCase()}`
          : `task_state ${server.taskState}`;
      throw new FaultError(
        409,
        'conflictingRequest',
        `Cannot '${verb}' instance ${server.id} while it is in ${state}`,
      );
    }
    if (server.dropActions > 0) {
      server.dropActions--;
      return;
    }
    server.taskState = action === 'os-stop' ? 'powering-off' : 'powering-on';
    server.updated = new Date(now()).toISOString();
    if (server.stuck) return;
    server.pending = {
      at: now() + (action === 'os-stop' ? powerOffMs : powerOnMs),
      apply: () => {
        server.status = action === 'os-stop' ? 'SHUTOFF' : 'ACTIVE';
        server.taskState = null;
        server.updated = new Date(now()).toISOString();
      },
    };
  }

  function detach(server: ServerRecord, volumeId: string): void {
    const volume = volumes.get(volumeId);
    if (!volume) throw new FaultError(404, 'itemNotFound', `Volume ${volumeId} could not be found.`);
    settle(volume);
    const attachment = server.attachments.find((a) => a.volumeId === volumeId);
    if (!attachment) {
      throw new FaultError(
        404,
        'itemNotFound',
        `Instance ${server.id} is not attached to volume ${volumeId}`,
      );
    }
    if (attachment.root) throw new FaultError(400, 'badRequest', 'Cannot detach a root device volume');
    if (server.locked) throw new FaultError(409, 'conflictingRequest', `Instance ${server.id} is locked`);
    if (server.taskState !== null || !DETACHABLE.has(server.status)) {
      throw new FaultError(
        409,
        'conflictingRequest',
        `Cannot 'detach_volume' instance ${server.id} while it is in task_state ${server.taskState ?? 'None'}`,
      );
    }
    if (volume.status !== 'in-use') {
      throw new FaultError(
        400,
        'badRequest',
        `Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.`,
      );
    }
    volume.status = 'detaching';
    volume.pending = {
      at: now() + detachMs,
      apply: () => {
        server.attachments = server.attachments.filter((a) => a.volumeId !== volumeId);
        volume.attachedTo = volume.attachedTo.filter((id) => id !== server.id);
        volume.status = volume.attachedTo.length > 0 ? 'in-use' : 'available';
      },
    };
  }

  async function handleCompute(
    req: IncomingMessage,
    url: URL,
    token: ValidatedToken,
  ): Promise<[number, unknown]> {
    const microversion = parseMicroversion(req);
    const segments = url.pathname
      .replace(/^\/v2\.1\/?/, '')
      .split('/')
      .filter(Boolean);
    const [collection, id, sub, subId] = segments;
    if (url.pathname.split('/')[1] !== 'v2.1' || collection !== 'servers') {
      throw new FaultError(404, 'itemNotFound', 'The resource could not be found.');
    }
    if (req.method === 'GET' && id === 'detail' && sub === undefined) {
      const matches = [...servers.values()].filter((server) => {
        settle(server);
        if (server.projectId !== token.projectId) return false;
        // Nova matches these filters as regular expressions anywhere in the value (re.search).
        const name = url.searchParams.get('name');
        if (name !== null && !new RegExp(name).test(server.name)) return false;
        const all = Object.values(server.addresses).flat();
        const ip = url.searchParams.get('ip');
        if (ip !== null && !all.some((a) => !a.includes(':') && new RegExp(ip).test(a))) return false;
        const ip6 = url.searchParams.get('ip6');
        if (ip6 !== null && !all.some((a) => a.includes(':') && new RegExp(ip6).test(a))) return false;
        return true;
      });
      return [200, { servers: matches.map((s) => serverView(s, microversion)) }];
    }
    if (id === undefined) throw new FaultError(405, 'badMethod', 'Method not allowed');
    const server = getServer(id, token.projectId);
    if (req.method === 'GET' && sub === undefined) return [200, { server: serverView(server, microversion) }];
    if (req.method === 'POST' && sub === 'action' && subId === undefined) {
      serverAction(server, await readJsonBody(req));
      return [202, undefined];
    }
    if (sub === 'os-volume_attachments') {
      if (req.method === 'GET' && subId === undefined) {
        return [
          200,
          {
            volumeAttachments: server.attachments.map((a) => ({
              id: a.volumeId,
              volumeId: a.volumeId,
              serverId: server.id,
              device: a.device,
            })),
          },
        ];
      }
      if (req.method === 'DELETE' && subId !== undefined) {
        detach(server, subId);
        return [202, undefined];
      }
    }
    throw new FaultError(404, 'itemNotFound', 'The resource could not be found.');
  }

  function handleVolume(req: IncomingMessage, url: URL, token: ValidatedToken): [number, unknown] {
    const [version, projectId, collection, id, ...rest] = url.pathname.split('/').filter(Boolean);
    if (version !== 'v3' || collection !== 'volumes' || id === undefined || rest.length > 0) {
      throw new FaultError(404, 'itemNotFound', 'The resource could not be found.');
    }
    if (projectId !== token.projectId) {
      throw new FaultError(403, 'forbidden', `Policy doesn't allow access to project ${projectId}.`);
    }
    if (req.method !== 'GET') throw new FaultError(405, 'badMethod', 'Method not allowed');
    return [200, volumeView(getVolume(id, token.projectId))];
  }

  function listener(service: 'compute' | 'volumev3') {
    return async (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const record: RecordedRequest = {
        service,
        method: req.method ?? 'GET',
        path: `${url.pathname}${url.search}`,
        status: 0,
      };
      const requestId = `req-${randomUUID()}`;
      const headers: Record<string, string> = { 'x-openstack-request-id': requestId };
      if (service === 'compute') {
        headers['x-compute-request-id'] = requestId;
        headers.vary = 'OpenStack-API-Version, X-OpenStack-Nova-API-Version';
      }
      let status: number;
      let body: unknown;
      try {
        const presented = req.headers['x-auth-token'];
        const token =
          typeof presented === 'string' && presented !== '' ? await validate(presented) : undefined;
        if (!token) {
          headers['www-authenticate'] = `Keystone uri="${options.keystone.authUrl}"`;
          throw new FaultError(401, 'error', 'The request you have made requires authentication.');
        }
        if (!allowedByAccessRules(token, service, record.method, url.pathname)) {
          // keystonemiddleware raises InvalidToken, which is a 401 like any bad token.
          headers['www-authenticate'] = `Keystone uri="${options.keystone.authUrl}"`;
          throw new FaultError(401, 'error', 'The request you have made requires authentication.');
        }
        if (service === 'compute') {
          // After authentication, as in Nova's paste pipeline (auth token middleware, then the API).
          const microversion = parseMicroversion(req);
          const asked = req.headers['openstack-api-version'] ?? req.headers['x-openstack-nova-api-version'];
          if (asked !== undefined) record.microversion = microversion.join('.');
          headers['openstack-api-version'] = `compute ${microversion.join('.')}`;
          headers['x-openstack-nova-api-version'] = microversion.join('.');
        }
        const fault = faults.find(
          (f) =>
            f.left > 0 &&
            (f.match.service === undefined || f.match.service === service) &&
            (f.match.method === undefined || f.match.method === record.method) &&
            (f.match.path === undefined || f.match.path.test(record.path)),
        );
        if (fault) {
          fault.left--;
          Object.assign(headers, fault.headers);
          throw new FaultError(
            fault.status,
            fault.status === 429 ? 'overLimit' : 'computeFault',
            'injected fault',
          );
        }
        [status, body] =
          service === 'compute' ? await handleCompute(req, url, token) : handleVolume(req, url, token);
      } catch (error) {
        if (!(error instanceof FaultError)) {
          status = 500;
          body = { computeFault: { code: 500, message: String(error) } };
        } else {
          status = error.status;
          body =
            error.fault === 'error'
              ? { error: { code: error.status, title: 'Unauthorized', message: error.message } }
              : { [error.fault]: { code: error.status, message: error.message } };
        }
      }
      record.status = status;
      requests.push(record);
      if (body === undefined) {
        res.writeHead(status, headers).end();
      } else {
        res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(body));
      }
    };
  }

  const compute = await listen(createServer(listener('compute')));
  const volume = await listen(createServer(listener('volumev3')));
  const computeUrl = `http://127.0.0.1:${compute.port}/v2.1`;

  return {
    computeUrl,
    volumeUrlTemplate: `http://127.0.0.1:${volume.port}/v3/$(project_id)s`,
    addServer(spec) {
      const id = spec.id ?? randomUUID();
      const stamp = new Date(now()).toISOString();
      servers.set(id, {
        id,
        name: spec.name,
        projectId: spec.projectId,
        status: spec.status ?? 'ACTIVE',
        taskState: null,
        addresses: spec.addresses ?? {},
        image: spec.image ?? '',
        rootDeviceName: spec.rootDeviceName ?? '/dev/vda',
        locked: spec.locked ?? false,
        attachments: [],
        created: stamp,
        updated: stamp,
        stuck: false,
        dropActions: 0,
      });
      return id;
    },
    addVolume(spec) {
      const id = spec.id ?? randomUUID();
      volumes.set(id, {
        id,
        name: spec.name ?? id,
        projectId: spec.projectId,
        size: spec.size ?? 10,
        bootable: spec.bootable ?? false,
        status: 'available',
        attachedTo: [],
      });
      return id;
    },
    attachVolume(serverId, volumeId, device, attachOptions = {}) {
      const server = servers.get(serverId);
      const vol = volumes.get(volumeId);
      if (!server || !vol) throw new Error(`no server ${serverId} or volume ${volumeId}`);
      server.attachments.push({
        volumeId,
        device,
        root: attachOptions.root ?? device === server.rootDeviceName,
        attachmentId: randomUUID(),
        attachedAt: new Date(now()).toISOString(),
      });
      vol.attachedTo.push(serverId);
      vol.status = 'in-use';
    },
    deleteServer(serverId) {
      const server = servers.get(serverId);
      if (!server) return;
      for (const attachment of server.attachments) {
        const vol = volumes.get(attachment.volumeId);
        if (!vol) continue;
        vol.attachedTo = vol.attachedTo.filter((id) => id !== serverId);
        vol.status = vol.attachedTo.length > 0 ? 'in-use' : 'available';
      }
      servers.delete(serverId);
    },
    setStuck(serverId, stuck) {
      const server = servers.get(serverId);
      if (!server) throw new Error(`no server ${serverId}`);
      server.stuck = stuck;
    },
    dropActions(serverId, count) {
      const server = servers.get(serverId);
      if (!server) throw new Error(`no server ${serverId}`);
      server.dropActions = count;
    },
    failNext(match, status, count = 1, headers = {}) {
      faults.push({ match, status, left: count, headers });
    },
    server(serverId) {
      const server = servers.get(serverId);
      if (!server) throw new Error(`no server ${serverId}`);
      settle(server);
      for (const a of server.attachments) {
        const vol = volumes.get(a.volumeId);
        if (vol) settle(vol);
      }
      return {
        id: server.id,
        name: server.name,
        status: server.status,
        taskState: server.taskState,
        volumeIds: server.attachments.map((a) => a.volumeId),
      };
    },
    volume(volumeId) {
      const vol = volumes.get(volumeId);
      if (!vol) throw new Error(`no volume ${volumeId}`);
      settle(vol);
      return { id: vol.id, status: vol.status, attachedTo: [...vol.attachedTo] };
    },
    requests,
    get validations() {
      return validations;
    },
    async stop() {
      await Promise.all([compute.close(), volume.close()]);
    },
  };
}

/** keystonemiddleware's `_path_matches`: `*` is one path segment, `**` any number, `{name}` one segment. */
export function accessRulePattern(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern.charAt(i);
    if (pattern.startsWith('**', i)) {
      source += '.*';
      i++;
    } else if (char === '*') {
      source += '[^/]+';
    } else if (char === '{') {
      const end = pattern.indexOf('}', i);
      source += '[^/]+';
      i = end < 0 ? pattern.length : end;
    } else {
      source += char.replace(/[.+?^$()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** The compute microversion asked for: the generic header first, then Nova's own, else the 2.1 base. */
function parseMicroversion(req: IncomingMessage): [number, number] {
  const generic = req.headers['openstack-api-version'];
  const legacy = req.headers['x-openstack-nova-api-version'];
  let asked: string | undefined;
  if (typeof generic === 'string') {
    const match = /(?:^|,)\s*compute\s+(\S+)/i.exec(generic);
    asked = match?.[1];
  } else if (typeof legacy === 'string') {
    asked = legacy.trim();
  }
  if (asked === undefined) return [2, 1];
  if (asked === 'latest') return MAX_MICROVERSION;
  const match = /^(\d+)\.(\d+)$/.exec(asked);
  if (!match) throw new FaultError(400, 'badRequest', `Invalid API version request: ${asked}`);
  const version: [number, number] = [Number(match[1]), Number(match[2])];
  if (!atLeast(version, [2, 1]) || !atLeast(MAX_MICROVERSION, version)) {
    throw new FaultError(406, 'notAcceptable', `Version ${asked} is not supported by the API.`);
  }
  return version;
}

function atLeast(version: [number, number], min: [number, number]): boolean {
  return version[0] > min[0] || (version[0] === min[0] && version[1] >= min[1]);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (req.headers['content-type']?.split(';')[0]?.trim() !== 'application/json') {
    throw new FaultError(415, 'badMediaType', 'Unsupported Content-Type');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FaultError(400, 'badRequest', 'Malformed request body');
  }
}

async function listen(server: Server): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
