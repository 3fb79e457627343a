/**
 * `listNodeHealth` against a real kube-apiserver, as the alertfence ServiceAccount (its RBAC lists Nodes):
 * the API server's own Table printer decides what "Ready" is, and the label selector is applied by the server.
 */
import { describe, expect, it } from 'vitest';
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
});
