import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { execPluginOf, tokenFileOf } from '../../../functions/kube/authenticators.js';
import {
  inClusterEndpoint,
  KubeconfigError,
  loadKubeconfigFile,
  parseKubeconfig,
} from '../../../functions/kube/kubeconfig.js';
import { microTime, timestampMillis } from '../../../functions/kube/objects.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function kubeconfig(user: string, cluster = `{ server: 'https://10.0.0.1:6443/' }`) {
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{ name: c, cluster: ${cluster} }]`,
    `users: [{ name: u, user: ${user} }]`,
    'contexts: [{ name: x, context: { cluster: c, user: u } }]',
    'current-context: x',
  ].join('\n');
}

const parse = (text: string, baseDir = '/etc/alertfence') =>
  parseKubeconfig(text, { baseDir, source: 'test' });

/** What the library makes of the loaded kubeconfig for one request: TLS material and headers. */
async function requestOptions(config: KubeConfig) {
  const options: {
    headers: Record<string, unknown>;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    servername?: string;
  } = { headers: {} };
  await config.applyToHTTPSOptions(options);
  return {
    ca: options.ca?.toString(),
    cert: options.cert?.toString(),
    key: options.key?.toString(),
    servername: options.servername,
    authorization: options.headers.Authorization,
  };
}

describe('parseKubeconfig', () => {
  it('should read the current context: server without a trailing slash, token, inline certificates', async () => {
    // Act
    const endpoint = parse(
      kubeconfig(
        `{ token: t0k3n, client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')} }`,
        `{ server: 'https://10.0.0.1:6443/', certificate-authority-data: ${b64('CA')}, tls-server-name: api }`,
      ),
    );

    // Assess
    expect(endpoint.getCurrentContext()).toBe('x');
    expect(endpoint.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    expect(await requestOptions(endpoint)).toEqual({
      ca: 'CA',
      cert: 'CERT',
      key: 'KEY',
      servername: 'api',
      authorization: 'Bearer t0k3n',
    });
  });

  it('should resolve the files it names against the kubeconfig directory, as kubectl does', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'alertfence-kubeconfig-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA FROM FILE');
    writeFileSync(
      join(dir, 'config'),
      kubeconfig(
        `{ tokenFile: token, exec: null }`,
        `{ server: 'https://k', certificate-authority: ca.pem }`,
      ),
    );

    // Act
    const endpoint = loadKubeconfigFile(join(dir, 'config'));

    // Assess
    expect((await requestOptions(endpoint)).ca).toBe('CA FROM FILE');
    expect(tokenFileOf(endpoint.getCurrentUser())).toBe(join(dir, 'token'));
  });

  it('should keep an exec plugin, resolving a command with a path but not a bare name', () => {
    // Act
    const relative = parse(
      kubeconfig(
        `{ exec: { apiVersion: client.authentication.k8s.io/v1, command: ./bin/token, args: [a] } }`,
      ),
    );
    const bare = parse(
      kubeconfig(`{ exec: { apiVersion: v1beta1, command: aws, env: [{ name: K, value: V }] } }`),
    );

    // Assess
    expect(execPluginOf(relative.getCurrentUser())).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      command: '/etc/alertfence/bin/token',
      args: ['a'],
      env: {},
    });
    expect(execPluginOf(bare.getCurrentUser())).toMatchObject({ command: 'aws', args: [], env: { K: 'V' } });
  });

  it.each([
    ['no current context', 'apiVersion: v1\nclusters: []', /has no current-context/],
    ['an undefined context', 'current-context: nope', /current-context "nope" is not defined/],
    ['not YAML', 'clusters: [unclosed', /is not YAML/],
    ['not a kubeconfig', 'clusters: 5\ncurrent-context: x', /is not a kubeconfig: clusters/],
    ['a certificate without its key', kubeconfig(`{ client-certificate-data: ${b64('C')} }`), /not both/],
    ['a removed auth-provider', kubeconfig(`{ auth-provider: { name: gcp } }`), /auth-provider/],
    ['an exec plugin without a command', kubeconfig(`{ exec: { apiVersion: v1 } }`), /without a command/],
    [
      'a missing CA file',
      kubeconfig('{}', `{ server: 'https://k', certificate-authority: gone.pem }`),
      /gone\.pem/,
    ],
    [
      'a plain-HTTP API server',
      kubeconfig('{ token: t }', `{ server: 'http://10.0.0.1:8080' }`),
      /plain HTTP \(http:\/\/10\.0\.0\.1:8080\)/,
    ],
    [
      'a disable-compression that is not true or false',
      kubeconfig('{ token: t }', `{ server: 'https://k', disable-compression: 'yes' }`),
      /clusters\.0\.cluster\.disable-compression/,
    ],
  ])('should refuse %s with a message that says what to fix', (_case, text, message) => {
    // Act
    const act = () => parse(text);

    // Assess
    expect(act).toThrow(KubeconfigError);
    expect(act).toThrow(message);
  });

  it("should keep the cluster's CA for a context without a user", async () => {
    // Prepare: an anonymous context, which the library would otherwise send without the cluster's TLS settings.
    const text = [
      `clusters: [{ name: c, cluster: { server: 'https://k', certificate-authority-data: ${b64('CA')} } }]`,
      'contexts: [{ name: x, context: { cluster: c } }]',
      'current-context: x',
    ].join('\n');

    // Act
    const options = await requestOptions(parse(text));

    // Assess
    expect(options).toMatchObject({ ca: 'CA', authorization: undefined });
  });

  it('should refuse a KUBECONFIG that lists several files rather than guess which one counts', () => {
    expect(() => loadKubeconfigFile('/a/config:/b/config')).toThrow(/lists several files/);
  });
});

describe('inClusterEndpoint', () => {
  it('should use the service host, its CA and the projected token file', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'alertfence-sa-'));
    writeFileSync(join(dir, 'ca.crt'), 'CLUSTER CA');

    // Act
    const v4 = inClusterEndpoint({ host: '10.96.0.1', port: '443' }, dir);
    const v6 = inClusterEndpoint({ host: 'fd00::1' }, dir);

    // Assess
    expect(v4).toEqual({
      server: 'https://10.96.0.1:443',
      tls: { ca: 'CLUSTER CA' },
      tokenFile: join(dir, 'token'),
      source: 'in-cluster service account',
    });
    expect(v6.server).toBe('https://[fd00::1]:443');
  });

  it('should say what is missing outside a pod', () => {
    expect(() => inClusterEndpoint({})).toThrow(/KUBERNETES_SERVICE_HOST/);
    expect(() => inClusterEndpoint({ host: 'h' }, '/nonexistent')).toThrow(/ca\.crt/);
  });
});

describe('microTime', () => {
  it('should write six fractional digits, which a Lease needs, and read back to the same millisecond', () => {
    // Act
    const written = microTime(Date.parse('2026-11-22T13:00:00.123Z'));

    // Assess
    expect(written).toBe('2026-11-22T13:00:00.123000Z');
    expect(timestampMillis(written)).toBe(Date.parse('2026-11-22T13:00:00.123Z'));
    expect(timestampMillis('not a time')).toBeUndefined();
  });
});
