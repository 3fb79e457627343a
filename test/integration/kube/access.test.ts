/**
 * `loadKubeAccess` against a real API server: each way alertfence gets its Kubernetes identity reaches the
 * server as the alertfence ServiceAccount, with the cluster's CA.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kubeSection } from '../../../functions/config/kube.js';
import { type Env, readSection } from '../../../functions/config.js';
import { type EksTokenFactory, loadKubeAccess } from '../../../functions/kube/access.js';
import { createKubeClient } from '../../../functions/kube/client.js';
import { inClusterEndpoint } from '../../../functions/kube/kubeconfig.js';
import { KubeForbiddenError } from '../../../functions/kube/port.js';
import { assemble } from '../../../functions/runtimes/assemble.js';
import { tempDir } from '../../peers/process.js';
import { alertfenceIdentity, useControlPlane } from './cluster.js';

/** The access an environment names, read by the kube section as the function reads it at start. */
const accessFrom = (env: Env, eksToken?: EksTokenFactory) =>
  loadKubeAccess(readSection(kubeSection, env), eksToken);

describe('loadKubeAccess against a real API server', () => {
  const suite = useControlPlane();

  /** The parts of the alertfence kubeconfig an EKS set-up gets from elsewhere. */
  function eksParts() {
    const identity = alertfenceIdentity(suite.cluster);
    return {
      server: identity.server,
      caData: Buffer.from(identity.tls.ca ?? '').toString('base64'),
      token: identity.token ?? '',
    };
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
    const access = accessFrom(await env());

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
    const access = accessFrom(
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
    const access = accessFrom(
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

  it('should authenticate with the client certificate of a kubeconfig (x509)', async () => {
    // Prepare: the admin kubeconfig carries a client certificate and key, no token.
    const access = accessFrom({ KUBECONFIG: suite.cluster.adminKubeconfig });

    // Act
    const leases = await access.kube.listLeases('kube-system');

    // Assess: only system:masters may list there, so the certificate was the identity.
    expect(Array.isArray(leases)).toBe(true);
  });

  it('should run an exec credential plugin named relative to its kubeconfig, once while its token is valid', async () => {
    // Prepare: a plugin like `aws eks get-token`, printing an ExecCredential with the ServiceAccount's token.
    const { server, caData, token } = eksParts();
    const dir = (await tempDir('alertfence-exec')).path;
    const counter = join(dir, 'runs');
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    await writeFile(
      join(dir, 'get-token.sh'),
      [
        '#!/bin/sh',
        `echo run >> '${counter}'`,
        'test -n "$KUBERNETES_EXEC_INFO" || exit 3',
        `test "$AUDIENCE" = alertfence || exit 4`,
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' '${token}' '${expires}'`,
      ].join('\n'),
    );
    await chmod(join(dir, 'get-token.sh'), 0o755);
    const kubeconfig = [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: c, cluster: { server: '${server}', certificate-authority-data: '${caData}' } }]`,
      'users:',
      '  - name: u',
      '    user:',
      '      exec:',
      '        apiVersion: client.authentication.k8s.io/v1',
      '        command: ./get-token.sh',
      '        env: [{ name: AUDIENCE, value: alertfence }]',
      'contexts: [{ name: x, context: { cluster: c, user: u } }]',
      'current-context: x',
    ].join('\n');
    await writeFile(join(dir, 'kubeconfig'), kubeconfig);
    const access = accessFrom({ KUBECONFIG: join(dir, 'kubeconfig') });

    // Act
    await access.kube.listNodes();
    await access.kube.ping();

    // Assess
    expect((await readFile(counter, 'utf8')).trim().split('\n')).toEqual(['run']);
  });

  it('should use the pod service account in a cluster, and re-read a rotated token after a 401', async () => {
    // Prepare: the mounted service-account directory, first holding a token the API server does not accept.
    const { server, token } = eksParts();
    const { hostname, port } = new URL(server);
    const dir = join((await tempDir('alertfence-sa')).path, 'serviceaccount');
    await mkdir(dir);
    await writeFile(join(dir, 'ca.crt'), alertfenceIdentity(suite.cluster).tls.ca ?? '');
    await writeFile(join(dir, 'token'), 'expired-token');
    const kube = createKubeClient(inClusterEndpoint({ host: hostname, port }, dir));

    // Act: the kubelet rotates the token between the two calls.
    const first = await kube.listNodes().catch((error: unknown) => error);
    await writeFile(join(dir, 'token'), token);
    const second = await kube.listNodes();

    // Assess
    expect(first).toBeInstanceOf(KubeForbiddenError);
    expect(first).toMatchObject({ status: 401 });
    expect(Array.isArray(second)).toBe(true);
  });

  it('should reach the API server with a kubeconfig mounted as a secret file (ALERTFENCE_KUBECONFIG_INLINE_FILE)', async () => {
    // Prepare: the runtime as an entrypoint builds it, with the kubeconfig only as a file, as OpenFaaS mounts it.
    const runtime = assemble({
      ALERTFENCE_TOKENS: 'a-token-of-at-least-16-chars',
      ALERTFENCE_DRIVERS: 'simulated',
      ALERTFENCE_KUBECONFIG_INLINE_FILE: suite.cluster.alertfenceKubeconfig,
    });

    // Act
    const nodes = await runtime.kube.listNodes();

    // Assess
    expect(Array.isArray(nodes)).toBe(true);
    expect(runtime.config.kube).toMatchObject({
      mode: 'inline',
      kubeconfig: expect.stringContaining('current-context'),
    });
  });
});
