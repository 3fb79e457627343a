/**
 * The one configuration module (issue #13 item 4): every section's variables are checked in one pass at start,
 * and one message names every bad value.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, type Env, loadConfig } from '../../functions/config.js';

const TOKEN = 'sections-token-0123456789abcdef';
const base = { ALERTFENCE_TOKENS: TOKEN };

/** A bad value for each section: the environment that holds it, and what the message must say. */
const BAD: Array<[section: string, env: Env, named: string]> = [
  ['core', { ALERTFENCE_COOLDOWN: 'soon' }, 'ALERTFENCE_COOLDOWN: "soon" is not a duration'],
  [
    'kube',
    { ALERTFENCE_KUBE_ALLOW_INSECURE_TLS: 'perhaps' },
    'ALERTFENCE_KUBE_ALLOW_INSECURE_TLS must be true or false',
  ],
  [
    'kube (EKS)',
    { ALERTFENCE_EKS_CLUSTER: 'prod', AWS_REGION: 'eu-west-1' },
    'ALERTFENCE_KUBE_SERVER: EKS access needs',
  ],
  [
    'aws',
    { ALERTFENCE_DRIVERS: 'aws', ALERTFENCE_AWS_ROLE_ARN: 'alertfence' },
    'ALERTFENCE_AWS_ROLE_ARN: must be an IAM role ARN',
  ],
  [
    'openstack',
    { ALERTFENCE_DRIVERS: 'openstack', ALERTFENCE_OPENSTACK_LOOKUP: 'sometimes' },
    'ALERTFENCE_OPENSTACK_LOOKUP must be true or false',
  ],
  [
    'redfish',
    {
      ALERTFENCE_DRIVERS: 'redfish',
      ALERTFENCE_REDFISH_MAPPING: '/m.yaml',
      ALERTFENCE_REDFISH_AUTH: 'digest',
    },
    'ALERTFENCE_REDFISH_AUTH: must be basic or session',
  ],
  [
    'lambda',
    { ALERTFENCE_LAMBDA_ENDPOINT: 'lambda.local' },
    'ALERTFENCE_LAMBDA_ENDPOINT: "lambda.local" is not an http or https URL',
  ],
  [
    'openfaas',
    { ALERTFENCE_OPENFAAS_FUNCTION: 'Alert Fence' },
    'ALERTFENCE_OPENFAAS_FUNCTION: is not a function name',
  ],
  [
    'openfaas (gateway)',
    { ALERTFENCE_OPENFAAS_GATEWAY: 'gateway:8080' },
    'ALERTFENCE_OPENFAAS_GATEWAY: "gateway:8080" is not an http or https URL',
  ],
  ['notify', { ALERTFENCE_NOTIFY_TIMEOUT: '1m' }, 'ALERTFENCE_NOTIFY_TIMEOUT: must be at most 10s'],
  ['metrics', { ALERTFENCE_METRICS_PUBLIC: 'open' }, 'ALERTFENCE_METRICS_PUBLIC must be true or false'],
];

function failure(env: Env): ConfigError {
  try {
    loadConfig(env, () => '');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadConfig (every section)', () => {
  it.each(BAD)(
    'should name a bad value of the %s section in the start-up message',
    (_section, env, named) => {
      // Act
      const error = failure({ ...base, ...env });

      // Assess
      expect(error.message).toMatch(/^invalid configuration:\n {2}/);
      expect(error.message).toContain(named);
    },
  );

  it('should name every bad value of every section at once, in one message', () => {
    // Prepare: every bad value above together (the drivers named once, each with its own bad setting).
    const env: Env = { ...base, ALERTFENCE_DRIVERS: 'aws,openstack,redfish' };
    for (const [, bad] of BAD) Object.assign(env, bad, { ALERTFENCE_DRIVERS: env.ALERTFENCE_DRIVERS });
    // The EKS case needs the server unset, which the other kube case does not disturb.

    // Act
    const error = failure(env);

    // Assess
    for (const [, , named] of BAD) expect(error.message).toContain(named);
    expect(error.message.split('\n')).toHaveLength(BAD.length + 1);
  });

  it('should check a driver section only when the driver is enabled', () => {
    // Act
    const config = loadConfig({
      ...base,
      ALERTFENCE_DRIVERS: 'simulated',
      ALERTFENCE_REDFISH_AUTH: 'digest',
    });

    // Assess
    expect(config).toMatchObject({ aws: undefined, openstack: undefined, redfish: undefined });
  });

  it('should give each section its typed settings and its documented defaults', () => {
    // Act
    const config = loadConfig({
      ...base,
      ALERTFENCE_DRIVERS: 'aws,redfish',
      ALERTFENCE_REDFISH_MAPPING: '/m.yaml',
    });

    // Assess
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      kube: { mode: 'none', allowInsecureTls: false },
      aws: { lookup: false, region: undefined },
      redfish: {
        mapping: '/m.yaml',
        auth: 'basic',
        insecure: false,
        nodeKeyPrefix: 'redfish.alertfence.io/',
      },
      lambda: { workerFunction: undefined },
      openfaas: {
        functionName: 'alertfence',
        execTimeoutMs: 30_000,
        upstream: { hostname: '127.0.0.1', port: 3000 },
      },
      metrics: { public: false, service: 'alertfence' },
    });
  });

  it.each([
    [{ KUBECONFIG: '/k', ALERTFENCE_KUBECONFIG_INLINE: 'apiVersion: v1' }, 'inline'],
    [{ KUBECONFIG: '/k', KUBERNETES_SERVICE_HOST: '10.96.0.1' }, 'kubeconfig'],
    [{ KUBERNETES_SERVICE_HOST: '10.96.0.1', ALERTFENCE_EKS_CLUSTER: 'prod' }, 'in-cluster'],
    [
      {
        ALERTFENCE_EKS_CLUSTER: 'prod',
        ALERTFENCE_KUBE_SERVER: 'https://eks.example',
        AWS_DEFAULT_REGION: 'eu-west-1',
      },
      'eks',
    ],
  ])('should pick the Kubernetes access that comes first (%j)', (env, mode) => {
    // Act
    const config = loadConfig({ ...base, ...env });

    // Assess
    expect(config.kube.mode).toBe(mode);
  });
});

describe('loadConfig (secret files)', () => {
  it('should name a secret file it cannot read beside the other bad values, in one message', () => {
    // Prepare
    const missing = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });

    // Act
    let error: unknown;
    try {
      loadConfig(
        { ...base, ALERTFENCE_NOTIFY_SECRET_FILE: '/run/secrets/notify', ALERTFENCE_COOLDOWN: 'soon' },
        () => {
          throw missing;
        },
      );
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(
      'ALERTFENCE_NOTIFY_SECRET_FILE: cannot read /run/secrets/notify (ENOENT)',
    );
    expect((error as ConfigError).message).toContain('ALERTFENCE_COOLDOWN: "soon" is not a duration');
    expect((error as ConfigError).cause).toBe(missing);
  });
});
