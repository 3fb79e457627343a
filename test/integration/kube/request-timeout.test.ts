import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient } from '../../../functions/kube/client.js';
import type { EndpointSpec } from '../../../functions/kube/kubeconfig.js';
import { KubeUnavailableError } from '../../../functions/kube/port.js';

/** An "API server" that accepts connections and never answers: a hung apiserver or a black-holed LB. */
function startHungServer(): Promise<Server> {
  const server = createServer(() => {});
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function endpointOf(server: Server): EndpointSpec {
  const { port } = server.address() as AddressInfo;
  return { server: `http://127.0.0.1:${port}`, tls: {}, token: 'not-used', source: 'test' };
}

describe('createKubeClient against a hung API server', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startHungServer();
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it.each([
    ['getNode', (kube: ReturnType<typeof createKubeClient>) => kube.getNode('worker-1')],
    ['listNodes', (kube: ReturnType<typeof createKubeClient>) => kube.listNodes()],
    ['ping', (kube: ReturnType<typeof createKubeClient>) => kube.ping()],
  ])('should give up on %s after the request timeout, as unreachable', async (_name, call) => {
    // Prepare
    const kube = createKubeClient(endpointOf(server), { requestTimeoutMs: 300 });
    const started = Date.now();

    // Act
    const outcome = call(kube);

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(KubeUnavailableError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
