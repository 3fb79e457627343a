/**
 * A node's fence history (kept with its journal, bounded), the cap on fences of one node within a window,
 * and the cluster-wide list of fences that are not over.
 */
import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import type { FenceListing, NodeResult } from '../../../functions/fence/api.js';
import type { FenceRecord } from '../../../functions/fence/journal.js';
import { alertPayload, createWorld, putNodes, TOKEN, type World } from '../../support/world.js';

type Results = { results: NodeResult[] };

const get = (world: World, path: string, token = TOKEN) =>
  Promise.resolve(world.app.request(path, { headers: token ? { authorization: `Bearer ${token}` } : {} }));

const alertWorker1 = async (world: World) =>
  (await (await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))).json()) as Results;

/** worker-1 dies (again): its Node is back, NotReady for an hour, on the same machine. */
function worker1Dies(world: World) {
  putNodes(world.kube, [{ name: 'worker-1', ready: false, downFor: 3_600_000 }], world.clock.now());
}

/** Fences worker-1 to the end, `times` times, an hour apart. */
async function fenceWorker1(world: World, times: number) {
  for (let fence = 0; fence < times; fence++) {
    worker1Dies(world);
    await alertWorker1(world);
    await world.drain();
    world.clock.advance(3_600_000);
  }
}

describe('fence history', () => {
  it('should keep each fence of a node: trigger, phases and their times, outcome, force, volumes; the newest first', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_COOLDOWN: '0s' } });
    await fenceWorker1(world, 2);

    // Act
    const response = await get(world, '/v1/nodes/worker-1/fences');
    const body = (await response.json()) as { node: string; fences: FenceRecord[] };

    // Assess
    expect(response.status).toBe(200);
    expect(body.fences).toHaveLength(2);
    const [newest, oldest] = body.fences;
    expect(Date.parse(newest?.startedAt ?? '')).toBeGreaterThan(Date.parse(oldest?.startedAt ?? ''));
    expect(oldest).toMatchObject({
      trigger: { kind: 'alert', alertname: 'KubeNodeNotReady' },
      status: 'succeeded',
      forced: false,
      poweredOff: true,
      volumesDetached: ['vol-worker-1'],
    });
    expect(oldest?.phases.map((phase) => phase.phase)).toEqual([
      'Confirm',
      'Lock',
      'Mark',
      'PowerOff',
      'VerifyOff',
      'Release',
      'DeleteNode',
      'PowerOn',
      'Done',
    ]);
    expect(oldest?.finishedAt).toBeDefined();
  });

  it('should keep at most ALERTFENCE_HISTORY fences, and answer ?limit=', async () => {
    // Prepare
    const world = createWorld({
      env: { ALERTFENCE_COOLDOWN: '0s', ALERTFENCE_HISTORY: '2', ALERTFENCE_MAX_FENCES_PER_NODE: '10' },
    });
    await fenceWorker1(world, 4);

    // Act
    const all = (await (await get(world, '/v1/nodes/worker-1/fences')).json()) as { fences: FenceRecord[] };
    const one = (await (await get(world, '/v1/nodes/worker-1/fences?limit=1')).json()) as {
      fences: FenceRecord[];
    };

    // Assess: the journal's own fence and the two before it.
    expect(all.fences).toHaveLength(3);
    expect(one.fences).toEqual([all.fences[0]]);
  });

  it('should answer an empty history for a node never fenced, 404 for an unknown node, 400 for bad input, 401 without a token', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const statuses = await Promise.all(
      [
        '/v1/nodes/worker-2/fences',
        '/v1/nodes/no-such-node/fences',
        '/v1/nodes/Not_A_Name/fences',
        '/v1/nodes/worker-2/fences?limit=0',
        '/v1/nodes/worker-2/fences?limit=many',
        '/v1/nodes/worker-2/fences?sort=asc',
      ].map(async (path) => (await get(world, path)).status),
    );
    const anonymous = await get(world, '/v1/nodes/worker-2/fences', '');
    const empty = await (await get(world, '/v1/nodes/worker-2/fences')).json();

    // Assess
    expect(statuses).toEqual([200, 404, 400, 400, 400, 400]);
    expect(anonymous.status).toBe(401);
    expect(empty).toEqual({ node: 'worker-2', fences: [] });
  });
});

describe('the cap on fences of one node', () => {
  it('should refuse a node fenced ALERTFENCE_MAX_FENCES_PER_NODE times within the window, and say so', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_COOLDOWN: '0s', ALERTFENCE_MAX_FENCES_PER_NODE: '2' } });
    await fenceWorker1(world, 2);
    worker1Dies(world);
    world.events.length = 0;

    // Act
    const body = await alertWorker1(world);
    await world.drain();

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'FenceCapReached' });
    expect(body.results[0]?.message).toContain('fenced 2 times in the last 24h');
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(2);
    expect(world.events).toEqual([
      expect.objectContaining({ kind: 'decided', reason: 'FenceCapReached', node: 'worker-1' }),
    ]);
  });

  it("should let an operator's own request through the cap: the human it asks for", async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_COOLDOWN: '0s', ALERTFENCE_MAX_FENCES_PER_NODE: '1' } });
    await fenceWorker1(world, 1);
    worker1Dies(world);

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { reason: 'looked at it; fence again' });

    // Assess
    expect(response.status).toBe(202);
  });

  it('should count only fences that powered the machine off, within the window', async () => {
    // Prepare: one fence a day ago (out of the window) and one aborted before its power-off.
    const world = createWorld({ env: { ALERTFENCE_COOLDOWN: '0s', ALERTFENCE_MAX_FENCES_PER_NODE: '1' } });
    await fenceWorker1(world, 1);
    world.clock.advance(24 * 3_600_000);
    worker1Dies(world);

    // Act
    const body = await alertWorker1(world);

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'accepted' });
  });
});

describe('GET /v1/fences', () => {
  it('should list the fences running, failed or waiting for an operator, and filter by ?status=', async () => {
    // Prepare: worker-1 fails for good (the cloud refuses the stop); worker-3 is handed over, still running.
    const world = createWorld({
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2' },
        { name: 'worker-3', ready: false },
        { name: 'worker-4' },
        { name: 'worker-5' },
      ],
      env: { ALERTFENCE_MAX_CONCURRENT_FENCES: '2' },
      driverOptions: {
        onCall: (call) => {
          if (call.method === 'powerOff' && call.id === 'i-worker-1') {
            throw new DriverError('UnauthorizedOperation', { retryable: false });
          }
        },
      },
    });
    await alertWorker1(world);
    await world.drain();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-3' }]));

    // Act
    const all = (await (await get(world, '/v1/fences')).json()) as {
      fences: FenceListing[];
      paused: unknown;
    };
    const waiting = (await (await get(world, '/v1/fences?status=waiting')).json()) as {
      fences: FenceListing[];
    };
    const bad = await get(world, '/v1/fences?status=everything');

    // Assess
    expect(all.paused).toBe(false);
    expect(all.fences.map((fence) => [fence.node, fence.status])).toEqual([
      ['worker-1', 'failed'],
      ['worker-3', 'running'],
    ]);
    expect(waiting.fences).toEqual([
      expect.objectContaining({
        node: 'worker-1',
        waiting: expect.objectContaining({ reason: 'NeedsOperator' }),
      }),
    ]);
    expect(bad.status).toBe(400);
  });
});
