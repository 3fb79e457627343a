/**
 * `listNodeHealth` against a real kube-apiserver, as the alertfence ServiceAccount (its RBAC lists Nodes):
 * the API server's own Table printer decides what "Ready" is, and the label selector is applied by the server.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../functions/config.js';
import {
  countHealthRows,
  scopeSelector,
  stormRefusal,
  summarizeCluster,
} from '../../../functions/fence/storm-guard.js';
import { mergePatchOptions, putNode, useControlPlane } from '../kube/cluster.js';

describe('listNodeHealth on a real API server', () => {
  const suite = useControlPlane();

  it('should give each Node in the selector its readiness, cordoned or not, and nothing of the others', async () => {
    // Prepare
    const zone = (name: string) => ({ 'topology.kubernetes.io/zone': name });
    await putNode(suite, { name: 'a-up', ready: true, labels: zone('a') });
    await putNode(suite, { name: 'a-down', ready: false, labels: zone('a') });
    await putNode(suite, { name: 'a-cordoned', ready: true, labels: zone('a') });
    await putNode(suite, {
      name: 'a-excluded',
      ready: false,
      labels: { ...zone('a'), 'alertfence.io/exclude': '' },
    });
    await putNode(suite, { name: 'b-down', ready: false, labels: zone('b') });
    await suite.core.patchNode(
      { name: 'a-cordoned', body: { spec: { unschedulable: true } } },
      mergePatchOptions,
    );

    // Act
    const zoneA = await suite.kube.listNodeHealth('topology.kubernetes.io/zone=a,!alertfence.io/exclude');
    const all = await suite.kube.listNodeHealth();

    // Assess
    expect(zoneA.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'a-cordoned', ready: true },
      { name: 'a-down', ready: false },
      { name: 'a-up', ready: true },
    ]);
    expect(all).toHaveLength(5);
    expect(
      all
        .filter((node) => !node.ready)
        .map((node) => node.name)
        .sort(),
    ).toEqual(['a-down', 'a-excluded', 'b-down']);
  });

  it('should select the storm guard’s label scope as the guard does, and leave the taints to the list', async () => {
    // Prepare: nodes in and out of scope by every label rule, and a NotReady Node an autoscaler is removing.
    const inScope = { 'scope-check': 'db' };
    await putNode(suite, { name: 's-up', ready: true, labels: inScope });
    await putNode(suite, { name: 's-down', ready: false, labels: inScope });
    await putNode(suite, { name: 's-web', ready: false, labels: { 'scope-check': 'web' } });
    await putNode(suite, {
      name: 's-excluded',
      ready: false,
      labels: { ...inScope, 'alertfence.io/exclude': 'true' },
    });
    await putNode(suite, {
      name: 's-medik8s',
      ready: false,
      labels: { ...inScope, 'remediation.medik8s.io/exclude-from-remediation': '' },
    });
    await putNode(suite, {
      name: 's-control-plane',
      ready: false,
      labels: { ...inScope, 'node-role.kubernetes.io/control-plane': '' },
    });
    await putNode(suite, {
      name: 's-draining',
      ready: false,
      labels: inScope,
      taints: [{ key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' }],
    });
    const config = loadConfig({
      ALERTFENCE_TOKENS: 'scope-token-0123456789abcdef',
      ALERTFENCE_NODE_SELECTOR: 'scope-check=db',
      ALERTFENCE_MAX_UNHEALTHY: '1',
    });
    const named = await suite.kube.getNode('s-down');

    // Act
    const rows = await suite.kube.listNodeHealth(scopeSelector(config));
    const byTable = countHealthRows(rows, named ? [named] : [], config);
    const byList = summarizeCluster(await suite.kube.listNodes(), config);

    // Assess: the API server selects what the labels allow; the draining Node is in the table (it has no
    // taints), so two unhealthy rows cannot settle the counts; the list leaves it out, and allows the fence.
    expect(rows.map((row) => row.name).sort()).toEqual(['s-down', 's-draining', 's-up']);
    expect(byTable).toBeUndefined();
    expect(byList.health.cluster).toEqual({ inScope: 2, unhealthy: 1 });
    expect(stormRefusal(byList, config, named)).toBeUndefined();
  });
});
