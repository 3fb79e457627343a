/**
 * The CLI against alertfence's real app (routes, service, guards, journal) over the in-memory API server and
 * the simulated cloud of `createWorld`, on one virtual clock: the answers it reads are the ones the server
 * writes, so a change of shape on either side fails here. The CLI's waits run the handed-over fences, as the
 * Node server would meanwhile. The same story against the real server and control plane is
 * `test/integration/cli/cli-e2e.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { KubeForbiddenError } from '../../../functions/kube/port.js';
import { createWorld, TOKEN, type World } from '../../support/world.js';
import { jsonLines, runCli } from './support.js';

const URL = 'http://alertfence.test';

function cliOn(world: World) {
  const fetch: typeof globalThis.fetch = async (input, init) => world.app.request(String(input), init);
  return (argv: string[]) =>
    runCli(URL, argv, {
      clock: world.clock,
      fetch,
      env: { ALERTFENCE_URL: URL, ALERTFENCE_TOKEN: TOKEN },
      onSleep: async () => {
        await world.drain();
      },
    });
}

describe('alertfence CLI on the real app', () => {
  it('should refuse to fence a Ready node, exit 1 with the reason', async () => {
    // Prepare
    const cli = cliOn(createWorld());

    // Act
    const result = await cli(['fence', 'worker-2']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^worker-2: refused \(NodeReady\): /);
  });

  it('should print the exact plan of a dry run, and change nothing', async () => {
    // Prepare
    const world = createWorld();
    const cli = cliOn(world);

    // Act
    const result = await cli(['fence', 'worker-1', '--dry-run']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('worker-1: planned (DryRun)');
    expect(result.stdout).toMatch(/PowerOff\s+hard power-off/);
    expect(result.stdout).toContain('vol-worker-1');
    expect(world.driver.calls.filter((call) => call.method !== 'describe')).toEqual([]);
  });

  it('should be refused while paused, with the pause reason, and fence again once resumed', async () => {
    // Prepare
    const world = createWorld();
    const cli = cliOn(world);

    // Act
    const paused = await cli(['pause', '--reason', 'cluster upgrade', '--for', '1h', '--by', 'CHG-1234']);
    const refused = await cli(['fence', 'worker-1']);
    const status = await cli(['status']);
    const resumed = await cli(['resume']);
    const started = await cli(['fence', 'worker-1']);

    // Assess
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain('by CHG-1234: "cluster upgrade"; until 2026-11-22T11:00:00Z (in 1h)');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^worker-1: refused \(Paused\): .*"cluster upgrade"/);
    expect(status.stdout).toMatch(/paused\s+yes, since .* by CHG-1234: "cluster upgrade"/);
    expect(resumed.stdout).toContain('pause lifted; it was: since');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^worker-1: accepted \(Accepted\)/);
  });

  it('should show the pause as unknown, and why, when the real app cannot read its Lease', async () => {
    // Prepare: the API server answers the readiness check, but refuses every read of alertfence's Leases.
    const world = createWorld();
    world.kube.beforeCall = (call) => {
      if (call.method === 'getLease' || call.method === 'listLeases') {
        throw new KubeForbiddenError('leases is forbidden', { status: 403 });
      }
    };
    const cli = cliOn(world);

    // Act
    const status = await cli(['status']);

    // Assess
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/ready\s+yes/);
    expect(status.stdout).toMatch(/paused\s+unknown: leases is forbidden\n/);
  });

  it('should follow a fence to the end with --wait, printing every phase, then show it in history and status', async () => {
    // Prepare
    const world = createWorld();
    const cli = cliOn(world);

    // Act
    const fenced = await cli(['fence', 'worker-1', '--wait', '--reason', 'kernel panic']);
    const history = await cli(['history', 'worker-1']);
    const status = await cli(['status', '--json']);

    // Assess
    expect(fenced.code).toBe(0);
    const phases = fenced.stdout
      .split('\n')
      .filter((line) => line.startsWith('  ✓ '))
      .map((line) => line.split(/\s+/)[2]);
    expect(phases).toEqual([...PHASES]);
    expect(fenced.stdout).toMatch(/worker-1: fence \S+ succeeded in \d/);
    const id = /fence (\S+) succeeded/.exec(fenced.stdout)?.[1];
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(
      new RegExp(
        `^${id}\\s+manual\\s+\\S+Z\\s+\\S+\\s+succeeded\\s+no\\s+vol-worker-1\\S*\\s+kernel panic$`,
        'm',
      ),
    );
    expect(status.code).toBe(0);
    const [document] = jsonLines(status.stdout) as Array<{
      readyz: unknown;
      fences: { lastSucceeded?: unknown };
    }>;
    expect(document?.readyz).toEqual({ status: 'ready', paused: false });
    expect(document?.fences.lastSucceeded).toEqual({ node: 'worker-1', id, finishedAt: expect.any(String) });
  });

  it.each([
    [['status']],
    [['fence', 'worker-1']],
    [['history', 'worker-1']],
    [['pause', '--reason', 'upgrade']],
    [['resume']],
  ])('should exit 3 for %o when the real app refuses the token, and change nothing', async (argv) => {
    // Prepare
    const world = createWorld();
    const fetch: typeof globalThis.fetch = async (input, init) => world.app.request(String(input), init);

    // Act
    const result = await runCli(URL, argv, {
      clock: world.clock,
      fetch,
      env: { ALERTFENCE_URL: URL, ALERTFENCE_TOKEN: 'not-the-token-0123456789abcdef' },
    });

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/answered 401 unauthorized/);
    expect(result.stderr).toContain('check ALERTFENCE_TOKEN');
    expect(world.kube.mutations()).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });

  it('should exit 4 for the history of a node alertfence never heard of', async () => {
    // Prepare
    const cli = cliOn(createWorld());

    // Act
    const result = await cli(['history', 'worker-404']);

    // Assess
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(`GET ${URL}/v1/nodes/worker-404/fences answered 404 not_found`);
  });
});
