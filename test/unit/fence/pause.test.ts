/**
 * The cluster-wide pause: no fence starts and no machine is powered off while it holds, whatever path the
 * fence takes (a new alert, a continuation, a fence already past its start); a fence past its power-off
 * finishes; the tick resumes the held ones once it is lifted.
 */
import { describe, expect, it } from 'vitest';
import type { NodeResult } from '../../../functions/fence/api.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import type { Lease } from '../../../functions/kube/objects.js';
import { alertPayload, createWorld, TOKEN, type World } from '../../support/world.js';

type Results = { results: NodeResult[] };

const powerOffs = (world: World) => world.driver.calls.filter((call) => call.method === 'powerOff').length;

const send = (world: World, method: string, path: string, body?: unknown, token = TOKEN) =>
  Promise.resolve(
    world.app.request(path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    }),
  );

/** The pause Lease as anyone allowed to write Leases in the namespace could write it. */
function pauseLease(annotation: string): Lease {
  return {
    metadata: {
      name: KUBE_NAMES.pauseLease,
      namespace: 'alertfence',
      labels: { 'app.kubernetes.io/managed-by': 'alertfence', [KUBE_NAMES.kindLabel]: 'pause' },
      annotations: { [KUBE_NAMES.pauseAnnotation]: annotation },
    },
    spec: { holderIdentity: '' },
  };
}

/** Writes a pause the moment the fence adds the taint `key`: a pause that comes while the fence runs. */
function pauseWhenTainted(world: World, key: string): void {
  world.kube.beforeCall = (call) => {
    if (call.method === 'addTaint' && call.target.includes(key)) {
      world.kube.putLease(
        'alertfence',
        pauseLease(
          JSON.stringify({ paused: true, reason: 'freeze', by: 'bob', since: '2026-11-22T10:00:00Z' }),
        ),
      );
    }
  };
}

const alertWorker1 = async (world: World) =>
  (await (await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))).json()) as Results;

describe('the pause', () => {
  it('should refuse every new fence while paused, saying who paused, why and until when, and write nothing', async () => {
    // Prepare
    const world = createWorld();
    const paused = await send(world, 'POST', '/v1/pause', {
      reason: 'upgrading the CNI',
      for: '2h',
      by: 'alice',
    });
    const writesBefore = world.kube.mutations().length;

    // Act
    const body = await alertWorker1(world);
    await world.drain();

    // Assess
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({
      paused: true,
      reason: 'upgrading the CNI',
      by: 'alice',
      until: '2026-11-22T12:00:00.000Z',
    });
    expect(body.results[0]).toMatchObject({ node: 'worker-1', outcome: 'refused', reason: 'Paused' });
    expect(body.results[0]?.message).toContain('alice ("upgrading the CNI") until 2026-11-22T12:00:00.000Z');
    expect(powerOffs(world)).toBe(0);
    expect(world.kube.mutations().length).toBe(writesBefore);
  });

  it('should hold a handed-over fence before its power-off, and let the tick finish it once lifted', async () => {
    // Prepare: a fence starts and is handed over; then an operator pauses.
    const world = createWorld();
    await alertWorker1(world);
    await send(world, 'POST', '/v1/pause', { reason: 'maintenance' });

    // Act
    await world.drain();
    const held = await world.service.journal('worker-1');
    await send(world, 'DELETE', '/v1/pause');
    world.clock.advance(world.config.lockDurationMs + 1_000);
    const tick = await world.service.tick({ requestId: 'tick', deadline: world.clock.now() + 60_000 });
    await world.continuation.continue(tick.handoffs);
    await world.drain();

    // Assess
    // Refused at its continuation, before it even marked the node.
    expect(held).toMatchObject({ phase: 'Lock', status: 'running' });
    expect(tick.answer[0]).toMatchObject({ outcome: 'accepted', reason: 'Resume' });
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(powerOffs(world)).toBe(1);
  });

  it('should stop a running fence at its power-off when the pause comes while it runs', async () => {
    // Prepare: the pause is written while the fence marks the node (right before its power-off).
    const world = createWorld();
    pauseWhenTainted(world, KUBE_NAMES.fencingTaintKey);

    // Act
    await alertWorker1(world);
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(powerOffs(world)).toBe(0);
    expect(journal).toMatchObject({ status: 'running', phase: 'Mark' });
    expect(journal?.lastError?.message).toContain('FencePausedError');
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('running');
  });

  it('should let a fence past its power-off finish: its machine is off and its workloads must move', async () => {
    // Prepare: the pause is written while the fence releases the node's workloads.
    const world = createWorld();
    pauseWhenTainted(world, KUBE_NAMES.outOfServiceTaintKey);

    // Act
    await alertWorker1(world);
    await world.drain();

    // Assess
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(world.kube.nodes.has('worker-1')).toBe(false);
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('running');
  });

  it('should end by itself at its expiry', async () => {
    // Prepare
    const world = createWorld();
    await send(world, 'POST', '/v1/pause', { reason: 'short window', for: '10m' });

    // Act
    const during = await alertWorker1(world);
    world.clock.advance(10 * 60_000 + 1);
    const after = await alertWorker1(world);

    // Assess
    expect(during.results[0]?.reason).toBe('Paused');
    expect(after.results[0]).toMatchObject({ outcome: 'accepted' });
  });

  it('should fail closed on a pause Lease it cannot read', async () => {
    // Prepare
    const world = createWorld();
    world.kube.putLease('alertfence', pauseLease('{not json'));

    // Act
    const body = await alertWorker1(world);

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'Paused' });
    expect(body.results[0]?.message).toContain('cannot be read');
  });

  it('should show the pause on /readyz: that it holds to anyone, its details to a caller with a token', async () => {
    // Prepare
    const world = createWorld();
    await send(world, 'POST', '/v1/pause', { reason: 'rotating the keys' });

    // Act
    const anonymous = await send(world, 'GET', '/readyz', undefined, '');
    const operator = await send(world, 'GET', '/readyz');
    const state = await send(world, 'GET', '/v1/pause');
    const lifted = await send(world, 'DELETE', '/v1/pause');
    const afterwards = await send(world, 'GET', '/readyz', undefined, '');

    // Assess
    expect(await anonymous.json()).toEqual({ status: 'ready', paused: true });
    expect(await operator.json()).toMatchObject({ status: 'ready', paused: { reason: 'rotating the keys' } });
    expect(await state.json()).toMatchObject({ paused: true, reason: 'rotating the keys' });
    expect(await lifted.json()).toMatchObject({ paused: false, lifted: { reason: 'rotating the keys' } });
    expect(await afterwards.json()).toEqual({ status: 'ready', paused: false });
  });

  it.each([
    ['no body', undefined, 'empty body'],
    ['no reason', { for: '1h' }, 'reason'],
    ['an empty reason', { reason: '  ' }, 'reason'],
    ['both for and until', { reason: 'x', for: '1h', until: '2026-11-22T12:00:00Z' }, 'not both'],
    ['a duration that is none', { reason: 'x', for: 'soon' }, 'not a duration'],
    ['an end in the past', { reason: 'x', until: '2026-11-22T09:00:00Z' }, 'before it starts'],
    ['an end too far', { reason: 'x', for: '1000h' }, '30 days'],
    ['a time without offset', { reason: 'x', until: '2026-11-22T12:00:00' }, 'until'],
    ['an unknown field', { reason: 'x', forever: true }, 'forever'],
  ])('should refuse a pause with %s (400) and pause nothing', async (_name, body, expected) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await send(world, 'POST', '/v1/pause', body ?? '');
    const alert = await alertWorker1(world);

    // Assess
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain(expected);
    expect(alert.results[0]?.outcome).toBe('accepted');
  });

  it('should refuse pause and resume without a token (401)', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const pause = await send(world, 'POST', '/v1/pause', { reason: 'x' }, '');
    const lift = await send(world, 'DELETE', '/v1/pause', undefined, '');

    // Assess
    expect([pause.status, lift.status]).toEqual([401, 401]);
    expect(world.kube.mutations()).toEqual([]);
  });
});
