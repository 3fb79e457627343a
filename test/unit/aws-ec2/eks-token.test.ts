import { describe, expect, it } from 'vitest';
import { createEksToken, eksBearerTokenProvider } from '../../../drivers/aws-ec2/index.js';
import { decodeEksToken, verifyPresignedGet } from './sigv4-verify.js';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const SIGNED_AT = Date.UTC(2026, 10, 22, 10, 55, 52);

describe('createEksToken', () => {
  it('should be k8s-aws-v1. and unpadded base64url of a presigned GetCallerIdentity URL', async () => {
    // Act
    const token = await createEksToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials: CREDENTIALS,
      now: () => SIGNED_AT,
    });

    // Assess
    expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
    const { url, params } = decodeEksToken(token);
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe('https://sts.eu-west-1.amazonaws.com/');
    expect(params.get('Action')).toBe('GetCallerIdentity');
    expect(params.get('Version')).toBe('2011-06-15');
    expect(params.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(params.get('X-Amz-Expires')).toBe('60');
    expect(params.get('X-Amz-Date')).toBe('20261122T105552Z');
    expect(params.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20261122/eu-west-1/sts/aws4_request');
    expect(params.get('X-Amz-SignedHeaders')?.split(';')).toEqual(['host', 'x-k8s-aws-id']);
    // The cluster name travels as a signed header, not in the URL.
    expect(params.has('x-k8s-aws-id')).toBe(false);
  });

  it('should carry a signature that an independent SigV4 check accepts only for its own cluster', async () => {
    // Prepare
    const token = await createEksToken({
      clusterName: 'prod',
      region: 'eu-west-1',
      credentials: CREDENTIALS,
      now: () => SIGNED_AT,
    });
    const { url } = decodeEksToken(token);

    // Act
    const forProd = verifyPresignedGet(
      url,
      { host: url.host, 'x-k8s-aws-id': 'prod' },
      CREDENTIALS.secretAccessKey,
    );
    const forOther = verifyPresignedGet(
      url,
      { host: url.host, 'x-k8s-aws-id': 'staging' },
      CREDENTIALS.secretAccessKey,
    );

    // Assess
    expect(forProd).toBe(true);
    expect(forOther).toBe(false);
  });

  it('should sign the session token of temporary credentials into the URL', async () => {
    // Prepare
    const sessionToken = 'FwoGZXIvYXdzEJr//////////wEaDM+token/with=chars';

    // Act
    const token = await createEksToken({
      clusterName: 'prod',
      region: 'us-east-1',
      credentials: async () => ({ ...CREDENTIALS, sessionToken }),
      now: () => SIGNED_AT,
    });

    // Assess
    const { url, params } = decodeEksToken(token);
    expect(params.get('X-Amz-Security-Token')).toBe(sessionToken);
    expect(
      verifyPresignedGet(url, { host: url.host, 'x-k8s-aws-id': 'prod' }, CREDENTIALS.secretAccessKey),
    ).toBe(true);
  });

  it.each([
    ['cn-north-1', 'sts.cn-north-1.amazonaws.com.cn'],
    ['us-gov-west-1', 'sts.us-gov-west-1.amazonaws.com'],
  ])('should use the regional STS endpoint of %s', async (region, host) => {
    // Act
    const token = await createEksToken({ clusterName: 'prod', region, credentials: CREDENTIALS });

    // Assess
    expect(decodeEksToken(token).url.host).toBe(host);
  });
});

describe('eksBearerTokenProvider', () => {
  function clockAndCredentials(expiration?: Date) {
    const state = { now: SIGNED_AT, resolved: 0 };
    const credentials = async () => {
      state.resolved += 1;
      return { ...CREDENTIALS, ...(expiration ? { expiration } : {}) };
    };
    return { state, credentials, now: () => state.now };
  }

  it('should hand out the same token for ten minutes, then a new one', async () => {
    // Prepare
    const { state, credentials, now } = clockAndCredentials();
    const token = eksBearerTokenProvider({ clusterName: 'prod', region: 'eu-west-1', credentials, now });

    // Act
    const first = await token();
    state.now += 9 * 60_000 + 59_000;
    const cached = await token();
    state.now += 1_000;
    const renewed = await token();

    // Assess
    expect(cached).toBe(first);
    expect(renewed).not.toBe(first);
    expect(decodeEksToken(renewed).params.get('X-Amz-Date')).toBe('20261122T110552Z');
    expect(state.resolved).toBe(2);
  });

  it('should renew a minute before the signing credentials expire', async () => {
    // Prepare
    const { state, credentials, now } = clockAndCredentials(new Date(SIGNED_AT + 5 * 60_000));
    const token = eksBearerTokenProvider({ clusterName: 'prod', region: 'eu-west-1', credentials, now });

    // Act
    const first = await token();
    state.now += 4 * 60_000;
    const renewed = await token();

    // Assess
    expect(renewed).not.toBe(first);
  });

  it('should make one token for concurrent callers', async () => {
    // Prepare
    const { state, credentials, now } = clockAndCredentials();
    const token = eksBearerTokenProvider({ clusterName: 'prod', region: 'eu-west-1', credentials, now });

    // Act
    const tokens = await Promise.all([token(), token(), token()]);

    // Assess
    expect(new Set(tokens).size).toBe(1);
    expect(state.resolved).toBe(1);
  });

  it('should try again after a failed refresh', async () => {
    // Prepare
    let calls = 0;
    const credentials = async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('no credentials'), { name: 'CredentialsProviderError' });
      return CREDENTIALS;
    };
    const token = eksBearerTokenProvider({ clusterName: 'prod', region: 'eu-west-1', credentials });

    // Act
    const failed = token();
    await expect(failed).rejects.toThrow('no credentials');
    const second = await token();

    // Assess
    expect(second).toMatch(/^k8s-aws-v1\./);
  });
});
