/**
 * Nodes that are going away on purpose are not failures: a node an autoscaler or Karpenter removes is left
 * alone, and a machine the cloud already shows terminated is released without a power-off.
 */
import { describe, expect, it } from 'vitest';
import type { NodeResult } from '../../../functions/fence/api.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import type { Node } from '../../../functions/kube/objects.js';
import { alertPayload, createWorld, type World } from '../../support/world.js';

type Results = { results: NodeResult[] };

const alertWorker1 = async (world: World) =>
  (await (await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))).json()) as Results;

function taint(world: World, key: string) {
  const node = structuredClone(world.kube.nodes.get('worker-1')) as Node;
  node.spec = { ...node.spec, taints: [...(node.spec?.taints ?? []), { key, effect: 'NoSchedule' }] };
  world.kube.putNode(node);
}

describe('planned removals', () => {
  it.each(KUBE_NAMES.plannedRemovalTaints)(
    'should refuse a node tainted %s, and power nothing off',
    async (key) => {
      // Prepare
      const world = createWorld();
      taint(world, key);

      // Act
      const body = await alertWorker1(world);
      await world.drain();

      // Assess
      expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'PlannedRemoval' });
      expect(body.results[0]?.message).toContain(key);
      expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toEqual([]);
    },
  );

  it('should end a fence before its power-off when the autoscaler starts removing the node meanwhile', async () => {
    // Prepare: a fence starts; its continuation is lost; the cluster autoscaler then takes the node.
    const world = createWorld();
    await alertWorker1(world);
    world.continuation.handoffs.length = 0;
    taint(world, 'ToBeDeletedByClusterAutoscaler');
    world.clock.advance(world.config.lockDurationMs + 1_000);

    // Act
    const repeat = await alertWorker1(world);
    await world.drain();

    // Assess
    expect(repeat.results[0]).toMatchObject({ outcome: 'refused', reason: 'PlannedRemoval' });
    expect((await world.service.journal('worker-1'))?.status).toBe('aborted');
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toEqual([]);
  });

  it('should not count nodes being removed in the storm guard', async () => {
    // Prepare: of four nodes, two NotReady; one of them is being removed by Karpenter. 50% would trip it.
    const world = createWorld({
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3' },
        { name: 'worker-4' },
      ],
      env: { ALERTFENCE_MAX_UNHEALTHY: '1' },
    });
    const node = structuredClone(world.kube.nodes.get('worker-2')) as Node;
    node.spec = { ...node.spec, taints: [{ key: 'karpenter.sh/disrupted', effect: 'NoSchedule' }] };
    world.kube.putNode(node);

    // Act
    const body = await alertWorker1(world);

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'accepted' });
  });
});

describe('a machine the cloud shows terminated', () => {
  it('should be released without a power-off: taint, pods, attachments, Node; nothing powered on', async () => {
    // Prepare
    const world = createWorld();
    const machine = world.driver.instances.get('i-worker-1');
    if (!machine) throw new Error('no machine');
    machine.state = 'terminated';

    // Act
    const body = await alertWorker1(world);
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(body.results[0]).toMatchObject({ outcome: 'accepted' });
    expect(journal?.status).toBe('succeeded');
    expect(journal?.instanceEnded).toMatchObject({ cloudState: 'terminated' });
    const powerCalls = world.driver.calls.filter((call) => ['powerOff', 'powerOn'].includes(call.method));
    expect(powerCalls).toEqual([]);
    expect(world.kube.nodes.has('worker-1')).toBe(false);
    expect(world.kube.pods.filter((pod) => pod.spec?.nodeName === 'worker-1')).toEqual([]);
  });

  it('should plan it, in a dry run, as released without a power-off', async () => {
    // Prepare
    const world = createWorld();
    const machine = world.driver.instances.get('i-worker-1');
    if (!machine) throw new Error('no machine');
    machine.state = 'terminated';

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { dryRun: true });
    const body = (await response.json()) as NodeResult;

    // Assess
    expect(body.outcome).toBe('planned');
    const powerOff = body.plan?.find((step) => step.phase === 'PowerOff');
    expect(powerOff?.action).toMatch(/terminated/);
    expect(world.kube.mutations()).toEqual([]);
  });
});
