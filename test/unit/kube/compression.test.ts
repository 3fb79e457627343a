/**
 * Compressed answers: alertfence asks the API server for gzip, as client-go does, so that a list of thousands of
 * Nodes crosses the network in a twentieth of its size. Against a loopback HTTP server playing the API server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createKubeClient } from '../../../functions/kube/client.js';
import { type KubeEndpoint, parseKubeconfig } from '../../../functions/kube/kubeconfig.js';
import { createNodeWatchClient } from '../../../functions/kube/node-watch-client.js';
import { KubeUnavailableError } from '../../../functions/kube/port.js';

let server: Server | undefined;
const asked: Array<string | undefined> = [];

async function apiServer(
  answer: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<KubeEndpoint> {
  server = createServer((request, response) => {
    asked.push(request.headers['accept-encoding']);
    answer(request, response);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server: `http://127.0.0.1:${port}`, tls: {}, source: 'test' };
}

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  asked.length = 0;
});

const NODES = {
  kind: 'NodeList',
  apiVersion: 'v1',
  items: Array.from({ length: 500 }, (_, i) => ({
    metadata: { name: `worker-${i}`, labels: { zone: 'a' } },
  })),
};

describe('compressed answers from the API server', () => {
  it('should ask for gzip and read a compressed list as the same objects', async () => {
    // Prepare
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      response.end(gzipSync(JSON.stringify(NODES)));
    });
    const kube = createKubeClient(endpoint);

    // Act
    const nodes = await kube.listNodes();

    // Assess
    expect(asked).toEqual(['gzip']);
    expect(nodes).toHaveLength(500);
    expect(nodes[499]?.metadata?.name).toBe('worker-499');
  });

  it('should read an answer the API server did not compress (small ones never are)', async () => {
    // Prepare
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ metadata: { name: 'worker-1' } }));
    });

    // Act
    const node = await createKubeClient(endpoint).getNode('worker-1');

    // Assess
    expect(node?.metadata?.name).toBe('worker-1');
  });

  it('should fail closed, as unavailable, on a compressed answer that does not decompress', async () => {
    // Prepare
    const endpoint = await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      response.end('not gzip at all');
    });

    // Act
    const listing = createKubeClient(endpoint).listNodes();

    // Assess
    await expect(listing).rejects.toBeInstanceOf(KubeUnavailableError);
  });

  it('should not ask for gzip from a cluster whose kubeconfig sets disable-compression, as kubectl does', async () => {
    // Prepare: an API server where compressing costs more than it saves (a fast network, a busy API server)
    const { server: url } = (await apiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(NODES));
    })) as { server: string };
    const endpoint = parseKubeconfig(
      [
        `clusters: [{ name: c, cluster: { server: '${url}', insecure-skip-tls-verify: true, disable-compression: true } }]`,
        'users: [{ name: u, user: { token: t } }]',
        'contexts: [{ name: x, context: { cluster: c, user: u } }]',
        'current-context: x',
      ].join('\n'),
      { baseDir: '/', source: 'test', allowInsecureTls: true },
    );

    // Act: a call of the client, and the list the Node-following view starts from
    const nodes = await createKubeClient(endpoint).listNodes();
    await createNodeWatchClient(endpoint).listNodesToWatch('');

    // Assess
    expect(nodes).toHaveLength(500);
    expect(asked).toEqual([undefined, undefined]);
  });
});
