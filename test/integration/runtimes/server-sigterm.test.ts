import { describe, expect, it } from 'vitest';
import { journalLeaseName } from '../../../functions/fence/journal.js';
import { freePort, type PeerProcess, startProcess, waitUntil } from '../../peers/process.js';
import { peekJournal as readJournal } from '../../support/peek-journal.js';
import { type ClusterSuite, putNode, useControlPlane } from '../kube/cluster.js';
import { functionBundles } from './support/bundles.js';
import { isolatedEnv, JOURNAL_KEY, TOKEN } from './support/env.js';

const auth = { authorization: `Bearer ${TOKEN}` };

/** A node dead for an hour among healthy ones, and the server bundle as `npm start` runs it, armed. */
async function startArmedServer(suite: ClusterSuite): Promise<{ server: PeerProcess; url: string }> {
  await putNode(suite, { name: 'worker-1', ready: false, providerID: 'simulated:///i-worker-1' });
  // One dead of four: within the default storm guard (ALERTFENCE_MAX_UNHEALTHY 30%).
  for (const name of ['worker-2', 'worker-3', 'worker-4']) {
    await putNode(suite, { name, ready: true, providerID: `simulated:///i-${name}` });
  }
  const bundles = await functionBundles();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startProcess({
    name: 'alertfence-server',
    command: process.execPath,
    args: ['--enable-source-maps', bundles.file('server')],
    env: isolatedEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      KUBECONFIG: suite.cluster.alertfenceKubeconfig,
      ALERTFENCE_TOKENS: TOKEN,
      ALERTFENCE_DRY_RUN: 'false',
      ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
      // The demo cloud: power transitions take 2 s, long enough to stop in the middle of a fence.
      ALERTFENCE_DRIVERS: 'simulated',
      NODE_NO_WARNINGS: '1',
    }),
    ready: `${url}/healthz`,
  });
  return { server, url };
}

/** Waits until worker-1's fence has saved a step after Lock, so a SIGTERM lands in the middle of it. */
async function waitPastLock(url: string): Promise<void> {
  await waitUntil(
    async () => {
      const journal = (await (await fetch(`${url}/v1/nodes/worker-1/fence`, { headers: auth })).json()) as {
        phase?: string;
      };
      return journal.phase === 'Mark' || journal.phase === 'PowerOff';
    },
    { timeoutMs: 20_000, intervalMs: 50, what: 'the fence to be past Lock' },
  );
}

describe('Node server (functions/runtimes/node/server.ts) on SIGTERM', () => {
  // A real API server: the journal is a Lease, written with compare-and-swap, as the alertfence ServiceAccount.
  const suite = useControlPlane();

  it('should journal the running fence, release its Lease for the next invocation, and exit 0', async () => {
    // Prepare
    const { server, url } = await startArmedServer(suite);
    try {
      const accepted = await fetch(`${url}/v1/nodes/worker-1/fence`, { method: 'POST', headers: auth });
      expect(accepted.status, server.logs()).toBe(202);
      await waitPastLock(url);

      // Act
      process.kill(server.pid, 'SIGTERM');
      await waitUntil(() => server.exitStatus(), { timeoutMs: 30_000, what: 'the server to exit' });

      // Assess: exit 0 after the running step was saved, not in the middle of it.
      expect(server.exitStatus(), server.logs()).toBe('exit code 0');
      expect(server.logs()).toMatch(/"msg":"shutting down".*"activeFences":1/);
      expect(server.logs()).toContain('stopping on request; the journal holds the progress');
      expect(server.logs()).toMatch(/"msg":"stopped"/);
      const lease = await suite.kube.getLease('alertfence', journalLeaseName('worker-1'));
      const journal = readJournal(lease);
      expect(journal).toMatchObject({ node: 'worker-1', status: 'running' });
      // The executor checks for a stop between steps: a SIGTERM that lands right after Mark is saved (the
      // journal this test waits for) stops the fence there, before PowerOff starts.
      expect(['Mark', 'PowerOff', 'VerifyOff', 'Release']).toContain(journal?.phase);
      // Released, so an alert repeat or a restarted server resumes it at once instead of waiting out the hold.
      expect(lease?.spec?.holderIdentity ?? '').toBe('');
    } finally {
      await server.stop();
    }
  });
});

describe('Node server (functions/runtimes/node/server.ts) on SIGTERM during a manual fence with wait', () => {
  // Its own control plane: the fence of the suite above would count against the storm guard here.
  const suite = useControlPlane();

  it('should answer the waiting request with the journal saved at the stop, then exit 0', async () => {
    // Prepare: `wait: true` runs the fence inside the request, not as an in-process continuation.
    const { server, url } = await startArmedServer(suite);
    try {
      const answer = fetch(`${url}/v1/nodes/worker-1/fence`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ wait: true }),
      }).then(async (response) => ({ status: response.status, body: (await response.json()) as unknown }));
      await waitPastLock(url);

      // Act
      process.kill(server.pid, 'SIGTERM');
      const { status, body } = await answer;
      await waitUntil(() => server.exitStatus(), { timeoutMs: 30_000, what: 'the server to exit' });

      // Assess: an answer, not a reset connection; it carries the journal as saved when the fence stopped.
      expect(server.exitStatus(), server.logs()).toBe('exit code 0');
      expect(server.logs()).toContain('stopping on request; the journal holds the progress');
      expect(status, server.logs()).toBe(200);
      expect(body).toMatchObject({
        node: 'worker-1',
        outcome: 'accepted',
        journal: { node: 'worker-1', status: 'running' },
      });
      const lease = await suite.kube.getLease('alertfence', journalLeaseName('worker-1'));
      expect(readJournal(lease)).toMatchObject({
        status: 'running',
        phase: (body as { journal: { phase: string } }).journal.phase,
      });
      expect(lease?.spec?.holderIdentity ?? '').toBe('');
    } finally {
      await server.stop();
    }
  });
});
