import { describe, expect, it } from 'vitest';
import { journalLeaseName, readJournal } from '../../../functions/fence/journal.js';
import { freePort, startProcess, waitUntil } from '../../peers/process.js';
import { putNode, useControlPlane } from '../kube/cluster.js';
import { functionBundles } from './support/bundles.js';
import { isolatedEnv, TOKEN } from './support/env.js';

const auth = { authorization: `Bearer ${TOKEN}` };

describe('Node server (functions/server.ts) on SIGTERM', () => {
  // A real API server: the journal is a Lease, written with compare-and-swap, as the alertfence ServiceAccount.
  const suite = useControlPlane();

  it('should journal the running fence, release its Lease for the next invocation, and exit 0', async () => {
    // Arrange: a node dead for an hour among healthy ones, and the server bundle as `npm start` runs it.
    await putNode(suite, { name: 'worker-1', ready: false, providerID: 'simulated:///i-worker-1' });
    for (const name of ['worker-2', 'worker-3']) {
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
        // The demo cloud: power transitions take 2 s, long enough to stop in the middle of a fence.
        ALERTFENCE_DRIVERS: 'simulated',
        NODE_NO_WARNINGS: '1',
      }),
      ready: `${url}/healthz`,
    });
    try {
      const accepted = await fetch(`${url}/v1/nodes/worker-1/fence`, { method: 'POST', headers: auth });
      expect(accepted.status, server.logs()).toBe(202);
      await waitUntil(
        async () => {
          const journal = (await (
            await fetch(`${url}/v1/nodes/worker-1/fence`, { headers: auth })
          ).json()) as {
            phase?: string;
          };
          return journal.phase === 'Mark' || journal.phase === 'PowerOff';
        },
        { timeoutMs: 20_000, intervalMs: 50, what: 'the fence to be past Lock' },
      );

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
