/**
 * The whole fence of a bare-metal node, from the Alertmanager webhook to power-on, on a real control plane
 * (etcd, kube-apiserver, kube-controller-manager, kwok kubelets) with its power behind a real Redfish
 * emulator (sushy-tools over TLS, through the counting proxy). alertfence acts as its own ServiceAccount.
 */
import { describe, expect, it } from 'vitest';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { readinessCheck } from '../../../functions/http/readiness.js';
import { readiness } from '../../../functions/kube/node-facts.js';
import { waitUntil } from '../../peers/process.js';
import { wireFence } from '../../support/fence-wiring.js';
import { alertPayload } from '../../support/world.js';
import { putPod, readNode, useControlPlane } from '../kube/cluster.js';
import { problems } from '../kube/fence.js';
import { driverOf, useSushy } from './sushy.js';

const UNHEALTHY_FOR_MS = 10_000;
const RESET = /\/Actions\/ComputerSystem\.Reset$/;

describe('fence of a Redfish-backed node through the webhook on a real control plane', () => {
  const suite = useControlPlane({ controllers: true, kwok: true, nodeMonitorGracePeriod: '10s' });
  const bmc = useSushy({ systems: [{ name: 'metal-1' }, { name: 'metal-2' }, { name: 'metal-3' }] });

  it('should fence a dead bare-metal node: ForceOff verified Off, released by Kubernetes, Node deleted, powered On', async () => {
    // Prepare: three bare-metal nodes on one BMC, each told its system a different way: a label, an
    // annotation, the mapping file. metal-1's kubelet dies with a pod on it.
    const [dead, alive, mapped] = bmc.sushy.systems as [
      { id: string; name: string },
      { id: string; name: string },
      { id: string; name: string },
    ];
    await suite.cluster.createNode('metal-1', {
      labels: { 'redfish.alertfence.io/bmc': 'rack1', 'redfish.alertfence.io/system': dead.id },
    });
    await suite.cluster.createNode('metal-2', {
      annotations: { 'redfish.alertfence.io/bmc': 'rack1', 'redfish.alertfence.io/system': alive.id },
    });
    await suite.cluster.createNode('metal-3', {});
    const { driver } = driverOf(bmc, { nodes: [{ node: 'metal-3', bmc: 'rack1', system: mapped.id }] });
    const { service, app, post, drain, logs } = wireFence({
      kube: suite.kube,
      drivers: [driver],
      // The driver is injected, built from the test's BMC, so no driver is configured from the environment
      // (ALERTFENCE_DRIVERS=redfish would require its mapping file, which this test does not need).
      env: {
        ALERTFENCE_UNHEALTHY_FOR: `${UNHEALTHY_FOR_MS / 1000}s`,
        ALERTFENCE_MAX_UNHEALTHY: '50%',
        ALERTFENCE_RELEASE_TIMEOUT: '10m',
      },
    });
    await putPod(suite, 'metal-1', 'db-0', 'apps');
    await suite.cluster.stopHeartbeat('metal-1');
    const unknown = await waitUntil(
      async () => {
        const node = await suite.kube.getNode('metal-1');
        return node && readiness(node).status === 'Unknown' ? node : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the node-lifecycle controller to mark metal-1 Unknown' },
    );
    const since = readiness(unknown).since ?? Date.now();
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, since + UNHEALTHY_FOR_MS + 500 - Date.now())),
    );
    await expect(readinessCheck(suite.kube, [driver])()).resolves.toBeUndefined();
    const dryRun = await post('/v1/nodes/metal-1/fence', { dryRun: true });
    const plan = (await dryRun.json()) as {
      plan: Array<{ phase: string; action: string; targets?: string[] }>;
    };
    bmc.proxy.reset();

    // Act: Alertmanager's webhook; the runtime then runs the handed-over fence.
    const response = await post('/v1/alerts', alertPayload([{ node: 'metal-1' }, { node: 'metal-2' }]));
    const answer = (await response.json()) as {
      results: Array<{ node: string; outcome: string; reason: string }>;
    };
    const atAnswer = [...bmc.proxy.requests];
    const started = Date.now();
    await drain(5);
    const fenceMs = Date.now() - started;

    // Assess: the dry run named the system and had no cloud volume to detach.
    expect(dryRun.status).toBe(200);
    expect(plan.plan.find((step) => step.phase === 'PowerOff')).toMatchObject({
      action: 'hard power-off',
      targets: [`redfish:rack1/${dead.id}`],
    });
    expect(plan.plan.find((step) => step.action.startsWith('nothing to detach'))).toMatchObject({
      action: expect.stringContaining('bare metal has no cloud volumes'),
      targets: [],
    });
    // Assess: the webhook accepted the dead node and refused the live one, after reading the dead one's system
    // (resolve, then the fence's own look: it must exist for these credentials).
    expect(response.status).toBe(202);
    expect(answer.results).toEqual([
      expect.objectContaining({ node: 'metal-1', outcome: 'accepted' }),
      expect.objectContaining({ node: 'metal-2', outcome: 'refused', reason: 'NodeReady' }),
    ]);
    expect(atAnswer.map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200', 'GET 200']);
    // Assess: the fence ran every phase, verified Off before releasing, and the controllers released the pod.
    const journal = await service.journal('metal-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.phases.map((step) => step.phase)).toEqual([...PHASES]);
    expect(journal?.instance).toEqual({ provider: 'redfish', id: `rack1/${dead.id}` });
    expect(journal?.phases.find((step) => step.phase === 'VerifyOff')?.detail).toBe(
      `instance rack1/${dead.id} verified Off`,
    );
    expect(journal?.release.forcedAt).toBeUndefined();
    expect(await readNode(suite.core, 'metal-1')).toBeUndefined();
    expect(await suite.kube.listPodsOnNode('metal-1')).toEqual([]);
    // Assess: exactly one ForceOff and one On, to metal-1's system only; the machine is On again.
    const resets = bmc.proxy.requests.filter((r) => r.method === 'POST' && RESET.test(r.path));
    expect(resets.map((r) => `${r.path.split('/')[4]} ${r.status}`)).toEqual([
      `${dead.id} 204`,
      `${dead.id} 204`,
    ]);
    expect(bmc.proxy.requests.every((r) => r.path.includes(dead.id))).toBe(true);
    expect(bmc.proxy.requests.every((r) => (r.status ?? 0) < 300)).toBe(true);
    expect(await bmc.sushy.powerState(dead.id)).toBe('On');
    expect(await bmc.sushy.powerState(alive.id)).toBe('On');
    expect(await bmc.sushy.powerState(mapped.id)).toBe('On');
    expect(fenceMs).toBeLessThan(120_000);
    expect(problems(logs)).toEqual([]);
    await expect(app.request('/healthz')).resolves.toMatchObject({ status: 200 });
  });
});
