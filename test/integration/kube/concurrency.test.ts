/**
 * Safety invariant 3 on a real API server: N concurrent identical requests give exactly one power-off. The
 * lock is the journal Lease, created with compare-and-swap; only the API server decides who wins.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedDriver } from '../../../drivers/simulated/simulated-driver.js';
import type { NodeResult } from '../../../functions/fence/api.js';
import { createKubeClient } from '../../../functions/kube/client.js';
import { alertPayload } from '../../support/world.js';
import { putNode, readNode, useControlPlane } from './cluster.js';
import { createRealFence } from './fence.js';

const CONCURRENCY = 50;

const powerOffs = (driver: SimulatedDriver, id: string) =>
  driver.calls.filter((call) => call.method === 'powerOff' && call.id === id).length;

describe('concurrent fences of one node on a real API server', () => {
  const suite = useControlPlane();
  const env = { ALERTFENCE_MAX_UNHEALTHY: '50%', ALERTFENCE_RELEASE_TIMEOUT: '0s' };

  it('invariant 3: should power off once for 50 concurrent identical alerts to one app', async () => {
    // Prepare
    await putNode(suite, { name: 'worker-1', ready: false, providerID: 'simulated:///i-worker-1' });
    await putNode(suite, { name: 'worker-2', ready: true, providerID: 'simulated:///i-worker-2' });
    await putNode(suite, { name: 'worker-3', ready: true, providerID: 'simulated:///i-worker-3' });
    const fence = createRealFence(suite.kube, { env });
    fence.driver.addInstance('i-worker-1', ['vol-worker-1']);

    // Act
    const responses = await Promise.all(
      Array.from({ length: CONCURRENCY }, () =>
        fence.post('/v1/alerts', alertPayload([{ node: 'worker-1' }])),
      ),
    );
    const outcomes = await Promise.all(
      responses.map(async (response) => ((await response.json()) as { results: NodeResult[] }).results[0]),
    );
    await fence.drain();

    // Assess
    expect(responses.map((response) => response.status)).toEqual(Array(CONCURRENCY).fill(202));
    expect(outcomes.filter((result) => result?.outcome === 'accepted')).toHaveLength(1);
    expect(outcomes.filter((result) => result?.outcome === 'in-progress')).toHaveLength(CONCURRENCY - 1);
    expect(powerOffs(fence.driver, 'i-worker-1')).toBe(1);
    expect((await fence.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(await readNode(suite.core, 'worker-1')).toBeUndefined();
  });

  it('invariant 3: should power off once when 50 separate invocations, each with its own client, race', async () => {
    // Prepare: 50 fence services, as 50 function invocations would be, sharing only the API server and the
    // cloud.
    await putNode(suite, { name: 'worker-4', ready: false, providerID: 'simulated:///i-worker-4' });
    await putNode(suite, { name: 'worker-5', ready: true, providerID: 'simulated:///i-worker-5' });
    const cloud = new SimulatedDriver({ transitionMs: 300, detachMs: 200 });
    cloud.addInstance('i-worker-4', ['vol-worker-4']);
    const invocations = Array.from({ length: CONCURRENCY }, () =>
      createRealFence(createKubeClient(suite.cluster.alertfenceEndpoint), { env, driver: cloud }),
    );

    // Act
    const results = await Promise.all(
      invocations.map((invocation, index) =>
        invocation.request(
          [{ node: 'worker-4', trigger: { kind: 'alert', reason: 'KubeNodeNotReady', force: false } }],
          { requestId: `invocation-${index}`, dryRun: false, deadline: Date.now() + 30_000 },
        ),
      ),
    );
    const handedOver = invocations.filter((invocation) => invocation.continuation.handoffs.length > 0);
    for (const invocation of handedOver) await invocation.drain();

    // Assess
    const outcomes = results.map(([result]) => result?.outcome);
    expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'in-progress')).toHaveLength(CONCURRENCY - 1);
    expect(handedOver).toHaveLength(1);
    expect(powerOffs(cloud, 'i-worker-4')).toBe(1);
    expect((await handedOver[0]?.service.journal('worker-4'))?.status).toBe('succeeded');
  });
});
