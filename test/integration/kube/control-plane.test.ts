/**
 * The control-plane harness itself: it starts every component, hands back working identities, and leaves
 * nothing behind — after a normal stop, after a component that fails to start, and when a peer is missing.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthenticationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { startControlPlane } from '../../peers/control-plane.js';
import { PeerMissingError, PeerStartError, tempDir } from '../../peers/process.js';

const PREFIX = 'alertfence-kube-';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Process ids whose command line mentions `text` (Linux /proc). */
async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(join('/proc', entry, 'cmdline'), 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(Number(entry));
  }
  return found;
}

/** Records the harness's temporary directories that appear while `run` runs. */
async function watchTempDirs<T>(
  run: () => Promise<T>,
): Promise<{ outcome: PromiseSettledResult<T>; seen: string[] }> {
  const seen = new Set<string>();
  const look = async () => {
    for (const name of await readdir(tmpdir())) if (name.startsWith(PREFIX)) seen.add(join(tmpdir(), name));
  };
  const before = new Set((await readdir(tmpdir())).filter((name) => name.startsWith(PREFIX)));
  const timer = setInterval(() => void look(), 25);
  const [outcome] = await Promise.allSettled([run()]);
  clearInterval(timer);
  await look();
  return {
    outcome: outcome as PromiseSettledResult<T>,
    seen: [...seen].filter((path) => !before.has(path.slice(tmpdir().length + 1))),
  };
}

describe('startControlPlane', () => {
  it('should run every component with working identities and leave no process or file after stop()', async () => {
    // Prepare
    const cluster = await startControlPlane({ controllers: true, scheduler: true, kwok: true });
    let pids: number[] = [];
    try {
      pids = Object.values(cluster.pids());
      const admin = cluster.admin.makeApiClient(AuthenticationV1Api);
      const alertfence = cluster.alertfence.makeApiClient(AuthenticationV1Api);

      // Act
      const [adminUser, alertfenceUser, node] = await Promise.all([
        admin.createSelfSubjectReview({ body: {} }),
        alertfence.createSelfSubjectReview({ body: {} }),
        cluster.createNode('harness-1', { providerID: 'simulated:///i-harness-1' }),
      ]);

      // Assess
      expect(Object.keys(cluster.pids()).sort()).toEqual(
        ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'].sort(),
      );
      expect(pids.every(isRunning)).toBe(true);
      expect(cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(adminUser.status?.userInfo?.groups).toContain('system:masters');
      expect(alertfenceUser.status?.userInfo?.username).toBe('system:serviceaccount:alertfence:alertfence');
      expect(node.spec?.providerID).toBe('simulated:///i-harness-1');
      expect(cluster.startTimes.total).toBeLessThan(120_000);
      console.info(`control plane with every component started in ${JSON.stringify(cluster.startTimes)} ms`);
    } finally {
      await cluster.stop();
    }

    // Assess: nothing left.
    expect(pids.filter(isRunning)).toEqual([]);
    expect(existsSync(cluster.dir)).toBe(false);
    expect(await processesMentioning(cluster.dir)).toEqual([]);
  });

  it('should stop what it started and remove its files when a component fails to start', async () => {
    // Act: the controller-manager refuses its flags, after etcd and the API server are up.
    const { outcome, seen } = await watchTempDirs(() =>
      startControlPlane({ controllers: true, nodeMonitorGracePeriod: 'not-a-duration' }),
    );

    // Assess
    expect(outcome.status).toBe('rejected');
    if (outcome.status === 'rejected') {
      expect(outcome.reason).toBeInstanceOf(PeerStartError);
      expect(String(outcome.reason.message)).toContain('kube-controller-manager');
    }
    expect(seen).toHaveLength(1);
    for (const dir of seen) {
      expect(existsSync(dir)).toBe(false);
      expect(await processesMentioning(dir)).toEqual([]);
    }
  });

  it('should fail with the build command, starting nothing, when a peer is not built', async () => {
    // Prepare: an empty peer cache.
    const empty = await tempDir('alertfence-empty-cache');
    const saved = process.env.ALERTFENCE_CACHE;
    process.env.ALERTFENCE_CACHE = empty.path;
    try {
      // Act
      const { outcome, seen } = await watchTempDirs(() => startControlPlane());

      // Assess
      expect(outcome.status).toBe('rejected');
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toBeInstanceOf(PeerMissingError);
        expect(String(outcome.reason.message)).toContain('bash test/peers/go/build.sh');
      }
      expect(seen).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.ALERTFENCE_CACHE;
      else process.env.ALERTFENCE_CACHE = saved;
      await empty.remove();
    }
  });

  it("should start etcd and the API server alone, with alertfence's namespace applied", async () => {
    // Prepare
    const cluster = await startControlPlane();
    try {
      // Act
      const namespaces = await cluster.admin.makeApiClient(CoreV1Api).listNamespace();

      // Assess: the API server's own namespaces and alertfence's, from infra/kubernetes.
      expect(namespaces.items.map((namespace) => namespace.metadata?.name)).toEqual(
        expect.arrayContaining(['default', 'kube-system', 'kube-node-lease', 'alertfence']),
      );
      expect(await readFile(cluster.adminKubeconfig, 'utf8')).toContain(cluster.server);
      console.info(`control plane (etcd + API server) started in ${JSON.stringify(cluster.startTimes)} ms`);
    } finally {
      await cluster.stop();
    }
  });
});
