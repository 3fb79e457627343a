/**
 * The EKS token made from credentials that a real STS wire protocol issued (moto's AssumeRole), checked by
 * parsing it and by an independent SigV4 verification.
 *
 * Moto cannot verify the token itself: its server routes a request to a service by the `Authorization`
 * header, a form body or a `/<service>_<region>/` path, so the token's bare presigned GET (query-string
 * auth, empty body, path `/`) is answered as S3 `ListBuckets`; and its STS `GetCallerIdentity` never checks
 * signatures (only with IAM auth switched on, and then only header signatures). The signature is therefore
 * verified here with `verifyPresignedGet`, written from the SigV4 specification.
 */
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { describe, expect, it } from 'vitest';
import { eksBearerTokenProvider } from '../../../drivers/aws-ec2/index.js';
import { decodeEksToken, verifyPresignedGet } from '../../unit/aws-ec2/sigv4-verify.js';
import { useMoto } from './moto-ec2.js';

describe('EKS token with credentials from moto STS', () => {
  const suite = useMoto({ resetEachTest: false });

  it('should sign GetCallerIdentity with the assumed role’s session credentials and the cluster header', async () => {
    // Prepare
    const assumeRole = fromTemporaryCredentials({
      params: { RoleArn: 'arn:aws:iam::123456789012:role/alertfence-eks', RoleSessionName: 'alertfence' },
      masterCredentials: suite.moto.credentials,
      clientConfig: { region: suite.moto.region, endpoint: suite.moto.endpoint },
    });
    const issued: Array<Awaited<ReturnType<typeof assumeRole>>> = [];
    const credentials = async () => {
      const session = await assumeRole();
      issued.push(session);
      return session;
    };
    const token = eksBearerTokenProvider({ clusterName: 'prod', region: suite.moto.region, credentials });

    // Act
    const first = await token();
    const again = await token();

    // Assess
    expect(again).toBe(first);
    expect(issued).toHaveLength(1);
    const session = issued[0];
    if (!session) throw new Error('no credentials were issued');
    const { url, params } = decodeEksToken(first);
    expect(url.host).toBe(`sts.${suite.moto.region}.amazonaws.com`);
    expect(params.get('Action')).toBe('GetCallerIdentity');
    expect(params.get('X-Amz-Expires')).toBe('60');
    expect(params.get('X-Amz-SignedHeaders')?.split(';')).toContain('x-k8s-aws-id');
    expect(params.get('X-Amz-Credential')?.startsWith(`${session.accessKeyId}/`)).toBe(true);
    expect(session.accessKeyId).not.toBe(suite.moto.credentials.accessKeyId);
    expect(params.get('X-Amz-Security-Token')).toBe(session.sessionToken);
    expect(verifyPresignedGet(url, { host: url.host, 'x-k8s-aws-id': 'prod' }, session.secretAccessKey)).toBe(
      true,
    );
    expect(
      verifyPresignedGet(
        url,
        { host: url.host, 'x-k8s-aws-id': 'prod' },
        suite.moto.credentials.secretAccessKey,
      ),
    ).toBe(false);
  });
});
