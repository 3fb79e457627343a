/**
 * What the fence tells its observer (metrics and notifications listen there): each decision, the start, every
 * phase, the end, and a wait for an operator, announced once.
 */
import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import type { FenceEvent } from '../../../functions/fence/observer.js';
import type { Node } from '../../../functions/kube/objects.js';
import { alertPayload, createWorld, kubeletLease, makeNode, type World } from '../../support/world.js';

const kinds = (events: FenceEvent[]) =>
  events.map((event) => (event.kind === 'phase-completed' ? `phase:${event.phase}` : event.kind));

/** A cloud that refuses every read after the start's, with an error a retry cannot fix. */
function cloudRefusesAfterStart() {
  let reads = 0;
  return {
    onCall: (call: { method: string }) => {
      if (call.method === 'describe' && ++reads > 1) {
        throw new DriverError('UnauthorizedOperation: ec2:DescribeInstances', { retryable: false });
      }
    },
  };
}

async function fenceWorker1(world: World) {
  await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
  await world.drain();
}

describe('the fence observer', () => {
  it('should hear the decision, the start, each phase in order and the end of a whole fence', async () => {
    // Prepare
    const world = createWorld();

    // Act
    await fenceWorker1(world);

    // Assess
    // The decision is told as the request answers, after the fence it started took its lock.
    expect(kinds(world.events)).toEqual([
      'started',
      'decided',
      'phase:Mark',
      'phase:PowerOff',
      'phase:VerifyOff',
      'phase:Release',
      'phase:DeleteNode',
      'phase:PowerOn',
      'phase:Done',
      'finished',
    ]);
    expect(world.events[1]).toMatchObject({
      kind: 'decided',
      node: 'worker-1',
      outcome: 'accepted',
      trigger: 'alert',
      dryRun: false,
    });
    const finished = world.events.at(-1);
    expect(finished).toMatchObject({ kind: 'finished', status: 'succeeded' });
    // The simulated cloud takes 4 s per power transition on the virtual clock: the duration is the fence's own.
    expect(finished?.kind === 'finished' && finished.durationMs).toBeGreaterThanOrEqual(8_000);
  });

  it('should hear a refusal as a decision, with its reason', async () => {
    // Prepare
    const world = createWorld();

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]));

    // Assess
    expect(world.events).toEqual([
      expect.objectContaining({ kind: 'decided', node: 'worker-2', outcome: 'refused', reason: 'NodeReady' }),
    ]);
  });

  it('should hear a fence that failed for good as finished, failed, and waiting for an operator', async () => {
    // Prepare
    const world = createWorld({ driverOptions: cloudRefusesAfterStart() });

    // Act
    await fenceWorker1(world);

    // Assess
    expect(kinds(world.events)).toEqual([
      'started',
      'decided',
      'phase:Mark',
      'finished',
      'waiting-for-operator',
    ]);
    expect(world.events[3]).toMatchObject({ kind: 'finished', status: 'failed' });
    expect(world.events[4]).toMatchObject({ node: 'worker-1', reason: 'NeedsOperator' });
    expect((await world.service.journal('worker-1'))?.waiting).toMatchObject({ reason: 'NeedsOperator' });
  });

  it('should tell why a fence failed for good: the phase, the reason and the message', async () => {
    // Prepare
    const world = createWorld({ driverOptions: cloudRefusesAfterStart() });

    // Act
    await fenceWorker1(world);

    // Assess
    const finished = world.events.find((event) => event.kind === 'finished');
    expect(finished).toMatchObject({
      status: 'failed',
      why: {
        phase: 'PowerOff',
        reason: 'NeedsOperator',
        message: expect.stringContaining('UnauthorizedOperation: ec2:DescribeInstances'),
      },
    });
  });

  it('should tell why a fence was aborted before power-off when the node came back', async () => {
    // Prepare: the alert is accepted, then the kubelet is back before the power-off.
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.kube.putNode(makeNode({ name: 'worker-1', ready: true }, world.clock.now()));
    world.kube.putLease('kube-node-lease', kubeletLease('worker-1', world.clock.now()));

    // Act
    await world.drain();

    // Assess
    const finished = world.events.find((event) => event.kind === 'finished');
    expect(finished).toMatchObject({
      status: 'aborted',
      why: { phase: 'Mark', reason: 'NodeReady', message: expect.stringContaining('Ready') },
    });
  });

  it('should tell why a fence was aborted at its power-off when the kubelet came back while it ran', async () => {
    // Prepare: the kubelet renews its Lease right after the fence marked the node, before the power-off looks.
    const world = createWorld();
    let marked = false;
    world.kube.beforeCall = (call) => {
      if (call.method === 'addTaint' && call.target.includes('alertfence.io/fencing')) marked = true;
      else if (marked && call.method === 'getLease' && call.target.includes('worker-1')) {
        marked = false;
        world.kube.putLease('kube-node-lease', kubeletLease('worker-1', world.clock.now()));
      }
    };

    // Act
    await fenceWorker1(world);

    // Assess
    const finished = world.events.find((event) => event.kind === 'finished');
    expect(finished).toMatchObject({
      status: 'aborted',
      why: { phase: 'PowerOff', reason: 'KubeletLeaseFresh', message: expect.any(String) },
    });
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toEqual([]);
  });

  it('should tell why a fence was aborted on resume when the autoscaler took the node meanwhile', async () => {
    // Prepare: a fence starts, its continuation is lost, the cluster autoscaler starts removing the node.
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.continuation.handoffs.length = 0;
    const node = structuredClone(world.kube.nodes.get('worker-1')) as Node;
    node.spec = {
      ...node.spec,
      taints: [...(node.spec?.taints ?? []), { key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }],
    };
    world.kube.putNode(node);
    world.clock.advance(world.config.lockDurationMs + 1_000);

    // Act
    await fenceWorker1(world);

    // Assess
    const finished = world.events.find((event) => event.kind === 'finished');
    expect(finished).toMatchObject({
      status: 'aborted',
      why: {
        phase: 'Mark',
        reason: 'PlannedRemoval',
        message: expect.stringContaining('ToBeDeletedByClusterAutoscaler'),
      },
    });
  });

  it('should announce a stale fence once, however many ticks find it', async () => {
    // Prepare: a fence stops before power-off (the cloud refuses reads a retry may overcome), and is forgotten
    // for longer than ALERTFENCE_RESUME_WITHIN.
    let reads = 0;
    const world = createWorld({
      driverOptions: {
        onCall: (call) => {
          if (call.method === 'describe' && ++reads > 1)
            throw new DriverError('throttled', { retryable: true });
        },
      },
    });
    await fenceWorker1(world);
    world.continuation.handoffs.length = 0;
    world.clock.advance(world.config.resumeWithinMs + 60_000);
    world.events.length = 0;

    // Act
    const first = await world.service.tick({ requestId: 'tick-1', deadline: world.clock.now() + 60_000 });
    const second = await world.service.tick({ requestId: 'tick-2', deadline: world.clock.now() + 60_000 });

    // Assess
    expect(first.answer).toEqual([expect.objectContaining({ reason: 'StaleFence' })]);
    expect(second.answer).toEqual([expect.objectContaining({ reason: 'StaleFence' })]);
    const waits = world.events.filter((event) => event.kind === 'waiting-for-operator');
    expect(waits).toEqual([expect.objectContaining({ node: 'worker-1', reason: 'StaleFence' })]);
    expect((await world.service.journal('worker-1'))?.waiting?.reason).toBe('StaleFence');
  });

  it('should clear the wait when an operator resumes the fence by hand', async () => {
    // Prepare
    const outage = cloudRefusesAfterStart();
    let down = true;
    const world = createWorld({
      driverOptions: { onCall: (call) => (down ? outage.onCall(call) : undefined) },
    });
    await fenceWorker1(world);
    down = false;

    // Act
    await world.post('/v1/nodes/worker-1/fence', { reason: 'checked the machine' });
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.waiting).toBeUndefined();
  });

  it('should fence on when an observer throws', async () => {
    // Prepare
    const world = createWorld({
      observer: {
        notice: () => {
          throw new Error('metrics backend down');
        },
      },
    });

    // Act
    await fenceWorker1(world);

    // Assess: the fence finished, and the other observer heard all of it.
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(world.events.at(-1)).toMatchObject({ kind: 'finished', status: 'succeeded' });
  });
});
