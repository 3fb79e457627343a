/**
 * The storm guard's arithmetic, per failure domain and cluster-wide, and what one request reads of the cluster
 * however many nodes it names.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../functions/config.js';
import type { NodeResult } from '../../../functions/fence/api.js';
import { stormRefusal, summarizeCluster } from '../../../functions/fence/storm-guard.js';
import type { Node } from '../../../functions/kube/objects.js';
import { alertPayload, createWorld, makeNode, type NodeSpec } from '../../support/world.js';

const NOW = Date.parse('2026-11-22T10:00:00Z');
const ZONE = 'topology.kubernetes.io/zone';
const REGION = 'topology.kubernetes.io/region';

/** `healthy` Ready and `dead` not Ready nodes in a zone (or none), all in region r1 when a zone is given. */
function zone(name: string | undefined, healthy: number, dead: number): Node[] {
  const labels: Record<string, string> = name ? { [ZONE]: name, [REGION]: 'r1' } : {};
  return [
    ...Array.from({ length: healthy }, (_, i) =>
      makeNode({ name: `${name ?? 'nozone'}-ok-${i}`, labels }, NOW),
    ),
    ...Array.from({ length: dead }, (_, i) =>
      makeNode({ name: `${name ?? 'nozone'}-dead-${i}`, ready: false, labels }, NOW),
    ),
  ];
}

function guard(nodes: Node[], env: Record<string, string> = {}, target?: Node) {
  const config = loadConfig({ ALERTFENCE_TOKENS: 'storm-token-0123456789abcdef', ...env });
  return stormRefusal(
    summarizeCluster(nodes, config),
    config,
    target ?? nodes.find((n) => n.metadata?.name?.includes('dead')),
  );
}

describe('the storm guard per failure domain', () => {
  it('should refuse a node of a zone where most nodes died, naming the zone and the numbers', () => {
    // Prepare: three zones of 10; one zone is dark (an outage), the cluster as a whole is under 40%.
    const nodes = [...zone('a', 0, 10), ...zone('b', 10, 0), ...zone('c', 10, 0)];

    // Act
    const refusal = guard(nodes, { ALERTFENCE_MAX_UNHEALTHY: '40%' });

    // Assess
    expect(refusal).toMatchObject({ outcome: 'refused', reason: 'FailureDomainStormGuard' });
    expect(refusal?.message).toContain('zone a: 10 of 10 nodes in scope are unhealthy');
    expect(refusal?.message).toContain('ALERTFENCE_MAX_UNHEALTHY_PER_ZONE (30%)');
  });

  it.each([
    // [healthy, dead, limit, refused]: 30% of 10 allows 3; of 9 allows 2 (rounded down); of 3 allows 0, raised to 1.
    [7, 3, '30%', false],
    [6, 4, '30%', true],
    [7, 2, '30%', false],
    [6, 3, '30%', true],
    [2, 1, '30%', false],
    [1, 2, '30%', true],
    [8, 2, '2', false],
    [7, 3, '2', true],
  ])(
    'with %i healthy and %i dead in the zone and a limit of %s, should refuse: %s',
    (healthy, dead, limit, refused) => {
      // Prepare: a large healthy zone elsewhere keeps the cluster-wide guard out of it.
      const nodes = [...zone('a', healthy, dead), ...zone('b', 100, 0)];

      // Act
      const refusal = guard(nodes, { ALERTFENCE_MAX_UNHEALTHY_PER_ZONE: limit });

      // Assess
      expect(refusal?.reason === 'FailureDomainStormGuard').toBe(refused);
    },
  );

  it('should always allow one dead node in a domain, however small', () => {
    // Prepare: zones of two nodes (30% of 2 is 0).
    const nodes = [...zone('a', 1, 1), ...zone('b', 2, 0), ...zone('c', 2, 0)];

    // Act
    const refusal = guard(nodes);

    // Assess
    expect(refusal).toBeUndefined();
  });

  it('should leave nodes without a zone label to the cluster-wide guard alone', () => {
    // Prepare: 4 of 10 unlabelled nodes dead: over a per-zone 30%, under a cluster-wide 50%.
    const nodes = zone(undefined, 6, 4);

    // Act
    const refusal = guard(nodes, { ALERTFENCE_MAX_UNHEALTHY: '50%' });

    // Assess
    expect(refusal).toBeUndefined();
  });

  it('should apply the zone guard to the whole cluster when it is a single zone', () => {
    // Prepare: one zone, 4 of 10 dead.
    const nodes = zone('a', 6, 4);

    // Act
    const refusal = guard(nodes, { ALERTFENCE_MAX_UNHEALTHY: '50%' });

    // Assess
    expect(refusal?.reason).toBe('FailureDomainStormGuard');
  });

  it('should group by region too', () => {
    // Prepare: two regions; every node of r2 (spread over two zones of its own) is dead.
    const r2 = (name: string) => ({ [ZONE]: name, [REGION]: 'r2' });
    const nodes = [
      ...zone('a', 20, 0),
      ...Array.from({ length: 4 }, (_, i) =>
        makeNode({ name: `r2-${i}`, ready: false, labels: r2(`z${i % 2}`) }, NOW),
      ),
    ];

    // Act
    const refusal = guard(nodes, { ALERTFENCE_MAX_UNHEALTHY_PER_ZONE: '60%' }, nodes.at(-1));

    // Assess: each zone of r2 has 2 of 2 dead (over 60%: allowed 1), and so has the region.
    expect(refusal?.message).toMatch(/^(zone|region) /);
  });

  it('should count only nodes in scope, per domain too', () => {
    // Prepare: zone a has 3 dead of 10 in scope and 10 more healthy nodes outside the selector.
    const inScope = zone('a', 7, 3).map((node) => ({
      ...node,
      metadata: { ...node.metadata, labels: { ...node.metadata?.labels, pool: 'db' } },
    }));
    const nodes = [
      ...inScope,
      ...zone('a', 10, 0).map((n) => ({
        ...n,
        metadata: { ...n.metadata, name: `web-${n.metadata?.name}` },
      })),
    ];

    // Act
    const refusal = guard(
      nodes,
      {
        ALERTFENCE_NODE_SELECTOR: 'pool=db',
        ALERTFENCE_MAX_UNHEALTHY_PER_ZONE: '20%',
        ALERTFENCE_MAX_UNHEALTHY: '50%',
      },
      inScope.at(-1),
    );

    // Assess: 3 of 10 in scope is over 20% (2); 3 of 20 nodes would not have been.
    expect(refusal?.message).toContain('3 of 10 nodes in scope');
  });
});

describe('the storm guard cluster-wide', () => {
  it('should allow one dead node of a small cluster under the default limit', () => {
    // Prepare: the smallest HA cluster, three unlabelled workers, one dead: 30% of 3 rounds down to 0.
    const nodes = zone(undefined, 2, 1);

    // Act
    const refusal = guard(nodes);

    // Assess: one dead machine is what fencing is for, however small the cluster.
    expect(refusal).toBeUndefined();
  });

  it('should still refuse a second dead node of that cluster', () => {
    // Prepare
    const nodes = zone(undefined, 1, 2);

    // Act
    const refusal = guard(nodes);

    // Assess
    expect(refusal).toMatchObject({ outcome: 'refused', reason: 'StormGuard' });
    expect(refusal?.message).toContain('2 of 3 nodes in scope are unhealthy');
  });
});

describe('one look at the cluster per request', () => {
  it('should refuse a grouped alert of a dark zone from one list of Nodes and one of journals', async () => {
    // Prepare: zone a is dark (60 nodes: more than a grouped alert reads one by one), zones b and c healthy.
    const spec = (name: string, z: string, ready: boolean): NodeSpec => ({
      name,
      ready,
      labels: { [ZONE]: z },
    });
    const nodes = [
      ...Array.from({ length: 60 }, (_, i) => spec(`a-${i}`, 'a', false)),
      ...Array.from({ length: 30 }, (_, i) => spec(`b-${i}`, 'b', true)),
      ...Array.from({ length: 30 }, (_, i) => spec(`c-${i}`, 'c', true)),
    ];
    const world = createWorld({ nodes, env: { ALERTFENCE_MAX_UNHEALTHY: '40%' } });

    // Act
    const response = await world.post(
      '/v1/alerts',
      alertPayload(nodes.slice(0, 60).map((n) => ({ node: n.name }))),
    );
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess: every node refused for its zone, after two reads in all.
    expect(body.results).toHaveLength(60);
    expect(body.results.every((result) => result.reason === 'FailureDomainStormGuard')).toBe(true);
    expect(world.kube.calls.map((call) => call.method).sort()).toEqual(['listLeases', 'listNodes']);
    expect(world.driver.calls).toEqual([]);
  });
});
