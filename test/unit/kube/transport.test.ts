/**
 * The transport against a loopback HTTP server that plays the API server's part for what a real one cannot be
 * made to do on demand: stall half-way through an answer, answer garbage, count credential plugin runs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecPlugin } from '../../../functions/kube/authenticators.js';
import { createKubeClient } from '../../../functions/kube/client.js';
import { type EndpointSpec, parseKubeconfig } from '../../../functions/kube/kubeconfig.js';
import { createNodeWatchClient } from '../../../functions/kube/node-watch-client.js';
import {
  KubeDeadlineError,
  KubeError,
  KubeForbiddenError,
  KubeGoneError,
  KubePreconditionError,
  KubeUnavailableError,
  type NodeWatchEvent,
} from '../../../functions/kube/port.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

let server: Server | undefined;
const seen: Array<{ method?: string; url?: string; authorization?: string; body: string }> = [];

async function apiServer(handler: Handler): Promise<EndpointSpec> {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      seen.push({
        method: request.method,
        url: request.url,
        authorization: request.headers.authorization,
        body,
      });
      handler(request, response);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server: `http://127.0.0.1:${port}`, tls: {}, source: 'test' };
}

const json =
  (status: number, body: unknown): Handler =>
  (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };

let proxy: Server | undefined;
/** A tunnel's sockets leave the proxy server's hands: closed here. */
const proxySockets = new Set<Socket>();

afterEach(() => {
  for (const socket of proxySockets) socket.destroy();
  proxySockets.clear();
  for (const running of [server, proxy]) {
    running?.closeAllConnections();
    running?.close();
  }
  proxy = undefined;
  seen.length = 0;
});

/** An HTTP proxy on loopback that opens `CONNECT` tunnels (RFC 9110 §9.3.6) and records each one. */
async function tunnelProxy(tunnels: string[]): Promise<string> {
  proxy = createServer((_request, response) => response.writeHead(405).end());
  proxy.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.push(`CONNECT ${request.url}`);
    proxySockets.add(client);
    const [host, port] = (request.url ?? '').split(':');
    const upstream = connect(Number(port), host ?? '', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    proxySockets.add(upstream);
  });
  await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

const PLUGIN: ExecPlugin = {
  apiVersion: 'client.authentication.k8s.io/v1',
  command: 'get-token',
  args: [],
  env: {},
};

function credential(token: string, expiresInMs?: number) {
  return JSON.stringify({
    kind: 'ExecCredential',
    status: {
      token,
      ...(expiresInMs === undefined
        ? {}
        : { expirationTimestamp: new Date(Date.now() + expiresInMs).toISOString() }),
    },
  });
}

describe('the Kubernetes transport', () => {
  it('should send the request alertfence means: method, path, delete options with the UID, and bearer token', async () => {
    // Prepare
    const endpoint = await apiServer(json(200, { metadata: { name: 'worker-1' } }));
    const kube = createKubeClient({ ...endpoint, token: 'static' });

    // Act
    await kube.forceDeletePod('apps', 'db-0', { uid: 'pod-uid-1' });

    // Assess
    expect(seen).toEqual([
      {
        method: 'DELETE',
        url: '/api/v1/namespaces/apps/pods/db-0',
        authorization: 'Bearer static',
        body: expect.any(String),
      },
    ]);
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { uid: 'pod-uid-1' },
      gracePeriodSeconds: 0,
    });
  });

  it('should refuse a delete whose UID precondition fails as a precondition, never a conflict to retry', async () => {
    // Prepare: the API server's answer when the object of that name has another UID.
    const endpoint = await apiServer(
      json(409, {
        kind: 'Status',
        reason: 'Conflict',
        message: 'Precondition failed: UID in precondition: a, UID in object meta: b',
      }),
    );
    const kube = createKubeClient({ ...endpoint, token: 'static' });

    // Act
    const deleting = kube.deleteNode('worker-1', { uid: 'a' });

    // Assess
    await expect(deleting).rejects.toBeInstanceOf(KubePreconditionError);
  });

  it('should give up on an answer that stalls half-way, as a deadline passed (unavailable, retried)', async () => {
    // Prepare: headers and half a body, then nothing.
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"items": [');
    });
    const kube = createKubeClient(endpoint, { requestTimeoutMs: 200 });

    // Act
    const list = kube.listNodes();

    // Assess
    await expect(list).rejects.toBeInstanceOf(KubeDeadlineError);
    await expect(list).rejects.toBeInstanceOf(KubeUnavailableError);
    await expect(list).rejects.toThrow(/no answer within 200 ms/);
  });

  it("should name the API server's reason and message in the error", async () => {
    // Prepare
    const endpoint = await apiServer(
      json(422, { kind: 'Status', reason: 'Invalid', message: 'Lease.coordination.k8s.io "X" is invalid' }),
    );

    // Act
    const create = createKubeClient(endpoint).createLease('alertfence', { metadata: { name: 'X' } });

    // Assess
    await expect(create).rejects.toThrow(
      'create lease alertfence/X: HTTP 422 Invalid: Lease.coordination.k8s.io "X" is invalid',
    );
    await expect(create).rejects.toMatchObject({ name: 'KubeError', status: 422 });
  });

  it('should refuse a 2xx answer that is not JSON rather than act on it', async () => {
    // Prepare: a proxy's login page in front of the API server.
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html>sign in</html>');
    });

    // Act
    const read = createKubeClient(endpoint).getNode('worker-1');

    // Assess
    await expect(read).rejects.toBeInstanceOf(KubeError);
    await expect(read).rejects.toThrow(/not JSON/);
  });

  it('should run a credential plugin once while its token is valid, and again once it is close to expiry', async () => {
    // Prepare
    const endpoint = await apiServer(json(200, { items: [] }));
    const issued = [
      credential('long', 3_600_000),
      credential('short', 30_000),
      credential('next', 3_600_000),
    ];
    let runs = 0;
    const fresh = createKubeClient(
      { ...endpoint, exec: PLUGIN },
      { runExec: async () => issued[runs++] ?? '' },
    );

    // Act
    await fresh.listNodes();
    await fresh.listNodes();

    // Assess: one run for two requests.
    expect(runs).toBe(1);

    // Prepare: a plugin whose token expires within the renewal margin.
    runs = 1;
    seen.length = 0;
    const expiring = createKubeClient(
      { ...endpoint, exec: PLUGIN },
      { runExec: async () => issued[runs++] ?? '' },
    );

    // Act
    await expiring.listNodes();
    await expiring.listNodes();

    // Assess
    expect(seen.map((request) => request.authorization)).toEqual(['Bearer short', 'Bearer next']);
  });

  it('should run the plugin again after a 401, so a revoked token is replaced', async () => {
    // Prepare
    let answers = 0;
    const endpoint = await apiServer((request, response) =>
      json(answers++ === 0 ? 401 : 200, answers === 1 ? { reason: 'Unauthorized' } : { items: [] })(
        request,
        response,
      ),
    );
    const tokens = ['revoked', 'renewed'];
    const kube = createKubeClient(
      { ...endpoint, exec: PLUGIN },
      { runExec: async () => credential(tokens.shift() ?? '') },
    );

    // Act
    const first = await kube.listNodes().catch((error: unknown) => error);
    await kube.listNodes();

    // Assess
    expect(first).toBeInstanceOf(KubeForbiddenError);
    expect(seen.map((request) => request.authorization)).toEqual(['Bearer revoked', 'Bearer renewed']);
  });

  it('should send nothing when the credential plugin fails, and say so', async () => {
    // Prepare
    const endpoint = await apiServer(json(200, { items: [] }));
    const failing = createKubeClient(
      { ...endpoint, exec: PLUGIN },
      {
        runExec: async () => {
          throw new Error('exit status 255: Unable to locate credentials');
        },
      },
    );
    const silent = createKubeClient({ ...endpoint, exec: PLUGIN }, { runExec: async () => '{"status":{}}' });

    // Act
    const outcomes = await Promise.allSettled([failing.listNodes(), silent.listNodes()]);

    // Assess
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    const reasons = outcomes.map((outcome) => (outcome as PromiseRejectedResult).reason as Error);
    expect(reasons[0]).toBeInstanceOf(KubeUnavailableError);
    expect(reasons[0]?.message).toMatch(
      /no credentials \(credential plugin get-token failed: exit status 255/,
    );
    expect(reasons[1]?.message).toMatch(/printed no status.token/);
    expect(seen).toEqual([]);
  });

  it('should resend a read once on a new connection when a kept-alive one was reset, but never a write', async () => {
    // Prepare: the server resets the connection the second time it is used, as a load balancer that dropped
    // an idle connection (or a Lambda thawed after minutes) does.
    const uses = new WeakMap<object, number>();
    const endpoint = await apiServer((request, response) => {
      const count = (uses.get(request.socket) ?? 0) + 1;
      uses.set(request.socket, count);
      if (count === 2) {
        request.socket.resetAndDestroy();
        return;
      }
      json(200, { items: [], metadata: { name: 'lease' } })(request, response);
    });
    const kube = createKubeClient({ ...endpoint, token: 't' });

    // Act
    await kube.listNodes();
    const read = await kube.listNodes();
    const write = await kube
      .replaceLease('alertfence', { metadata: { name: 'lease', resourceVersion: '1' } })
      .catch((error: unknown) => error);

    // Assess: the second read arrived twice (reset, then answered on a new connection); the write, reset on
    // its connection's second use too, arrived once: it may have landed, so the caller re-reads instead.
    expect(read).toEqual([]);
    expect(seen.map((request) => request.method)).toEqual(['GET', 'GET', 'GET', 'PATCH']);
    expect(write).toBeInstanceOf(KubeUnavailableError);
    expect((write as Error).message).toMatch(/ECONNRESET|socket hang up/);
  });

  it('should go through the proxy-url of the kubeconfig, with the same credentials', async () => {
    // Prepare
    const endpoint = await apiServer(json(200, { items: [] }));
    const tunnels: string[] = [];
    const proxyUrl = await tunnelProxy(tunnels);
    const kubeconfig = parseKubeconfig(
      [
        `clusters: [{ name: c, cluster: { server: '${endpoint.server}', insecure-skip-tls-verify: true, proxy-url: '${proxyUrl}' } }]`,
        'users: [{ name: u, user: { token: t0k3n } }]',
        'contexts: [{ name: x, context: { cluster: c, user: u } }]',
        'current-context: x',
      ].join('\n'),
      { baseDir: '/', source: 'test', allowInsecureTls: true },
    );

    // Act
    const nodes = await createKubeClient(kubeconfig).listNodes();

    // Assess
    expect(nodes).toEqual([]);
    expect(tunnels).toEqual([`CONNECT ${new URL(endpoint.server).host}`]);
    expect(seen).toEqual([expect.objectContaining({ url: '/api/v1/nodes', authorization: 'Bearer t0k3n' })]);
  });
});

describe('a watch of Nodes', () => {
  const handlers = (events: NodeWatchEvent[], opened: string[]) => ({
    onOpen: () => opened.push('open'),
    onEvent: (event: NodeWatchEvent) => events.push(event),
  });

  it('should hand on each event as it comes, lines split across chunks included, and end with the answer', async () => {
    // Prepare: two events, the second split in the middle, then a bookmark; the server ends the watch.
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const a = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } });
      const b = JSON.stringify({
        type: 'MODIFIED',
        object: { metadata: { name: 'a', resourceVersion: '6' } },
      });
      response.write(`${a}\n${b.slice(0, 10)}`);
      setTimeout(() => {
        response.write(`${b.slice(10)}\n`);
        response.end(
          `${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })}\n`,
        );
      }, 20);
    });
    const events: NodeWatchEvent[] = [];
    const opened: string[] = [];

    // Act
    await createNodeWatchClient(endpoint).watchNodes('pool=a', '4', 5, handlers(events, opened));

    // Assess
    expect(opened).toEqual(['open']);
    expect(events.map((event) => [event.type, event.node.metadata?.resourceVersion])).toEqual([
      ['ADDED', '5'],
      ['MODIFIED', '6'],
      ['BOOKMARK', '9'],
    ]);
    expect(seen[0]?.url).toBe(
      '/api/v1/nodes?watch=true&labelSelector=pool%3Da&resourceVersion=4&timeoutSeconds=5&allowWatchBookmarks=true',
    );
  });

  it('should fail as gone when the API server no longer has the version asked for', async () => {
    // Prepare: the API server accepts the watch, then says 410 in the stream, as it does.
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 4 (90)' } })}\n`,
      );
    });

    // Act
    const watching = createNodeWatchClient(endpoint).watchNodes('', '4', 5, handlers([], []));

    // Assess
    await expect(watching).rejects.toBeInstanceOf(KubeGoneError);
  });

  it('should refuse a watch the API server forbids, before anything is handed on', async () => {
    // Prepare
    const endpoint = await apiServer(
      json(403, { kind: 'Status', reason: 'Forbidden', message: 'cannot watch' }),
    );
    const opened: string[] = [];

    // Act
    const watching = createNodeWatchClient(endpoint).watchNodes('', '4', 5, handlers([], opened));

    // Assess
    await expect(watching).rejects.toBeInstanceOf(KubeForbiddenError);
    expect(opened).toEqual([]);
  });

  it('should give up on a watch the API server does not end in time: a dead connection', async () => {
    // Prepare: accepted, then silence; the watch asked for 1 s, the transport allows 3 s more.
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('');
    });
    const started = Date.now();

    // Act
    const watching = createNodeWatchClient(endpoint).watchNodes('', '4', 1, handlers([], []));

    // Assess
    await expect(watching).rejects.toBeInstanceOf(KubeUnavailableError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_900);
  }, 10_000);
});

describe('a list from the watch cache', () => {
  it('should ask for resourceVersion=0 only when the caller says it only shows what it reads', async () => {
    // Prepare
    const endpoint = await apiServer(json(200, { kind: 'PodList', items: [] }));
    const kube = createKubeClient(endpoint);

    // Act
    await kube.listPodsOnNode('worker-1', { fromCache: true });
    await kube.listPodsOnNode('worker-1');
    await kube.listPersistentVolumes({ fromCache: true });

    // Assess
    expect(seen.map((request) => request.url)).toEqual([
      '/api/v1/pods?fieldSelector=spec.nodeName%3Dworker-1&resourceVersion=0',
      '/api/v1/pods?fieldSelector=spec.nodeName%3Dworker-1',
      '/api/v1/persistentvolumes?resourceVersion=0',
    ]);
  });
});
