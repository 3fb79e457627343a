import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import type { NodeResult } from '../../../functions/fence/api.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import { KubeUnavailableError } from '../../../functions/kube/port.js';
import { RELEASE_CALLS } from '../../fakes/kube.js';
import { alertPayload, createWorld, kubeletLease, makeNode, type World } from '../../support/world.js';

type Results = { results: NodeResult[] };

const instance = (world: World, id = 'i-worker-1') => world.driver.instances.get(id);

/** Every call that releases the node: the out-of-service taint, pod/VA/Node deletion, cloud detach. */
function releaseCalls(world: World): string[] {
  const kube = world.kube.calls
    .filter(
      (call) =>
        RELEASE_CALLS.has(call.method) ||
        (call.method === 'addTaint' && call.target.includes(KUBE_NAMES.outOfServiceTaintKey)),
    )
    .map((call) => `${call.method}:${call.target}`);
  const cloud = world.driver.calls
    .filter((call) => call.method === 'detachVolume')
    .map((c) => `detach:${c.volumeId}`);
  return [...kube, ...cloud];
}

const count = (world: World, method: string) =>
  world.driver.calls.filter((call) => call.method === method).length;

describe('safety invariants', () => {
  it('invariant 1: should release nothing while the instance is not verified off', async () => {
    // Prepare: the instance never finishes stopping.
    const world = createWorld({ driverOptions: { transitionMs: 24 * 3_600_000 } });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    expect(count(world, 'powerOff')).toBe(1);
    expect(instance(world)?.state).toBe('stopping');
    expect(releaseCalls(world)).toEqual([]);
    const journal = await world.service.journal('worker-1');
    expect(journal?.phase).toBe('PowerOff');
    expect(journal?.verifiedOffAt).toBeUndefined();
    expect(journal?.lastError?.message).toContain('PowerTimeoutError');
  });

  it('invariant 1: should release only after the cloud reports the instance stopped', async () => {
    // Prepare: check the cloud's true state at every release call.
    const world = createWorld();
    const violations: string[] = [];
    world.kube.beforeCall = (call) => {
      const releasing =
        RELEASE_CALLS.has(call.method) || call.target.includes(KUBE_NAMES.outOfServiceTaintKey);
      if (releasing && instance(world)?.state !== 'stopped')
        violations.push(`${call.method} while ${instance(world)?.state}`);
    };

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(releaseCalls(world).length).toBeGreaterThan(0);
    expect(violations).toEqual([]);
  });

  it('invariant 2: should never fence a Ready node from an alert', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]));
    const body = (await response.json()) as Results;
    await world.drain();

    // Assess
    expect(body.results[0]).toMatchObject({ node: 'worker-2', outcome: 'refused', reason: 'NodeReady' });
    expect(world.kube.mutations()).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });

  it('invariant 2: should fence a Ready node by hand only with force', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const plain = (await (await world.post('/v1/nodes/worker-2/fence', {})).json()) as NodeResult;
    const forced = await world.post('/v1/nodes/worker-2/fence', { force: true, reason: 'decommission' });
    await world.drain();

    // Assess
    expect(plain).toMatchObject({ outcome: 'refused', reason: 'NodeReady' });
    expect(forced.status).toBe(202);
    expect(count(world, 'powerOff')).toBe(1);
  });

  it('invariant 2: should abort before power-off when the node recovers after the alert was accepted', async () => {
    // Prepare
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.kube.putNode(makeNode({ name: 'worker-1', ready: true }, world.clock.now()));
    world.kube.putLease('kube-node-lease', kubeletLease('worker-1', world.clock.now()));

    // Act
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('aborted');
    expect(count(world, 'powerOff')).toBe(0);
    expect(world.kube.nodes.get('worker-1')?.spec?.taints ?? []).toEqual([]);
  });

  it('invariant 2: should not fence a node whose kubelet still renews its Lease, whatever its Ready condition says', async () => {
    // Prepare: Ready=Unknown for an hour, but the kubelet's heartbeat Lease was renewed just now.
    const world = createWorld();
    world.kube.putLease('kube-node-lease', kubeletLease('worker-1', world.clock.now()));

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;
    await world.drain();

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'KubeletLeaseFresh' });
    expect(world.kube.mutations()).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });

  it('invariant 2: should not fence a node unhealthy for less than ALERTFENCE_UNHEALTHY_FOR', async () => {
    // Prepare: down for 30 s, against the default of 2 minutes.
    const world = createWorld({
      nodes: [{ name: 'worker-1', ready: false, downFor: 30_000 }, { name: 'worker-2' }],
    });

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;
    await world.drain();

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'NotUnhealthyLongEnough' });
    expect(world.driver.calls).toEqual([]);
  });

  it("invariant 2: should not fence when the kubelet's Lease cannot be read", async () => {
    // Prepare: the one read that could show the kubelet alive fails.
    const world = createWorld();
    world.kube.beforeCall = (call) => {
      if (call.method === 'getLease' && call.target.startsWith('kube-node-lease/')) {
        throw new KubeUnavailableError('get lease kube-node-lease/worker-1: HTTP 503');
      }
    };

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const body = (await response.json()) as Results;
    await world.drain();

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'failed', reason: 'ApiServerUnavailable' });
    expect(world.kube.mutations()).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });

  it('invariant 3: should power off once for 50 concurrent identical alerts', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))),
    );
    const outcomes = await Promise.all(
      responses.map(async (r) => ((await r.json()) as Results).results[0]?.outcome),
    );
    await world.drain();

    // Assess
    expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'in-progress')).toHaveLength(49);
    expect(count(world, 'powerOff')).toBe(1);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
  });

  it('invariant 3: should ignore a continuation delivered again after another invocation took the fence over', async () => {
    // Prepare: a slow stop makes the first worker hand on; then the event that started it arrives again, as
    // a Lambda or OpenFaaS queue retry delivers it.
    const world = createWorld({
      env: { ALERTFENCE_RUN_BUDGET: '10s' },
      driverOptions: { transitionMs: 25_000 },
    });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const [delivered] = world.continuation.handoffs;
    await world.drain(1);
    const handedOn = world.continuation.handoffs[0];
    const callsBefore = world.driver.calls.length;

    // Act
    const { answer: duplicate } = await world.service.continueFence(
      delivered as NonNullable<typeof delivered>,
      {
        requestId: 'redelivered',
        deadline: world.clock.now() + 60_000,
      },
    );

    // Assess: its nonce is no longer the one the Lease expects, so it takes nothing over and calls nothing.
    expect(handedOn).toBeDefined();
    expect(handedOn?.nonce).not.toBe(delivered?.nonce);
    expect(duplicate).toMatchObject({ status: 'stale', reason: 'StaleContinuation' });
    expect(world.driver.calls.length).toBe(callsBefore);
    await world.drain();
    expect(count(world, 'powerOff')).toBe(1);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
  });

  it('invariant 4: should refuse a new fence when too many nodes in scope are unhealthy', async () => {
    // Prepare: 3 of 5 nodes down, over 40%.
    const world = createWorld({
      env: { ALERTFENCE_MAX_UNHEALTHY: '40%' },
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3', ready: false },
        { name: 'worker-4' },
        { name: 'worker-5' },
      ],
    });

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'StormGuard' });
    expect(world.kube.mutations()).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });

  it('invariant 4: should refuse a fence beyond maxConcurrentFences, also within one payload', async () => {
    // Prepare: two dead nodes of five, one fence at a time.
    const world = createWorld({
      env: { ALERTFENCE_MAX_UNHEALTHY: '2', ALERTFENCE_MAX_CONCURRENT_FENCES: '1' },
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3' },
        { name: 'worker-4' },
        { name: 'worker-5' },
      ],
    });

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }, { node: 'worker-2' }]))
    ).json()) as Results;

    // Assess
    expect(body.results.map((r) => [r.node, r.outcome, r.reason])).toEqual([
      ['worker-1', 'accepted', 'Accepted'],
      ['worker-2', 'refused', 'TooManyConcurrentFences'],
    ]);
    await world.drain();
    expect(count(world, 'powerOff')).toBe(1);
  });

  it('invariant 4: should count only nodes in scope, and round the allowed share down', async () => {
    // Prepare: 2 of the 4 db nodes are down; 40% of 4 allows 1. Six healthy nodes outside the selector must not
    // widen the share (40% of 10 would allow 4).
    const db = { pool: 'db' };
    const world = createWorld({
      env: { ALERTFENCE_MAX_UNHEALTHY: '40%', ALERTFENCE_NODE_SELECTOR: 'pool=db' },
      nodes: [
        { name: 'worker-1', ready: false, labels: db },
        { name: 'worker-2', ready: false, labels: db },
        { name: 'worker-3', labels: db },
        { name: 'worker-4', labels: db },
        ...Array.from({ length: 6 }, (_, index) => ({ name: `web-${index}` })),
      ],
    });

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'StormGuard' });
    expect(body.results[0]?.message).toContain('2 of 4 nodes in scope');
    expect(world.driver.calls).toEqual([]);
  });

  it('invariant 4: should count a failed fence as running, so a stuck fence blocks the next one', async () => {
    // Prepare: worker-1's fence fails at DeleteNode and stays failed, its machine off.
    const world = createWorld({
      env: { ALERTFENCE_MAX_UNHEALTHY: '2', ALERTFENCE_MAX_CONCURRENT_FENCES: '1' },
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3' },
        { name: 'worker-4' },
        { name: 'worker-5' },
      ],
    });
    world.kube.beforeCall = (call) => {
      if (call.method === 'deleteNode') throw new Error('admission webhook denied the request');
    };
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]))
    ).json()) as Results;

    // Assess
    expect((await world.service.journal('worker-1'))?.status).toBe('failed');
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'TooManyConcurrentFences' });
    expect(count(world, 'powerOff')).toBe(1);
  });

  it('invariant 5: should make zero mutating calls in dry-run and return the exact plan', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_DRY_RUN: 'true' } });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const body = (await response.json()) as Results & { dryRun: boolean };
    await world.drain();

    // Assess
    expect(body.dryRun).toBe(true);
    const [result] = body.results;
    expect(result).toMatchObject({ node: 'worker-1', outcome: 'planned', reason: 'DryRun' });
    // Not even a server-side dry run: a plan is made from reads alone.
    expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
    expect(world.driver.calls.map((call) => call.method)).toEqual(['describe']);
    expect(result?.plan?.map((step) => step.phase)).toEqual([
      'Lock',
      'Mark',
      'PowerOff',
      'VerifyOff',
      'Release',
      'Release',
      'Release',
      'DeleteNode',
      'PowerOn',
    ]);
    const targets = result?.plan?.flatMap((step) => step.targets ?? []);
    expect(targets).toEqual(
      expect.arrayContaining([
        'pod/default/db-0',
        'volumeattachment/csi-pv-worker-1',
        'vol-worker-1',
        'simulated:i-worker-1',
      ]),
    );
    expect(targets).not.toContain('vol-worker-1-scratch');
    expect(targets).not.toContain('i-worker-1-root');
  });

  it('invariant 6: should do nothing destructive and ask for a retry when the API server is unreachable', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const body = (await response.json()) as Results;

    // Assess
    expect(response.status).toBe(503);
    expect(body.results[0]).toMatchObject({ outcome: 'failed', reason: 'ApiServerUnavailable' });
    expect(world.kube.mutations()).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });

  it('invariant 6: should not power off when the cloud cannot be read, and resume once it can', async () => {
    // Prepare: once the fence has started, describe fails while the cloud is unreachable.
    let cloudDown = true;
    let reads = 0;
    const world = createWorld({
      driverOptions: {
        onCall: (call) => {
          if (call.method === 'describe' && ++reads > 1 && cloudDown)
            throw new DriverError('EC2 unreachable', { retryable: true });
        },
      },
    });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    const afterFailure = await world.service.journal('worker-1');
    cloudDown = false;
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    expect(afterFailure?.phase).toBe('Mark');
    expect(afterFailure?.lastError).toMatchObject({ phase: 'PowerOff', retryable: true });
    expect(world.driver.calls.filter((c) => c.method === 'powerOff')).toHaveLength(1);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
  });

  it('invariant 7: should power on only after the Node is deleted and volumes are released', async () => {
    // Prepare: one ordered trace across the API server and the cloud.
    const trace: string[] = [];
    // And what is still attached when power-on is sent: a detach requested is not a detach done.
    const attachedAtPowerOn: string[] = [];
    const world = createWorld({
      driverOptions: {
        onCall: (call) => {
          trace.push(`cloud:${call.method}`);
          if (call.method !== 'powerOn') return;
          for (const volume of instance(world)?.volumes ?? []) {
            const detached =
              volume.detachingUntil !== undefined && volume.detachingUntil <= world.clock.now();
            if (!volume.root && !detached) attachedAtPowerOn.push(volume.id);
          }
        },
      },
    });
    world.kube.beforeCall = (call) => trace.push(`kube:${call.method}`);

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    const powerOn = trace.indexOf('cloud:powerOn');
    expect(powerOn).toBeGreaterThan(trace.indexOf('kube:deleteNode'));
    expect(powerOn).toBeGreaterThan(trace.lastIndexOf('cloud:detachVolume'));
    expect(trace.indexOf('kube:deleteNode')).toBeGreaterThan(trace.lastIndexOf('cloud:detachVolume'));
    expect(attachedAtPowerOn).not.toContain('vol-worker-1');
  });

  it('invariant 7: should leave the machine off when the Node cannot be deleted', async () => {
    // Prepare
    const world = createWorld();
    world.kube.beforeCall = (call) => {
      if (call.method === 'deleteNode') throw new Error('admission webhook denied the request');
    };

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('failed');
    expect(journal?.phase).toBe('Release');
    expect(count(world, 'powerOn')).toBe(0);
    expect(instance(world)?.state).toBe('stopped');
  });

  it('invariant 8: should not fence a node again within the cooldown', async () => {
    // Prepare: a completed fence; the machine came back as a fresh Node that dies again.
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    world.kube.putNode(makeNode({ name: 'worker-1', ready: false }, world.clock.now()));
    world.clock.advance(10 * 60_000);

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;
    await world.drain();

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'skipped', reason: 'Cooldown' });
    expect(count(world, 'powerOff')).toBe(1);
  });

  it('invariant 8: should never start a fence from a resolved alert', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1', status: 'resolved' }]))
    ).json()) as Results;
    await world.drain();

    // Assess
    expect(body.results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'skipped', reason: 'AlertResolved' }),
    ]);
    expect(world.kube.calls).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });
});
