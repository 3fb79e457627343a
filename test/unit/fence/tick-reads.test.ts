/**
 * What the scheduled tick reads of the cluster. Detection must see every Node's readiness: a process that
 * follows the Nodes sees it in what it holds and reads again, consistently, only the Nodes that show down long
 * enough; with detection off the tick reads only its fences' Nodes. Every Node the tick decides about is its own
 * consistent read, as an alert's is, whatever the view holds.
 */
import { describe, expect, it } from 'vitest';
import { guardFacts } from '../../../functions/kube/node-view.js';
import { CrashingKube } from '../../fakes/crashing-kube.js';
import { createWorld, loseFenceAfter, makeNode, type NodeSpec, type World } from '../../support/world.js';

/** A world whose service follows its own Nodes, over an API server whose process can crash. */
const followingWorld = (nodes: NodeSpec[], env: Record<string, string> = {}, kube = new CrashingKube()) =>
  createWorld({ kube, nodes, env, followsNodes: true });

async function tickAndDrain(world: World) {
  world.kube.calls.length = 0;
  const answer = await world.service.tick({ requestId: 'tick', deadline: world.clock.now() + 60_000 });
  const reads = [...world.kube.calls];
  await world.continuation.continue(answer.handoffs);
  await world.drain();
  return { answer: answer.answer, reads };
}

const cluster: NodeSpec[] = [
  { name: 'worker-1', ready: false, downFor: 3_600_000 },
  ...Array.from({ length: 59 }, (_, i) => ({ name: `healthy-${i}` })),
];

describe('what the scheduled tick reads', () => {
  it('should read no list of Nodes when the process follows them: only the Node shown down long enough, again', async () => {
    // Prepare: 60 nodes, worker-1 NotReady for an hour, no alert ever came.
    const world = followingWorld(cluster);

    // Act
    const { answer, reads } = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([expect.objectContaining({ node: 'worker-1', outcome: 'accepted' })]);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    const tickMethods = reads.map((call) => call.method);
    expect(tickMethods).not.toContain('listNodes');
    expect(tickMethods).not.toContain('listNodeHealth');
    expect(reads.filter((call) => call.method === 'getNode').map((call) => call.target)).toEqual([
      'worker-1',
    ]);
  });

  it('should not fence a node the view shows down for an hour when its own read shows it Ready', async () => {
    // Prepare: the view is a moment behind: worker-1 came back, the view still holds it dead.
    const held: { nodes?: ReturnType<typeof makeNode>[] } = {};
    const world = createWorld({
      nodes: [{ name: 'worker-1' }, { name: 'worker-2' }, { name: 'worker-3' }],
      nodeView: { current: () => held.nodes?.map(guardFacts) },
    });
    const now = world.clock.now();
    held.nodes = [
      makeNode({ name: 'worker-1', ready: false, downFor: 3_600_000 }, now),
      makeNode({ name: 'worker-2' }, now),
      makeNode({ name: 'worker-3' }, now),
    ];

    // Act
    const { answer, reads } = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([]);
    expect(reads.filter((call) => call.method === 'getNode').map((call) => call.target)).toEqual([
      'worker-1',
    ]);
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toEqual([]);
  });

  it('should resume a fence whose continuation was lost, reading its Node, with the Nodes followed', async () => {
    // Prepare: worker-1's fence deleted its Node, then the process died; the view no longer holds worker-1.
    const kube = new CrashingKube();
    const world = followingWorld(cluster, {}, kube);
    await loseFenceAfter(world, kube, 'DeleteNode');
    expect((await world.service.journal('worker-1'))?.status).toBe('running');
    expect(world.kube.nodes.has('worker-1')).toBe(false);
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('stopped');

    // Act
    const { reads } = await tickAndDrain(world);

    // Assess: the fence finished (the machine is on again), its Node was asked for, no list was read.
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('running');
    expect(reads.map((call) => call.method)).not.toContain('listNodes');
    expect(reads.filter((call) => call.method === 'getNode').map((call) => call.target)).toContain(
      'worker-1',
    );
  });

  it('should read only its fences’ Nodes when detection is off, even in a process that follows no Node', async () => {
    // Prepare: a Lambda (no view), detection off; worker-1's fence is stopped before power-off with its Node
    // still there, its continuation lost.
    const kube = new CrashingKube();
    const world = createWorld({ kube, nodes: cluster, env: { ALERTFENCE_DETECT_AFTER: 'off' } });
    await loseFenceAfter(world, kube, 'Mark');
    expect((await world.service.journal('worker-1'))?.status).toBe('running');

    // Act
    const { reads } = await tickAndDrain(world);

    // Assess: resumed on its own Node's consistent read, fenced to the end.
    expect(reads.map((call) => call.method)).not.toContain('listNodes');
    expect(reads.filter((call) => call.method === 'getNode').map((call) => call.target)).toEqual([
      'worker-1',
    ]);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
  });

  it('should list every Node when the process cannot vouch for the ones it follows', async () => {
    // Prepare: the watch is down.
    const world = createWorld({ nodes: cluster, nodeView: { current: () => undefined } });

    // Act
    const { answer, reads } = await tickAndDrain(world);

    // Assess
    expect(answer).toEqual([expect.objectContaining({ node: 'worker-1', outcome: 'accepted' })]);
    expect(reads.map((call) => call.method)).toContain('listNodes');
  });

  it('should list every Node when more Nodes show down than an alert reads one by one', async () => {
    // Prepare: 60 of 200 Nodes down for an hour by the view (a zone): past the 50 read with GETs.
    const nodes: NodeSpec[] = Array.from({ length: 200 }, (_, i) =>
      i < 60 ? { name: `dead-${i}`, ready: false, downFor: 3_600_000 } : { name: `healthy-${i}` },
    );
    const world = followingWorld(nodes, { ALERTFENCE_DRY_RUN: 'true' });

    // Act
    const { reads } = await tickAndDrain(world);

    // Assess
    expect(reads.map((call) => call.method)).toContain('listNodes');
    expect(reads.map((call) => call.method)).not.toContain('getNode');
  });
});
