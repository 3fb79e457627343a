/**
 * A real control plane with many kwok Nodes, in groups: each group has its own kwok process (its kubelets),
 * so a group can die together and come back (`stopGroup`, `startGroup`). Nodes carry the zone and region
 * labels of a cloud, a `simulated:///` providerID, and are created in parallel, then waited for until kwok has
 * made them Ready.
 */

import { writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { createKubeClient } from '../../../functions/kube/client.js';
import { loadKubeconfigFile } from '../../../functions/kube/kubeconfig.js';
import type { KubePort } from '../../../functions/kube/port.js';
import { type ControlPlane, startControlPlane } from '../../peers/control-plane.js';
import { KWOK_LABEL, type KwokGroup, startKwokGroup } from '../../peers/kwok.js';
import { cpuTimeMs } from '../../peers/proc.js';
import { waitUntil } from '../../peers/process.js';
import type { RecordingProxy } from '../../peers/recording-proxy.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const REGION_LABEL = 'topology.kubernetes.io/region';

/** Nodes run by one kwok process, all in one zone. */
export interface NodeGroup {
  group: string;
  zone: string;
  count: number;
}

export interface ScaleNode {
  name: string;
  group: string;
  zone: string;
}

export interface ScaleClusterOptions {
  groups: NodeGroup[];
  /** Region label of every Node. Default `region-1`. */
  region?: string;
  /** kubelet Lease duration (renewed every quarter). Default 40 s, a kubelet's. */
  leaseDurationSeconds?: number;
  /** How long the node-lifecycle controller waits for a heartbeat. Default `30s`. */
  nodeMonitorGracePeriod?: string;
  /** Node creations in flight at once. Default 32. */
  createConcurrency?: number;
  /** Flags added to kube-apiserver's own. */
  apiserverArgs?: string[];
  /** Progress lines (sizes take minutes to build). */
  onProgress?: (line: string) => void;
}

export interface ScaleCluster {
  plane: ControlPlane;
  /** alertfence's own Kubernetes client, as the cluster admin: for the harness's reads. */
  admin: KubePort;
  nodes: ScaleNode[];
  /** Time to build it, ms: control plane, Node creation, all Ready. */
  buildMs: { controlPlane: number; create: number; ready: number };
  group(group: string): ScaleNode[];
  /** The group's kubelets die together: its kwok process is stopped. */
  stopGroup(group: string): Promise<void>;
  /** The group's kubelets come back: its kwok process is started again. */
  startGroup(group: string): Promise<void>;
  /** Each Node's `Ready` column as the API server prints it (`Ready`, `NotReady`, `Unknown`). */
  readiness(): Promise<Map<string, string>>;
  /** Waits until every named Node is Ready (`ready: true`) or every one is not. */
  waitReadiness(names: readonly string[], ready: boolean, timeoutMs: number): Promise<number>;
  /** CPU time kube-apiserver has used since it started, ms. */
  apiserverCpuMs(): number;
  /** Freezes every running kwok (no heartbeats for a moment), or lets them go on. */
  pauseKubelets(): void;
  resumeKubelets(): void;
  /** Writes a kubeconfig for alertfence's ServiceAccount that goes through `proxy`; returns its path. */
  kubeconfigVia(proxy: RecordingProxy): Promise<string>;
  stop(): Promise<void>;
}

/** What the test kubeconfigs name (inline data, as `control-plane.ts` writes them): server, CA, identity. */
export interface Access {
  server: string;
  ca: string;
  cert?: string;
  key?: string;
  token?: string;
}

/** The server and credentials of a kubeconfig's current context, to talk to the API server without a client. */
export function accessOf(config: KubeConfig): Access {
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  if (!cluster?.caData) throw new Error('the kubeconfig names no inline CA');
  const pem = (data: string | undefined) => (data ? Buffer.from(data, 'base64').toString('utf8') : undefined);
  return {
    server: cluster.server,
    ca: pem(cluster.caData) ?? '',
    ...(user?.certData ? { cert: pem(user.certData) } : {}),
    ...(user?.keyData ? { key: pem(user.keyData) } : {}),
    ...(user?.token ? { token: user.token } : {}),
  };
}

/** A GET or POST as the control plane's admin, answered as text. */
function adminClient(endpoint: Access) {
  const base = new URL(endpoint.server);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 64,
    ca: endpoint.ca,
    cert: endpoint.cert,
    key: endpoint.key,
  });
  const send = (method: string, path: string, body?: unknown, accept = 'application/json') =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const request = httpsRequest(
        {
          hostname: base.hostname,
          port: base.port,
          path,
          method,
          agent,
          headers: {
            accept,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          response.on('error', reject);
        },
      );
      request.setTimeout(60_000, () => request.destroy(new Error(`${method} ${path} timed out`)));
      request.on('error', reject);
      request.end(payload);
    });
  return { send, close: () => agent.destroy() };
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Node names: the group, then a zero-padded index (`zone-a-0001`). */
export function nodeNames(group: NodeGroup): string[] {
  return Array.from({ length: group.count }, (_, i) => `${group.group}-${String(i + 1).padStart(4, '0')}`);
}

/**
 * Builds the cluster: control plane with controllers, one kwok per group, every Node created and Ready.
 * On failure everything started is stopped.
 */
export async function startScaleCluster(options: ScaleClusterOptions): Promise<ScaleCluster> {
  const progress = options.onProgress ?? (() => {});
  const leaseDurationSeconds = options.leaseDurationSeconds ?? 40;
  let mark = Date.now();
  const plane = await startControlPlane({
    controllers: true,
    nodeMonitorGracePeriod: options.nodeMonitorGracePeriod ?? '30s',
    extraArgs: {
      'kube-apiserver': options.apiserverArgs ?? [],
      // A zone going dark is hundreds of Node status updates; the default 20 per second would take its time.
      'kube-controller-manager': ['--kube-api-qps=200', '--kube-api-burst=400'],
    },
  });
  const kwok = new Map<string, KwokGroup>();
  const admin = adminClient(accessOf(plane.admin));
  const stop = async () => {
    for (const process of kwok.values()) await process.stop();
    admin.close();
    await plane.stop();
  };
  try {
    const controlPlaneMs = Date.now() - mark;
    const startGroup = async (group: string) => {
      kwok.set(
        group,
        await startKwokGroup({
          kubeconfig: plane.adminKubeconfig,
          dir: plane.dir,
          group,
          leaseDurationSeconds,
        }),
      );
    };
    for (const group of options.groups) await startGroup(group.group);

    mark = Date.now();
    const region = options.region ?? 'region-1';
    const nodes: ScaleNode[] = options.groups.flatMap((group) =>
      nodeNames(group).map((name) => ({ name, group: group.group, zone: group.zone })),
    );
    let created = 0;
    await inParallel(nodes, options.createConcurrency ?? 32, async (node) => {
      const answer = await admin.send('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: node.name,
          labels: {
            'kubernetes.io/hostname': node.name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'node.kubernetes.io/instance-type': 'm5.xlarge',
            [ZONE_LABEL]: node.zone,
            [REGION_LABEL]: region,
            [KWOK_LABEL]: node.group,
          },
        },
        spec: { providerID: `simulated:///i-${node.name}` },
      });
      if (answer.status !== 201)
        throw new Error(`create node ${node.name}: HTTP ${answer.status} ${answer.text}`);
      created += 1;
      if (created % 1000 === 0) progress(`created ${created}/${nodes.length} nodes`);
    });
    const createMs = Date.now() - mark;

    const readiness = async () => {
      const answer = await admin.send(
        'GET',
        '/api/v1/nodes?includeObject=None',
        undefined,
        'application/json;as=Table;g=meta.k8s.io;v=v1',
      );
      if (answer.status !== 200) throw new Error(`list nodes: HTTP ${answer.status}`);
      const table = JSON.parse(answer.text) as { rows?: Array<{ cells: unknown[] }> };
      return new Map((table.rows ?? []).map((row) => [String(row.cells[0]), String(row.cells[1])]));
    };
    const waitReadiness = async (names: readonly string[], ready: boolean, timeoutMs: number) => {
      const started = Date.now();
      let last = '';
      await waitUntil(
        async () => {
          const now = await readiness();
          const matching = names.filter((name) => (now.get(name)?.split(',')[0] === 'Ready') === ready);
          const line = `${matching.length}/${names.length} ${ready ? 'Ready' : 'not Ready'}`;
          if (line !== last) progress(line);
          last = line;
          return matching.length === names.length;
        },
        {
          timeoutMs,
          intervalMs: 1_000,
          what: `${names.length} nodes to be ${ready ? 'Ready' : 'not Ready'}`,
        },
      );
      return Date.now() - started;
    };
    mark = Date.now();
    await waitReadiness(
      nodes.map((node) => node.name),
      true,
      Math.max(120_000, nodes.length * 100),
    );
    const readyMs = Date.now() - mark;

    const apiserverPid = plane.pids()['kube-apiserver'] ?? 0;
    return {
      plane,
      admin: createKubeClient(loadKubeconfigFile(plane.adminKubeconfig)),
      nodes,
      buildMs: { controlPlane: controlPlaneMs, create: createMs, ready: readyMs },
      group: (group) => nodes.filter((node) => node.group === group),
      async stopGroup(group) {
        await kwok.get(group)?.stop();
        kwok.delete(group);
      },
      startGroup,
      readiness,
      waitReadiness,
      apiserverCpuMs: () => cpuTimeMs(apiserverPid),
      pauseKubelets: () => {
        for (const process of kwok.values()) process.pause();
      },
      resumeKubelets: () => {
        for (const process of kwok.values()) process.resume();
      },
      async kubeconfigVia(proxy) {
        const { token } = accessOf(plane.alertfence);
        if (!token) throw new Error('the alertfence kubeconfig has no token');
        const path = join(plane.dir, `alertfence-via-proxy-${Date.now()}.kubeconfig`);
        await writeFile(
          path,
          stringify({
            apiVersion: 'v1',
            kind: 'Config',
            clusters: [
              {
                name: 'proxy',
                cluster: {
                  server: proxy.url,
                  'certificate-authority-data': Buffer.from(proxy.caPem).toString('base64'),
                },
              },
            ],
            users: [{ name: 'alertfence', user: { token } }],
            contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'alertfence' } }],
            'current-context': 'proxy',
          }),
          { mode: 0o600 },
        );
        return path;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
