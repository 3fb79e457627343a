/**
 * `followNodes` on a real API server, as the alertfence ServiceAccount (whose ClusterRole grants `watch` on
 * Nodes for it): it follows what the API server says of the Nodes its selector selects, stops vouching while
 * the API server is away and catches up with what changed meanwhile, and a dead node's alert in a process that
 * follows the Nodes counts the cluster from it, with no read of every Node.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { followNodes, type NodeView } from '../../../functions/kube/node-view.js';
import { createNodeWatchClient } from '../../../functions/kube/node-watch-client.js';
import type { Node } from '../../../functions/kube/objects.js';
import type { KubePort } from '../../../functions/kube/port.js';
import { createLogger } from '../../../functions/log.js';
import { mergePatchOptions, putNode, useControlPlane } from './cluster.js';
import { createRealFence } from './fence.js';

/** Changes reach the view within this (a watch event, milliseconds normally; a loaded CI machine is slower). */
const FOLLOW_WITHIN_MS = 15_000;
const until = (what: string, check: () => boolean) =>
  vi.waitFor(
    () => {
      if (!check()) throw new Error(`the view did not show ${what} within ${FOLLOW_WITHIN_MS} ms`);
    },
    { timeout: FOLLOW_WITHIN_MS, interval: 20 },
  );

const readyOf = (nodes: Node[] | undefined, name: string) =>
  nodes?.find((node) => node.metadata?.name === name)?.status?.conditions?.find((c) => c.type === 'Ready')
    ?.status;
const namesOf = (nodes: Node[] | undefined) => (nodes ?? []).map((node) => node.metadata?.name ?? '').sort();

describe('followNodes on a real API server', () => {
  const suite = useControlPlane();
  let view: NodeView | undefined;
  const logs: string[] = [];
  const follow = (labelSelector: string) => {
    view = followNodes(createNodeWatchClient(suite.cluster.alertfenceEndpoint), {
      labelSelector,
      log: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
      retryDelayMs: () => 200,
    });
    return view;
  };
  afterEach(() => {
    view?.close();
    logs.length = 0;
  });

  it('should follow readiness, labels, new and deleted Nodes of its selector', async () => {
    // Prepare
    await putNode(suite, { name: 'f-a', ready: true, labels: { pool: 'f' } });
    await putNode(suite, { name: 'f-b', ready: true, labels: { pool: 'f' } });
    await putNode(suite, { name: 'g-other', ready: false, labels: { pool: 'g' } });
    const following = follow('pool=f,!alertfence.io/exclude');
    await until('the listed Nodes', () => namesOf(following.current()).join() === 'f-a,f-b');

    // Act: one goes NotReady, one is excluded by label, one is added, and one deleted.
    await suite.core.patchNodeStatus(
      {
        name: 'f-a',
        body: { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] } },
      },
      mergePatchOptions,
    );
    await until('f-a not Ready', () => readyOf(following.current(), 'f-a') === 'Unknown');
    await suite.core.patchNode(
      { name: 'f-b', body: { metadata: { labels: { 'alertfence.io/exclude': 'true' } } } },
      mergePatchOptions,
    );
    await putNode(suite, { name: 'f-c', ready: false, labels: { pool: 'f' } });
    await until('f-b gone and f-c there', () => namesOf(following.current()).join() === 'f-a,f-c');
    await suite.core.deleteNode({ name: 'f-c' });

    // Assess
    await until('f-c deleted', () => namesOf(following.current()).join() === 'f-a');
    expect(readyOf(following.current(), 'f-a')).toBe('Unknown');
    expect(following.state()).toEqual({ status: 'current', nodes: 1 });
  });

  it('should vouch for nothing while the API server is away, then catch up with what changed meanwhile', async () => {
    // Prepare
    await putNode(suite, { name: 'r-a', ready: true, labels: { pool: 'r' } });
    const following = follow('pool=r');
    await until('r-a', () => namesOf(following.current()).join() === 'r-a');
    const samples: Array<'current' | 'none'> = [];
    const sampler = setInterval(() => samples.push(following.current() ? 'current' : 'none'), 10);

    // Act: the API server is killed and started again; a Node goes NotReady before the view is back.
    await suite.cluster.restartApiServer({ signal: 'SIGKILL' });
    await suite.core.patchNodeStatus(
      {
        name: 'r-a',
        body: { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }] } },
      },
      mergePatchOptions,
    );
    await until(
      'r-a not Ready after the restart',
      () => readyOf(following.current(), 'r-a') === 'False',
    ).catch((error: Error) => {
      // What the view was doing: its state and its log since the restart.
      throw new Error(
        `${error.message}; view ${JSON.stringify(following.state())}; log:\n${logs.join('\n')}`,
      );
    });
    clearInterval(sampler);

    // Assess: a stretch of "cannot vouch" while it was away, one warning, and current again.
    expect(samples).toContain('none');
    expect(following.state().status).toBe('current');
    expect(logs.filter((line) => line.includes('cannot follow the Nodes')).length).toBeGreaterThanOrEqual(1);
  });

  it('should count a dead node’s cluster from the followed Nodes: no table and no list of every Node', async () => {
    // Prepare: two dead nodes among Ready ones (a table alone would send the counts to a list of every Node).
    for (const name of ['c-up-1', 'c-up-2', 'c-up-3', 'c-up-4']) {
      await putNode(suite, { name, ready: true, labels: { pool: 'c' }, providerID: `simulated:///${name}` });
    }
    for (const name of ['c-dead-1', 'c-dead-2']) {
      await putNode(suite, { name, ready: false, labels: { pool: 'c' }, providerID: `simulated:///${name}` });
    }
    const env = {
      ALERTFENCE_NODE_SELECTOR: 'pool=c',
      ALERTFENCE_MAX_UNHEALTHY: '50%',
      ALERTFENCE_DRY_RUN: 'true',
    };
    const following = follow('pool=c,!alertfence.io/exclude');
    await until('the six Nodes', () => namesOf(following.current()).length === 6);
    const calls: string[] = [];
    const real = suite.kube;
    const counted = new Proxy(real, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(property));
          return value.apply(target, args);
        };
      },
    }) as KubePort;
    const fence = createRealFence(counted, {
      env,
      driverOptions: { autoCreate: true },
      nodeView: following,
    });

    // Act
    const answer = await fence.service.request(
      [{ node: 'c-dead-1', trigger: { kind: 'alert', reason: 'KubeNodeNotReady', force: false } }],
      { requestId: 'view-counts', deadline: Date.now() + 20_000, dryRun: true },
    );

    // Assess: planned (two of six is within 50 %), counted from memory.
    expect(answer.answer[0]).toMatchObject({ node: 'c-dead-1', outcome: 'planned' });
    expect(calls).not.toContain('listNodeHealth');
    expect(calls).not.toContain('listNodes');
    expect(calls).toContain('getNode');
  });

  it('should let the tick detect from the followed Nodes, reading again only the one down long enough', async () => {
    // Prepare: an hour-dead node, one down for two minutes (under ALERTFENCE_DETECT_AFTER's 20), Ready ones.
    for (const name of ['t-up-1', 't-up-2', 't-up-3', 't-up-4']) {
      await putNode(suite, { name, ready: true, labels: { pool: 't' }, providerID: `simulated:///${name}` });
    }
    await putNode(suite, {
      name: 't-dead',
      ready: false,
      labels: { pool: 't' },
      providerID: 'simulated:///t-dead',
    });
    await putNode(suite, {
      name: 't-fresh',
      ready: false,
      downForMs: 120_000,
      labels: { pool: 't' },
      providerID: 'simulated:///t-fresh',
    });
    const following = follow('pool=t,!alertfence.io/exclude');
    await until('the six Nodes', () => namesOf(following.current()).length === 6);
    const calls: Array<{ method: string; name: unknown }> = [];
    const counted = new Proxy(suite.kube, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push({ method: String(property), name: args[0] });
          return value.apply(target, args);
        };
      },
    }) as KubePort;
    const fence = createRealFence(counted, {
      env: {
        ALERTFENCE_NODE_SELECTOR: 'pool=t',
        ALERTFENCE_MAX_UNHEALTHY: '50%',
        ALERTFENCE_DRY_RUN: 'true',
      },
      driverOptions: { autoCreate: true },
      nodeView: following,
    });

    // Act
    const answer = await fence.service.tick({ requestId: 'view-tick', deadline: Date.now() + 20_000 });

    // Assess: t-dead is detected (planned: disarmed), t-fresh is not; the API server was asked for t-dead alone.
    expect(answer.answer).toEqual([expect.objectContaining({ node: 't-dead', outcome: 'planned' })]);
    expect(calls.map((call) => call.method)).not.toContain('listNodes');
    expect(calls.map((call) => call.method)).not.toContain('listNodeHealth');
    expect(calls.filter((call) => call.method === 'getNode').map((call) => call.name)).toEqual(['t-dead']);
  });
});
