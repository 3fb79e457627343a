/**
 * `/readyz` of a runtime wired from the environment as an entrypoint wires it, with the EC2 driver on moto:
 * ready only when the API server answers and the driver's pre-flight (EC2 dry runs) passes. The problems are
 * for a caller with a token; anyone else learns only ready or not.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildNodeRuntime } from '../../../functions/runtimes/node/node-runtime.js';
import { FakeKube } from '../../fakes/kube.js';
import { freePort } from '../../peers/process.js';
import { runInstance, useMoto } from './moto-ec2.js';

const TOKEN = 'a-token-of-at-least-16-chars';
const withToken = { headers: { authorization: `Bearer ${TOKEN}` } };

describe('/readyz with the EC2 driver on moto', () => {
  const suite = useMoto();

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  /** The runtime as the Node server builds it; credentials reach the SDK's default chain as on Lambda. */
  function runtimeAt(endpoint: string) {
    const { accessKeyId, secretAccessKey } = suite.moto.credentials;
    vi.stubEnv('AWS_ACCESS_KEY_ID', accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', secretAccessKey);
    return buildNodeRuntime(
      {
        ALERTFENCE_TOKENS: TOKEN,
        ALERTFENCE_DRIVERS: 'aws',
        ALERTFENCE_AWS_ENDPOINT: endpoint,
        AWS_REGION: suite.moto.region,
      },
      { kube: new FakeKube() },
    );
  }

  it('should be ready when the dry runs of every EC2 call pass', async () => {
    // Prepare: the pre-flight dry-runs the power calls against an instance of the region.
    await runInstance(suite.ec2);
    const runtime = runtimeAt(suite.moto.endpoint);

    // Act
    const response = await runtime.app.request('/readyz');

    // Assess
    expect(response.status).toBe(200);
    // Ready, and not paused (#14: /readyz shows the pause to anyone; its reason and expiry only with a token).
    expect(await response.json()).toEqual({ status: 'ready', paused: false });
  });

  it('should answer 503 naming the driver when its pre-flight finds nothing to check in the region', async () => {
    // Prepare: an empty region, as with a wrong AWS_REGION.
    const runtime = runtimeAt(suite.moto.endpoint);

    // Act
    const response = await runtime.app.request('/readyz', withToken);
    const body = (await response.json()) as { error: { code: string; message: string } };
    const anonymous = await runtime.app.request('/readyz');

    // Assess
    expect(response.status).toBe(503);
    expect(body.error.message).toMatch(/^aws: no instance in this region .*\(wrong region\?\)/);
    expect(anonymous.status).toBe(503);
    expect(await anonymous.json()).toEqual({ status: 'not_ready' });
  });

  it('should answer 503 naming the driver when EC2 cannot be reached', async () => {
    // Prepare: an endpoint nothing listens on.
    const runtime = runtimeAt(`http://127.0.0.1:${await freePort()}`);

    // Act
    const response = await runtime.app.request('/readyz', withToken);
    const body = (await response.json()) as { error: { code: string; message: string } };
    const anonymous = await runtime.app.request('/readyz');

    // Assess: the remembered failure answers the second probe; the endpoint stays out of its answer.
    expect(response.status).toBe(503);
    expect(body.error.code).toBe('not_ready');
    expect(body.error.message).toMatch(/^aws: /);
    expect(anonymous.status).toBe(503);
    expect(await anonymous.json()).toEqual({ status: 'not_ready' });
  });
});
