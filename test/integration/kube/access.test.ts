/**
 * `loadKubeAccess` against a real API server: each way alertfence gets its Kubernetes identity reaches the
 * server as the alertfence ServiceAccount, with the cluster's CA.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadKubeAccess } from '../../../functions/kube/access.js';
import { KubeForbiddenError } from '../../../functions/kube/port.js';
import { useControlPlane } from './cluster.js';

describe('loadKubeAccess against a real API server', () => {
  const suite = useControlPlane();

  /** The parts of the alertfence kubeconfig an EKS set-up gets from elsewhere. */
  function eksParts() {
    const cluster = suite.cluster.alertfence.getCurrentCluster();
    const token = suite.cluster.alertfence.getCurrentUser()?.token ?? '';
    return { server: cluster?.server ?? '', caData: cluster?.caData ?? '', token };
  }

  it.each([
    ['kubeconfig', async () => ({ KUBECONFIG: suite.cluster.alertfenceKubeconfig })],
    [
      'inline',
      async () => ({
        ALERTFENCE_KUBECONFIG_INLINE: await readFile(suite.cluster.alertfenceKubeconfig, 'utf8'),
      }),
    ],
  ] as const)('should reach the API server as alertfence with a %s kubeconfig', async (mode, env) => {
    // Prepare
    const access = loadKubeAccess(await env());

    // Act
    const [nodes, outsideRole] = await Promise.all([
      access.kube.listNodes(),
      access.kube.listLeases('kube-system').catch((error: unknown) => error),
    ]);

    // Assess
    expect(access.mode).toBe(mode);
    expect(Array.isArray(nodes)).toBe(true);
    expect(outsideRole).toBeInstanceOf(KubeForbiddenError);
    await expect(access.kube.ping()).resolves.toBeUndefined();
  });

  it('should send the EKS-style token of every request, fresh from its supplier, with the given CA', async () => {
    // Prepare: the supplier stands in for the STS-presigned EKS token; here it hands out the ServiceAccount's.
    const { server, caData, token } = eksParts();
    let supplied = 0;
    const access = loadKubeAccess(
      {
        ALERTFENCE_EKS_CLUSTER: 'prod',
        ALERTFENCE_KUBE_SERVER: server,
        ALERTFENCE_KUBE_CA_DATA: caData,
        AWS_REGION: 'eu-west-1',
      },
      ({ clusterName, region }) => {
        expect({ clusterName, region }).toEqual({ clusterName: 'prod', region: 'eu-west-1' });
        return async () => {
          supplied += 1;
          return token;
        };
      },
    );

    // Act
    await access.kube.listNodes();
    await access.kube.getNode('no-such-node');

    // Assess
    expect(access.mode).toBe('eks');
    expect(supplied).toBe(2);
  });

  it('should refuse with KubeForbiddenError (401) when the supplied token is not accepted', async () => {
    // Prepare
    const { server, caData } = eksParts();
    const access = loadKubeAccess(
      {
        ALERTFENCE_EKS_CLUSTER: 'prod',
        ALERTFENCE_KUBE_SERVER: server,
        ALERTFENCE_KUBE_CA_DATA: caData,
        AWS_REGION: 'eu-west-1',
      },
      () => async () => 'k8s-aws-v1.not-a-valid-token',
    );

    // Act
    const list = access.kube.listNodes();

    // Assess
    await expect(list).rejects.toBeInstanceOf(KubeForbiddenError);
    await expect(list).rejects.toMatchObject({ status: 401 });
  });
});
