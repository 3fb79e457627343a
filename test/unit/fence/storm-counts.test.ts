/**
 * What one alert reads of a large cluster: a Ready node's alert only its own Node, a dead node's counts from a
 * table of names and readiness when that settles the storm guard, the full list of Nodes when it does not. The
 * decision is the same either way: the table path and the list path are compared on random clusters with
 * every scope rule (selector, exclusion labels, control plane, planned-removal taints). A process that follows
 * the Nodes counts from what it holds, and that path is compared too.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../../functions/config.js';
import type { NodeResult } from '../../../functions/fence/api.js';
import type { FenceContext } from '../../../functions/fence/context.js';
import { clusterRefusal } from '../../../functions/fence/guards.js';
import { readCounts } from '../../../functions/fence/snapshot.js';
import {
  countHealthRows,
  scopeSelector,
  stormRefusal,
  summarizeCluster,
} from '../../../functions/fence/storm-guard.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import { matchesSelector, readiness } from '../../../functions/kube/node-facts.js';
import { guardFacts } from '../../../functions/kube/node-view.js';
import type { Node } from '../../../functions/kube/objects.js';
import { KubeError } from '../../../functions/kube/port.js';
import { FakeKube } from '../../fakes/kube.js';
import { wireFence } from '../../support/fence-wiring.js';
import { alertPayload, createWorld, makeNode, type NodeSpec } from '../../support/world.js';

const NOW = Date.parse('2026-11-22T10:00:00Z');
const ZONE = KUBE_NAMES.zoneLabel;
const REGION = KUBE_NAMES.regionLabel;

const methods = (world: ReturnType<typeof createWorld>) => world.kube.calls.map((call) => call.method);

/** The Nodes of a cluster as `listNodeHealth` gives them for a selector (the fake's own rule). */
const tableOf = (nodes: Node[], selector: string) =>
  nodes
    .filter((node) => matchesSelector(node.metadata?.labels, selector))
    .map((node) => ({ name: node.metadata?.name ?? '', ready: readiness(node).status === 'True' }));

describe('a Ready node’s alert', () => {
  it('should be answered from its own Node, with no count of the cluster', async () => {
    // Prepare: 60 nodes, one of them dead; the alert is about a Ready one.
    const nodes: NodeSpec[] = [
      ...Array.from({ length: 59 }, (_, i) => ({ name: `w-${i}` })),
      { name: 'dead-0', ready: false },
    ];
    const world = createWorld({ nodes });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'w-3' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess: refused as Ready (invariant 2) after reading the Node and the journals, nothing else.
    expect(body.results).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'NodeReady' })]);
    expect(methods(world).sort()).toEqual(['getNode', 'listLeases']);
  });

  it('should be refused as Ready even in a zone the storm guard would refuse', async () => {
    // Prepare: zone a is dark but for one Ready node.
    const nodes: NodeSpec[] = [
      ...Array.from({ length: 9 }, (_, i) => ({ name: `a-${i}`, ready: false, labels: { [ZONE]: 'a' } })),
      { name: 'a-ok', labels: { [ZONE]: 'a' } },
      ...Array.from({ length: 10 }, (_, i) => ({ name: `b-${i}`, labels: { [ZONE]: 'b' } })),
    ];
    const world = createWorld({ nodes });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'a-ok' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess: the node is live, which is the answer that matters; no fence either way.
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'NodeReady' });
    expect(world.driver.calls).toEqual([]);
  });
});

describe('a dead node’s counts', () => {
  it('should come from a table of the cluster when its node is the only unhealthy one', async () => {
    // Prepare
    const nodes: NodeSpec[] = [
      ...Array.from({ length: 59 }, (_, i) => ({ name: `w-${i}` })),
      { name: 'dead-0', ready: false },
    ];
    const world = createWorld({ nodes, env: { ALERTFENCE_DRY_RUN: 'true' } });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'dead-0' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess: planned, from the Node, its Leases, the journals and one table: no list of Nodes.
    expect(body.results[0]).toMatchObject({ outcome: 'planned' });
    expect(methods(world)).toContain('listNodeHealth');
    expect(methods(world)).not.toContain('listNodes');
  });

  it('should come from the full list when the table shows more than one unhealthy node', async () => {
    // Prepare: two dead nodes; a table cannot tell a node an autoscaler is removing from the others.
    const nodes: NodeSpec[] = [
      ...Array.from({ length: 58 }, (_, i) => ({ name: `w-${i}` })),
      { name: 'dead-0', ready: false },
      { name: 'dead-1', ready: false },
    ];
    const world = createWorld({ nodes, env: { ALERTFENCE_DRY_RUN: 'true' } });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'dead-0' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'planned' });
    expect(methods(world).filter((method) => method === 'listNodes')).toHaveLength(1);
  });

  it('should fail closed when the table cannot be read', async () => {
    // Prepare: a dead node; the API server refuses to print a Node table.
    const world = createWorld({ nodes: [{ name: 'w-0' }, { name: 'dead-0', ready: false }] });
    world.kube.beforeCall = (call) => {
      if (call.method === 'listNodeHealth') throw new KubeError('no Name or Status column');
    };

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'dead-0' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess: no decision, nothing done, never "0 unhealthy".
    expect(body.results[0]).toMatchObject({ outcome: 'failed' });
    expect(world.kube.mutations()).toEqual([]);
    expect(world.driver.calls).toEqual([]);
  });

  it('should count the named node as unhealthy when the watch cache still has it Ready', () => {
    // Prepare: the table is a moment behind: it shows every node Ready; another node is dead by the table.
    const config = loadConfig({ ALERTFENCE_TOKENS: 'storm-token-0123456789abcdef' });
    const named = makeNode({ name: 'dead-0', ready: false }, NOW);
    const rows = [
      { name: 'dead-0', ready: true },
      { name: 'dead-1', ready: false },
      { name: 'w-0', ready: true },
    ];

    // Act
    const counted = countHealthRows(rows, [named], config);

    // Assess: two unhealthy, which a table cannot settle: the list decides.
    expect(counted).toBeUndefined();
  });

  it('should not trust a table that lacks the named node', () => {
    // Prepare: the table has no row for the node the alert is about (the cache is behind its creation).
    const config = loadConfig({ ALERTFENCE_TOKENS: 'storm-token-0123456789abcdef' });
    const named = makeNode({ name: 'dead-0', ready: false }, NOW);

    // Act
    const counted = countHealthRows([{ name: 'w-0', ready: false }], [named], config);

    // Assess: it and the row are two unhealthy nodes: the list decides.
    expect(counted).toBeUndefined();
  });
});

describe('a dead node’s counts in a process that follows the Nodes', () => {
  it('should come from the followed Nodes, with no table and no list, even with several unhealthy', async () => {
    // Prepare: two dead nodes, which a table alone cannot settle.
    const nodes: NodeSpec[] = [
      ...Array.from({ length: 58 }, (_, i) => ({ name: `w-${i}` })),
      { name: 'dead-0', ready: false },
      { name: 'dead-1', ready: false },
    ];
    const world = createWorld({ nodes, env: { ALERTFENCE_DRY_RUN: 'true' }, followsNodes: true });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'dead-0' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'planned' });
    expect(methods(world)).not.toContain('listNodeHealth');
    expect(methods(world)).not.toContain('listNodes');
  });

  it('should read the table when the view cannot vouch for what it holds', async () => {
    // Prepare: the watch is down (the view answers nothing).
    const nodes: NodeSpec[] = [{ name: 'w-0' }, { name: 'dead-0', ready: false }];
    const world = createWorld({
      nodes,
      env: { ALERTFENCE_DRY_RUN: 'true' },
      nodeView: { current: () => undefined },
    });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'dead-0' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'planned' });
    expect(methods(world)).toContain('listNodeHealth');
  });

  it('should count the named node as its own read says, whatever the view still holds', async () => {
    // Prepare: three nodes, one dead by the view; the alerted node is dead by its own read but Ready in a
    // view a moment behind. Two of three unhealthy is over a 50 % limit.
    const nodes: NodeSpec[] = [
      { name: 'w-0' },
      { name: 'dead-0', ready: false },
      { name: 'dead-1', ready: false },
    ];
    const world = createWorld({ nodes, env: { ALERTFENCE_MAX_UNHEALTHY: '40%' } });
    const behind = [...world.kube.nodes.values()].map((node) =>
      node.metadata?.name === 'dead-0' ? makeNode({ name: 'dead-0' }, NOW) : node,
    );
    const { service } = wireFence({
      kube: world.kube,
      drivers: [world.driver],
      env: { ALERTFENCE_MAX_UNHEALTHY: '40%' },
      nodeView: { current: () => behind.map(guardFacts) },
    });

    // Act
    const answer = await service.request(
      [{ node: 'dead-0', trigger: { kind: 'alert', reason: 'KubeNodeNotReady', force: false } }],
      { requestId: 'behind', deadline: Date.now() + 10_000, dryRun: true },
    );

    // Assess: 2 of 3 unhealthy, refused by the storm guard; nothing done.
    expect(answer.answer[0]).toMatchObject({ outcome: 'refused', reason: 'StormGuard' });
    expect(world.driver.calls).toEqual([]);
  });
});

describe('the counts a process keeps between alerts', () => {
  it('should be made again when the Nodes it follows changed, and kept while they did not', async () => {
    // Prepare: four nodes followed, one dead; the alert is about the dead one.
    const config = loadConfig({
      ALERTFENCE_TOKENS: 'storm-token-0123456789abcdef',
      ALERTFENCE_MAX_UNHEALTHY: '1',
    });
    const nodes = [
      makeNode({ name: 'w-0' }, NOW),
      makeNode({ name: 'w-1' }, NOW),
      makeNode({ name: 'w-2' }, NOW),
      makeNode({ name: 'dead-0', ready: false }, NOW),
    ];
    let version = 1;
    const held = nodes.map(guardFacts);
    const context = {
      config,
      kube: {},
      nodeView: { current: () => [...held], version: () => version },
    } as unknown as FenceContext;
    const named = nodes[3] as Node;

    // Act: counted; then another node dies and the view says so (a new version); then the same version again.
    const first = await readCounts(context, [named], {});
    held[0] = guardFacts(makeNode({ name: 'w-0', ready: false }, NOW));
    const sameVersion = await readCounts(context, [named], {});
    version = 2;
    const changed = await readCounts(context, [named], {});

    // Assess: counts kept within a version (the view vouches that nothing changed), made again after.
    expect(first.health.cluster).toEqual({ inScope: 4, unhealthy: 1 });
    expect(sameVersion.health.cluster).toEqual({ inScope: 4, unhealthy: 1 });
    expect(changed.health.cluster).toEqual({ inScope: 4, unhealthy: 2 });
    expect(stormRefusal(changed, config, named)).toMatchObject({ reason: 'StormGuard' });
  });
});

/** An API server whose journal list answers only once the node's Leases were asked for (or after a while). */
class SlowJournalsKube extends FakeKube {
  leaseReadsBeforeJournals = -1;
  override async listLeases(namespace: string, labelSelector?: string) {
    for (let turn = 0; turn < 50 && this.leaseReads() < 2; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.leaseReadsBeforeJournals = this.leaseReads();
    return super.listLeases(namespace, labelSelector);
  }
  private leaseReads() {
    return this.calls.filter((call) => call.method === 'getLease').length;
  }
}

describe('a dead node’s own Leases', () => {
  it('should be read while the journals are listed when the alert names that one node', async () => {
    // Prepare
    const kube = new SlowJournalsKube();
    const world = createWorld({ kube, env: { ALERTFENCE_DRY_RUN: 'true' } });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess: both Leases asked for before the journals answered; each read once.
    expect(body.results[0]).toMatchObject({ outcome: 'planned' });
    expect(kube.leaseReadsBeforeJournals).toBe(2);
    expect(methods(world).filter((method) => method === 'getLease')).toHaveLength(2);
  });

  it('should not be read for a Ready node, nor ahead of the cheap guards for a grouped alert', async () => {
    // Prepare
    const kube = new SlowJournalsKube();
    const world = createWorld({ kube, env: { ALERTFENCE_DRY_RUN: 'true' } });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]));
    const ready = methods(world).filter((method) => method === 'getLease').length;
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }, { node: 'worker-2' }]));

    // Assess
    expect(ready).toBe(0);
    expect(kube.leaseReadsBeforeJournals).toBe(0);
  });
});

describe('a grouped alert', () => {
  it('should read each named Node when it names 50 or fewer', async () => {
    // Prepare
    const nodes: NodeSpec[] = Array.from({ length: 80 }, (_, i) => ({ name: `w-${i}` }));
    const world = createWorld({ nodes });

    // Act
    await world.post('/v1/alerts', alertPayload(nodes.slice(0, 50).map((n) => ({ node: n.name }))));

    // Assess: 50 Ready nodes, 50 GETs and the journals.
    expect(methods(world).filter((method) => method === 'getNode')).toHaveLength(50);
    expect(methods(world)).not.toContain('listNodes');
  });

  it('should read every Node with one list when it names more than 50', async () => {
    // Prepare
    const nodes: NodeSpec[] = Array.from({ length: 80 }, (_, i) => ({ name: `w-${i}` }));
    const world = createWorld({ nodes });

    // Act
    await world.post('/v1/alerts', alertPayload(nodes.slice(0, 51).map((n) => ({ node: n.name }))));

    // Assess
    expect(methods(world).sort()).toEqual(['listLeases', 'listNodes']);
  });
});

/** A node of a random cluster: its zone, readiness and every label or taint a scope rule reads. */
const nodeArbitrary = fc.record({
  zone: fc.constantFrom('a', 'b', 'c', undefined),
  region: fc.constantFrom('r1', 'r2', undefined),
  ready: fc.boolean(),
  pool: fc.constantFrom('db', 'web', undefined),
  excluded: fc.boolean(),
  medik8sExcluded: fc.boolean(),
  controlPlane: fc.constantFrom(undefined, ...KUBE_NAMES.controlPlaneLabels),
  removal: fc.constantFrom(undefined, ...KUBE_NAMES.plannedRemovalTaints),
});

type NodeChoice = typeof nodeArbitrary extends fc.Arbitrary<infer T> ? T : never;

function buildNode(spec: NodeChoice, index: number, excludeLabel: string): Node {
  const labels: Record<string, string> = {
    ...(spec.zone ? { [ZONE]: spec.zone } : {}),
    ...(spec.region ? { [REGION]: spec.region } : {}),
    ...(spec.pool ? { pool: spec.pool } : {}),
    ...(spec.excluded ? { [excludeLabel]: 'true' } : {}),
    ...(spec.medik8sExcluded ? { [KUBE_NAMES.medik8sExcludeLabel]: '' } : {}),
    ...(spec.controlPlane ? { [spec.controlPlane]: '' } : {}),
  };
  const node = makeNode({ name: `n-${index}`, ready: spec.ready, labels }, NOW);
  if (spec.removal) node.spec = { ...node.spec, taints: [{ key: spec.removal, effect: 'NoSchedule' }] };
  return node;
}

/**
 * What `readCounts` needs of a process that follows `followed` at one version (its counts are kept between
 * alerts); a table or list read would throw.
 */
const viewContext = (config: Config, followed: Node[]) =>
  ({ config, nodeView: { current: () => followed, version: () => 7 }, kube: {} }) as unknown as FenceContext;

describe('the table path, the view path and the list path', () => {
  it('should give the same decision for the same cluster, whatever is out of scope', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(nodeArbitrary, { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.record({
          selector: fc.constantFrom(undefined, 'pool=db', 'pool!=web'),
          controlPlane: fc.boolean(),
          maxUnhealthy: fc.constantFrom('40%', '2', '10%'),
          perZone: fc.constantFrom('30%', '1', '60%'),
        }),
        async (specs, pick, settings) => {
          // Prepare
          const config = loadConfig({
            ALERTFENCE_TOKENS: 'storm-token-0123456789abcdef',
            ALERTFENCE_MAX_UNHEALTHY: settings.maxUnhealthy,
            ALERTFENCE_MAX_UNHEALTHY_PER_ZONE: settings.perZone,
            ALERTFENCE_ALLOW_CONTROL_PLANE: String(settings.controlPlane),
            ...(settings.selector ? { ALERTFENCE_NODE_SELECTOR: settings.selector } : {}),
          });
          const nodes = specs.map((spec, i) => buildNode(spec, i, config.excludeLabel));
          const named = nodes[pick % nodes.length] as Node;
          const journal = { kind: 'none', lease: undefined } as const;

          // Act: the list path as it was; the table path falling back to the list when it must.
          const byList = clusterRefusal(
            { node: named, journal },
            summarizeCluster(nodes, config),
            config,
            NOW,
          );
          const counted =
            countHealthRows(tableOf(nodes, scopeSelector(config)), [named], config) ??
            summarizeCluster(nodes, config);
          const byTable = clusterRefusal({ node: named, journal }, counted, config, NOW);
          const followed = nodes
            .filter((node) => matchesSelector(node.metadata?.labels, scopeSelector(config)))
            .map(guardFacts);
          const context = viewContext(config, followed);
          const other = nodes[(pick + 1) % nodes.length] as Node;
          await readCounts(context, [other], {});
          // The second alert of the same version recounts only its node, from the counts the first one kept.
          const byView = clusterRefusal(
            { node: named, journal },
            await readCounts(context, [named], {}),
            config,
            NOW,
          );

          // Assess
          expect(byTable).toEqual(byList);
          expect(byView).toEqual(byList);
          if (counted.health.cluster.unhealthy <= 1)
            expect(stormRefusal(counted, config, named)).toBeUndefined();
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
