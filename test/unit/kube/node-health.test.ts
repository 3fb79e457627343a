/**
 * `listNodeHealth`: Nodes as name and readiness from a server-side Table, the cheap read the storm guards can
 * count from. Against a loopback HTTP server answering what the API server answers (a real one in
 * `test/integration/scale/node-health.test.ts`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createKubeClient } from '../../../functions/kube/client.js';
import type { KubeEndpoint } from '../../../functions/kube/kubeconfig.js';
import { KubeError } from '../../../functions/kube/port.js';

let server: Server | undefined;
const seen: Array<{ url?: string; accept?: string }> = [];

async function apiServer(body: unknown): Promise<KubeEndpoint> {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    seen.push({ url: request.url, accept: request.headers.accept });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server: `http://127.0.0.1:${port}`, tls: {}, source: 'test' };
}

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  seen.length = 0;
});

/** The columns of the API server's Node Table, in its order (the wide ones included, as it always sends). */
const COLUMNS = ['Name', 'Status', 'Roles', 'Age', 'Version', 'Internal-IP', 'External-IP', 'OS-Image'].map(
  (name) => ({ name, type: 'string' }),
);
const row = (name: string, status: string) => ({
  cells: [name, status, '<none>', '5m', 'v1.33.13', '10.0.0.1', '<none>', ''],
});

describe('listNodeHealth', () => {
  it('should ask for a Table without objects from the watch cache, with the label selector', async () => {
    // Prepare
    const endpoint = await apiServer({ kind: 'Table', columnDefinitions: COLUMNS, rows: [] });

    // Act
    await createKubeClient(endpoint).listNodeHealth(
      'topology.kubernetes.io/zone=zone-c,!alertfence.io/exclude',
    );

    // Assess
    const url = new URL(seen[0]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/api/v1/nodes');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      labelSelector: 'topology.kubernetes.io/zone=zone-c,!alertfence.io/exclude',
      includeObject: 'None',
      resourceVersion: '0',
    });
    expect(seen[0]?.accept).toBe('application/json;as=Table;v=v1;g=meta.k8s.io, application/json');
  });

  it.each([
    ['Ready', true],
    ['Ready,SchedulingDisabled', true],
    ['NotReady', false],
    ['NotReady,SchedulingDisabled', false],
    ['Unknown', false],
    ['', false],
  ])('should read the Status "%s" as ready=%s', async (status, ready) => {
    // Prepare
    const endpoint = await apiServer({
      kind: 'Table',
      columnDefinitions: COLUMNS,
      rows: [row('worker-1', status)],
    });

    // Act
    const rows = await createKubeClient(endpoint).listNodeHealth();

    // Assess
    expect(rows).toEqual([{ name: 'worker-1', ready }]);
  });

  it('should read the conditions of a plain list when the server cannot print a Table', async () => {
    // Prepare
    const condition = (status: string) => ({ status: { conditions: [{ type: 'Ready', status }] } });
    const endpoint = await apiServer({
      kind: 'NodeList',
      items: [
        { metadata: { name: 'up' }, ...condition('True') },
        { metadata: { name: 'down' }, ...condition('Unknown') },
        { metadata: { name: 'never-reported' } },
      ],
    });

    // Act
    const rows = await createKubeClient(endpoint).listNodeHealth();

    // Assess
    expect(rows).toEqual([
      { name: 'up', ready: true },
      { name: 'down', ready: false },
      { name: 'never-reported', ready: false },
    ]);
  });

  it('should refuse a Table it cannot read rather than count every Node as down or up', async () => {
    // Prepare
    const endpoint = await apiServer({
      kind: 'Table',
      columnDefinitions: [{ name: 'Name' }],
      rows: [{ cells: ['worker-1'] }],
    });

    // Act
    const listing = createKubeClient(endpoint).listNodeHealth();

    // Assess
    await expect(listing).rejects.toBeInstanceOf(KubeError);
    await expect(listing).rejects.toThrow(/no Name or Status column/);
  });
});
