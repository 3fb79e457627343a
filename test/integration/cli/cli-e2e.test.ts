/**
 * The CLI driven end to end: the real alertfence Node server started as `npm start` starts it, armed, on a real
 * control plane (etcd, kube-apiserver, controllers, kwok kubelets) with the simulated cloud, and the CLI run as
 * an operator runs it — a child process, `bin/alertfence.mjs` as `npx alertfence` resolves it, the token in a
 * file as the Quick start keeps it. worker-1's kubelet dies for real (kwok stops renewing it and the
 * node-lifecycle controller marks it NotReady); worker-2 stays Ready.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import {
  type CommandResult,
  freePort,
  runCommand,
  startProcess,
  tempDir,
  waitUntil,
} from '../../peers/process.js';
import { useControlPlane } from '../kube/cluster.js';
import { ROOT } from '../runtimes/support/bundles.js';
import { isolatedEnv } from '../runtimes/support/env.js';
import { useSetup } from '../runtimes/support/setup.js';

const TOKEN = 'cli-e2e-token-0123456789abcdef';
const JOURNAL_KEY = 'cli-e2e-journal-key-0123456789abcdef0123456789';
/** How long a node must be down before alertfence believes it (the configuration's floor). */
const UNHEALTHY_FOR = '10s';

describe('alertfence CLI end to end on a real server and control plane', () => {
  const suite = useControlPlane({ controllers: true, kwok: true });
  const setup = useSetup(
    async () => {
      const dir = await tempDir('alertfence-cli-e2e');
      const tokenFile = join(dir.path, 'alertfence-token');
      await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
      for (const name of ['worker-1', 'worker-2']) {
        await suite.cluster.createNode(name, { providerID: `simulated:///i-${name}` });
      }
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const server = await startProcess({
        name: 'npm start',
        command: 'npm',
        args: ['start'],
        cwd: ROOT,
        env: isolatedEnv({
          PORT: String(port),
          HOST: '127.0.0.1',
          KUBECONFIG: suite.cluster.alertfenceKubeconfig,
          ALERTFENCE_TOKENS_FILE: tokenFile,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_UNHEALTHY_FOR: UNHEALTHY_FOR,
          // Two workers, one dead: half the cluster, over the default 30 % storm guard.
          ALERTFENCE_MAX_UNHEALTHY: '1',
          ALERTFENCE_RELEASE_TIMEOUT: '20s',
        }),
        ready: `${url}/healthz`,
        timeoutMs: 90_000,
        stopGraceMs: 15_000,
      });
      // The kubelet of worker-1 dies now; the rest of the story waits for the API server to notice.
      await suite.cluster.stopHeartbeat('worker-1');
      return { dir, url, tokenFile, server };
    },
    async ({ dir, server }) => {
      await server.stop();
      await dir.remove();
    },
  );

  /** Runs the CLI as an operator's shell would: ALERTFENCE_URL and ALERTFENCE_TOKEN_FILE set, output on pipes. */
  async function alertfence(args: string[], timeoutMs = 60_000): Promise<CommandResult> {
    const { url, tokenFile } = setup();
    return runCommand(process.execPath, [join(ROOT, 'bin/alertfence.mjs'), ...args], {
      cwd: ROOT,
      env: isolatedEnv({ ALERTFENCE_URL: url, ALERTFENCE_TOKEN_FILE: tokenFile }),
      check: false,
      timeoutMs,
    });
  }

  /** What the output says, and the server's log, for a failed assertion. */
  const why = (result: CommandResult) =>
    `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}\n--- server\n${setup().server.logs().slice(-4000)}`;

  it('should print status --json as JSON that parses: ready, not paused, no fence', async () => {
    // Act
    const result = await alertfence(['status', '--json']);

    // Assess
    expect(result.code, why(result)).toBe(0);
    const status = JSON.parse(result.stdout) as { readyz: unknown; fences: unknown };
    expect(status).toEqual({
      readyz: { status: 'ready', paused: false },
      fences: { paused: false, fences: [], rejected: [] },
    });
  });

  it('should refuse to fence the Ready node, exit 1 with the reason', async () => {
    // Act
    const result = await alertfence(['fence', 'worker-2', '--reason', 'looks stuck']);

    // Assess
    expect(result.code, why(result)).toBe(1);
    expect(result.stdout).toMatch(/^worker-2: refused \(NodeReady\): /);
  });

  it('should refuse a fence while paused with the pause reason, and lift the pause', async () => {
    // Act
    const paused = await alertfence([
      'pause',
      '--reason',
      'control plane upgrade',
      '--for',
      '30m',
      '--by',
      'CHG-42',
    ]);
    const refused = await alertfence(['fence', 'worker-1']);
    const status = await alertfence(['status']);
    const resumed = await alertfence(['resume']);

    // Assess
    expect(paused.code, why(paused)).toBe(0);
    expect(paused.stdout).toContain('by CHG-42: "control plane upgrade"');
    expect(refused.code, why(refused)).toBe(1);
    expect(refused.stdout).toMatch(
      /^worker-1: refused \(Paused\): alertfence is paused .* \("control plane upgrade"\)/,
    );
    expect(status.stdout).toMatch(/paused\s+yes, since .* by CHG-42: "control plane upgrade"/);
    expect(resumed.code, why(resumed)).toBe(0);
    expect(resumed.stdout).toContain('pause lifted; it was: since');
  });

  it('should fence the dead node with --wait, printing every phase as it completes, and exit 0', async () => {
    // Prepare: the API server has had worker-1 NotReady, its kubelet Lease stale, for UNHEALTHY_FOR: a dry
    // run then plans instead of refusing (NotUnhealthyLongEnough, KubeletLeaseFresh).
    await waitUntil(
      async () => {
        const plan = await alertfence(['fence', 'worker-1', '--dry-run', '--json']);
        return (JSON.parse(plan.stdout) as { outcome: string }).outcome === 'planned';
      },
      { timeoutMs: 120_000, intervalMs: 2_000, what: 'worker-1 to be down long enough for alertfence' },
    );

    // Act
    const result = await alertfence(
      ['fence', 'worker-1', '--wait', '--reason', 'kubelet gone', '--timeout', '3m'],
      200_000,
    );

    // Assess
    expect(result.code, why(result)).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^worker-1: accepted \(Accepted\): .*\(fence \S+, running after \w+\)$/);
    const phases = lines.filter((line) => line.startsWith('  ✓ ')).map((line) => line.split(/\s+/)[2]);
    expect(phases).toEqual([...PHASES]);
    expect(result.stdout).toMatch(/^worker-1: fence \S+ succeeded in \S+$/m);
  });

  it('should show the fence in history, and the last success in status --json', async () => {
    // Act
    const history = await alertfence(['history', 'worker-1']);
    const status = await alertfence(['status', '--json']);

    // Assess
    expect(history.code, why(history)).toBe(0);
    expect(history.stdout.split('\n')[0]).toMatch(
      /^FENCE\s+TRIGGER\s+STARTED\s+DURATION\s+OUTCOME\s+FORCED\s+VOLUMES\s+REASON$/,
    );
    expect(history.stdout).toMatch(/^\S+\s+manual\s+\S+Z\s+\S+\s+succeeded\s+no\s+\S+\s+kubelet gone$/m);
    const id = /^(\S+)\s+manual/m.exec(history.stdout)?.[1];
    expect(status.code, why(status)).toBe(0);
    const parsed = JSON.parse(status.stdout) as { fences: { lastSucceeded?: { node: string; id: string } } };
    expect(parsed.fences.lastSucceeded).toMatchObject({ node: 'worker-1', id });
  });

  it('should exit 4 for the history of a node that does not exist', async () => {
    // Act
    const result = await alertfence(['history', 'worker-404']);

    // Assess
    expect(result.code, why(result)).toBe(4);
    expect(result.stderr).toContain('answered 404 not_found');
  });
});
