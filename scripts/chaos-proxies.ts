/**
 * The two proxies of `npm run chaos`:
 *
 * - a fault proxy in front of moto, where alertfence's EC2 endpoint points: it answers some calls with a 5xx
 *   before they reach moto, delays others, counts every StopInstances that reached moto per instance, and
 *   audits every DetachVolume against moto's own record of the instance;
 * - an auditing proxy in front of the API server, where alertfence's kubeconfig points: at each release
 *   request (the out-of-service taint, a pod, VolumeAttachment or Node delete) it asks moto for the instance's
 *   state before it forwards, and records a violation unless moto shows it stopped.
 *
 * Neither blocks what it audits: the run must show what alertfence does, not what a proxy lets it do.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** What a release audit saw: the release, the node and instance it concerns, and moto's state then. */
export interface ReleaseAudit {
  at: number;
  /** `out-of-service taint`, `pod delete`, `VolumeAttachment delete`, `Node delete`, `DetachVolume`. */
  action: string;
  /** The object released: the pod, attachment, Node or volume. */
  object: string;
  node: string;
  instanceId: string;
  /** The instance's state in moto's own record when the request arrived. */
  state: string;
  violation: boolean;
}

/** Reads an instance's state from moto itself (never through the fault proxy). */
export type InstanceState = (instanceId: string) => Promise<string>;

/** Off by the cloud's own record: the only states a release may follow. */
export const OFF_STATES: ReadonlySet<string> = new Set(['stopped', 'terminated']);

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Tracks open sockets so `stop` can end keep-alive connections at once. */
function trackSockets(server: { on(event: 'connection', listener: (socket: Socket) => void): unknown }) {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return sockets;
}

export interface Ec2FaultOptions {
  /** moto's endpoint. */
  target: string;
  random: () => number;
  /** Share of calls answered with a 5xx (InternalError or Unavailable) without reaching moto. */
  serverErrorRate: number;
  /** Share of calls held back before they are forwarded. */
  slowRate: number;
  /** How long a slow call is held back, ms: uniformly in [min, max]. */
  slowMs: readonly [number, number];
  instanceState: InstanceState;
  /** The node of an instance, for the audit records. */
  nodeOf: (instanceId: string) => string;
}

export interface Ec2FaultProxy {
  url: string;
  /** StopInstances that reached moto and succeeded, per instance. */
  readonly stops: Map<string, number>;
  /** StopInstances alertfence sent, faults included, per instance. */
  readonly stopAttempts: Map<string, number>;
  /** Faults injected, by kind. */
  readonly faults: { serverError: number; slow: number };
  /** Calls by action. */
  readonly calls: Map<string, number>;
  readonly audits: ReleaseAudit[];
  /** Turns fault injection off (for the harness's own settling) or on again. */
  setEnabled(enabled: boolean): void;
  stop(): Promise<void>;
}

function ec2Error(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>chaos: injected fault</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
}

const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

/** Starts the EC2 fault proxy on a free loopback port. */
export async function startEc2FaultProxy(options: Ec2FaultOptions): Promise<Ec2FaultProxy> {
  const stops = new Map<string, number>();
  const stopAttempts = new Map<string, number>();
  const calls = new Map<string, number>();
  const faults = { serverError: 0, slow: 0 };
  const audits: ReleaseAudit[] = [];
  let enabled = true;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request);
    const form = new URLSearchParams(body.toString('utf8'));
    const action = form.get('Action') ?? '?';
    const instanceIds = [...form.entries()]
      .filter(([key]) => /^InstanceId\.\d+$/.test(key))
      .map(([, value]) => value);
    count(calls, action);
    if (action === 'StopInstances') for (const id of instanceIds) count(stopAttempts, id);

    if (enabled && options.random() < options.serverErrorRate) {
      faults.serverError += 1;
      const unavailable = options.random() < 0.5;
      const payload = ec2Error(unavailable ? 'Unavailable' : 'InternalError');
      response.writeHead(unavailable ? 503 : 500, {
        'content-type': 'text/xml',
        'content-length': String(Buffer.byteLength(payload)),
      });
      response.end(payload);
      return;
    }
    if (enabled && options.random() < options.slowRate) {
      faults.slow += 1;
      const [min, max] = options.slowMs;
      await delay(min + options.random() * (max - min));
    }
    if (action === 'DetachVolume') {
      // A detach is a release: the instance must be off by moto's record (it holds the volume's attachment).
      const volume = form.get('VolumeId') ?? '';
      const instanceId = form.get('InstanceId') ?? '';
      const state = instanceId ? await options.instanceState(instanceId) : 'no instance named';
      audits.push({
        at: Date.now(),
        action: 'DetachVolume',
        object: volume,
        node: options.nodeOf(instanceId),
        instanceId,
        state,
        violation: !OFF_STATES.has(state),
      });
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || ['host', 'content-length', 'connection'].includes(name)) continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    // Forwarded even when the client gave up meanwhile: a request on the wire may still be carried out.
    const upstream = await fetch(new URL(request.url ?? '/', options.target), {
      method: request.method ?? 'POST',
      headers,
      ...(body.length > 0 ? { body } : {}),
    });
    const payload = Buffer.from(await upstream.arrayBuffer());
    if (action === 'StopInstances' && upstream.ok) for (const id of instanceIds) count(stops, id);
    if (response.destroyed) return;
    response.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'text/xml',
      'content-length': String(payload.length),
    });
    response.end(payload);
  };

  const server = createHttpServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent || response.destroyed) return;
      response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(String(error));
    });
  });
  const sockets = trackSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stops,
    stopAttempts,
    faults,
    calls,
    audits,
    setEnabled(value) {
      enabled = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface ApiAuditOptions {
  /** The API server, `https://127.0.0.1:<port>`. */
  upstream: string;
  /** CA of the API server's serving certificate. */
  upstreamCa: string;
  /** The proxy's own serving certificate (for 127.0.0.1) and key. */
  cert: string;
  key: string;
  instanceState: InstanceState;
  /** Which victim Node a pod or VolumeAttachment belongs to (undefined: not one of the run's). */
  nodeOfPod: (namespace: string, name: string) => string | undefined;
  nodeOfAttachment: (name: string) => string | undefined;
  /** The instance of a victim Node (undefined: not one of the run's). */
  instanceOfNode: (node: string) => string | undefined;
}

export interface ApiAuditProxy {
  url: string;
  readonly audits: ReleaseAudit[];
  /** Requests by method, e.g. `DELETE pods`. */
  readonly requests: Map<string, number>;
  /** Requests that found the API server away (while it restarts). */
  readonly refused: { count: number };
  stop(): Promise<void>;
}

const OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';

/** Which release a request is, and the Node it concerns; undefined for every other request. */
function releaseOf(
  method: string,
  path: string,
  body: Buffer,
  options: ApiAuditOptions,
): { action: string; object: string; node: string } | undefined {
  const nodeMatch = /^\/api\/v1\/nodes\/([^/?]+)(\?|$)/.exec(path);
  if (nodeMatch?.[1]) {
    const node = decodeURIComponent(nodeMatch[1]);
    if (method === 'DELETE') return { action: 'Node delete', object: node, node };
    // alertfence writes the whole taint list; a list holding the out-of-service taint adds or keeps it.
    if ((method === 'PATCH' || method === 'PUT') && body.toString('utf8').includes(OUT_OF_SERVICE)) {
      return { action: 'out-of-service taint', object: node, node };
    }
    return undefined;
  }
  if (method !== 'DELETE') return undefined;
  const podMatch = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/?]+)/.exec(path);
  if (podMatch?.[1] && podMatch[2]) {
    const name = decodeURIComponent(podMatch[2]);
    return { action: 'pod delete', object: name, node: options.nodeOfPod(podMatch[1], name) ?? '(unknown)' };
  }
  const attachmentMatch = /^\/apis\/storage\.k8s\.io\/v1\/volumeattachments\/([^/?]+)/.exec(path);
  if (attachmentMatch?.[1]) {
    const name = decodeURIComponent(attachmentMatch[1]);
    return {
      action: 'VolumeAttachment delete',
      object: name,
      node: options.nodeOfAttachment(name) ?? '(unknown)',
    };
  }
  return undefined;
}

/** The kind of object a request is about, for the counts: `nodes`, `pods`, `leases`, … */
function resourceOf(path: string): string {
  const parts = (path.split('?')[0] ?? '').split('/').filter((part) => part !== '');
  // /api/v1/… or /apis/<group>/<version>/…, then optionally namespaces/<ns>/, then the resource.
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  return rest[0] ?? path;
}

/** Starts the auditing HTTPS proxy in front of the API server, on a free loopback port. */
export async function startApiAuditProxy(options: ApiAuditOptions): Promise<ApiAuditProxy> {
  const audits: ReleaseAudit[] = [];
  const requests = new Map<string, number>();
  const refused = { count: 0 };
  const upstream = new URL(options.upstream);

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request);
    const method = request.method ?? 'GET';
    const path = request.url ?? '/';
    count(requests, `${method} ${resourceOf(path)}`);
    const release = releaseOf(method, path, body, options);
    if (release) {
      const instanceId = options.instanceOfNode(release.node);
      const state = instanceId ? await options.instanceState(instanceId) : 'not a node of this run';
      audits.push({
        at: Date.now(),
        action: release.action,
        object: release.object,
        node: release.node,
        instanceId: instanceId ?? '',
        state,
        violation: !OFF_STATES.has(state),
      });
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || ['host', 'connection'].includes(name)) continue;
      headers[name] = value;
    }
    await new Promise<void>((resolve) => {
      const outgoing = httpsRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method,
          path,
          headers: { ...headers, host: upstream.host },
          ca: options.upstreamCa,
        },
        (incoming) => {
          response.writeHead(incoming.statusCode ?? 502, incoming.headers);
          incoming.pipe(response);
          incoming.on('end', resolve);
          incoming.on('error', () => resolve());
        },
      );
      outgoing.on('error', () => {
        // The API server is away (restarting): the client finds the connection reset, as it would find
        // nothing listening.
        refused.count += 1;
        response.destroy();
        resolve();
      });
      outgoing.end(body);
    });
  };

  const server = createHttpsServer({ cert: options.cert, key: options.key }, (request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  const sockets = trackSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    audits,
    requests,
    refused,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
