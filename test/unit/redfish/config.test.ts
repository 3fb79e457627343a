import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadRedfishConfig, RedfishConfigError } from '../../../drivers/redfish/index.js';
import { redfishSection } from '../../../functions/config/redfish.js';
import { ConfigError, loadConfig, readSection } from '../../../functions/config.js';
import { driversFromConfig } from '../../../functions/runtimes/assemble.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

const MAPPING = `
bmcs:
  rack1-node1:
    address: https://10.0.1.11
  chassis-a:
    address: https://bmc-a.example:8443
    credentials: /secrets/chassis-a
    caBundle: /etc/chassis-ca.pem
    tlsServerName: bmc-a.internal
    auth: session
nodes:
  - node: worker-1
    bmc: rack1-node1
    system: System.Embedded.1
  - providerID: metal3://machines/host-2/m3m-2
    bmc: chassis-a
    system: Blade2
`;

/** Files of a typical deployment: the mapping, a shared Secret, one per-BMC Secret and CA bundles. */
function files(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    '/etc/redfish/mapping.yaml': MAPPING,
    '/secrets/shared/username': 'fencer\n',
    '/secrets/shared/password': ' p4ss, word \n',
    '/secrets/chassis-a/username': 'chassis-fencer',
    '/secrets/chassis-a/password': 's3cret',
    '/etc/chassis-ca.pem': PEM,
    '/etc/shared-ca.pem': PEM,
    ...overrides,
  };
}

function load(env: Record<string, string>, fileMap = files()) {
  return loadRedfishConfig({
    // The variables as the function reads them at start (the redfish section), then the files they name.
    settings: readSection(redfishSection, {
      ALERTFENCE_REDFISH_MAPPING: '/etc/redfish/mapping.yaml',
      ALERTFENCE_REDFISH_CREDENTIALS: '/secrets/shared',
      ...env,
    }),
    readFile: (path) => {
      const text = fileMap[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return text;
    },
  });
}

describe('loadRedfishConfig', () => {
  it('should read BMCs, per-BMC and shared credentials, trust and the node entries', () => {
    // Prepare
    const env = {
      ALERTFENCE_REDFISH_CA_BUNDLE: '/etc/shared-ca.pem',
      ALERTFENCE_REDFISH_REQUEST_TIMEOUT: '15s',
    };

    // Act
    const config = load(env);

    // Assess
    const [rack, chassis] = config.bmcs;
    expect(rack).toMatchObject({ name: 'rack1-node1', address: 'https://10.0.1.11', auth: 'basic', ca: PEM });
    // One trailing newline is the file's; the rest of the password, spaces and comma included, is kept.
    expect(rack?.credentials.current()).toEqual({ username: 'fencer', password: ' p4ss, word ' });
    expect(chassis).toMatchObject({
      name: 'chassis-a',
      address: 'https://bmc-a.example:8443',
      auth: 'session',
      tlsServerName: 'bmc-a.internal',
    });
    expect(chassis?.credentials.current()).toEqual({ username: 'chassis-fencer', password: 's3cret' });
    expect(config.nodes).toEqual([
      { node: 'worker-1', bmc: 'rack1-node1', system: 'System.Embedded.1' },
      { providerID: 'metal3://machines/host-2/m3m-2', bmc: 'chassis-a', system: 'Blade2' },
    ]);
    expect(config.nodeKeyPrefix).toBe('redfish.alertfence.io/');
    expect(config.requestTimeoutMs).toBe(15_000);
  });

  it('should read the account again on reload, and keep the old one while a rotation is half written', () => {
    // Prepare
    const fileMap = files();
    const config = load({}, fileMap);
    const credentials = config.bmcs[0]?.credentials;
    fileMap['/secrets/shared/password'] = 'rotated\n';

    // Act
    const rotated = credentials?.reload();
    delete fileMap['/secrets/shared/password'];
    const halfWritten = credentials?.reload();

    // Assess
    expect(rotated).toEqual({ username: 'fencer', password: 'rotated' });
    expect(halfWritten).toEqual({ username: 'fencer', password: 'rotated' });
  });

  it.each([
    [
      'no mapping variable',
      { ALERTFENCE_REDFISH_MAPPING: '' },
      files(),
      /ALERTFENCE_REDFISH_MAPPING is not set/,
    ],
    [
      'a mapping file that is missing',
      {},
      files({ '/etc/redfish/mapping.yaml': undefined }),
      /cannot read \/etc\/redfish\/mapping\.yaml \(ENOENT\)/,
    ],
    [
      'a mapping that is not YAML',
      {},
      files({ '/etc/redfish/mapping.yaml': 'bmcs: [' }),
      /is not valid YAML/,
    ],
    [
      'a typo in a key',
      {},
      files({ '/etc/redfish/mapping.yaml': 'bmcs:\n  a:\n    adress: https://x\n' }),
      /bmcs\.a\.address:.*\n.*bmcs\.a: Unrecognized key: "adress"/,
    ],
    [
      'a plain-HTTP BMC',
      {},
      files({ '/etc/redfish/mapping.yaml': 'bmcs:\n  a:\n    address: http://10.0.0.1\n' }),
      /is not https: .*password in clear/,
    ],
    [
      'a BMC address with a path',
      {},
      files({ '/etc/redfish/mapping.yaml': 'bmcs:\n  a:\n    address: https://10.0.0.1/redfish/v1\n' }),
      /https:\/\/10\.0\.0\.1 only, no path/,
    ],
    [
      'a BMC name no label can carry',
      {},
      files({ '/etc/redfish/mapping.yaml': 'bmcs:\n  rack/1:\n    address: https://10.0.0.1\n' }),
      /a BMC name is a label value/,
    ],
    ['no BMC at all', {}, files({ '/etc/redfish/mapping.yaml': 'bmcs: {}\n' }), /configure at least one BMC/],
    [
      'an entry naming both a node and a providerID',
      {},
      files({
        '/etc/redfish/mapping.yaml':
          'bmcs:\n  a:\n    address: https://x\nnodes:\n  - {node: w, providerID: metal3://x, bmc: a}\n',
      }),
      /give exactly one of node and providerID/,
    ],
    [
      'an entry of an unknown BMC',
      {},
      files({
        '/etc/redfish/mapping.yaml': 'bmcs:\n  a:\n    address: https://x\nnodes:\n  - {node: w, bmc: b}\n',
      }),
      /nodes\[0\]: bmc b is not one of bmcs \(a\)/,
    ],
    [
      'a node mapped twice',
      {},
      files({
        '/etc/redfish/mapping.yaml':
          'bmcs:\n  a:\n    address: https://x\nnodes:\n  - {node: w, bmc: a, system: "1"}\n  - {node: w, bmc: a, system: "2"}\n',
      }),
      /nodes\[1\]: node w is already mapped by nodes\[0\]/,
    ],
    [
      'a system id with a slash',
      {},
      files({
        '/etc/redfish/mapping.yaml':
          'bmcs:\n  a:\n    address: https://x\nnodes:\n  - {node: w, bmc: a, system: "x/y"}\n',
      }),
      /system: a system id is one path segment/,
    ],
    [
      'no credentials anywhere',
      { ALERTFENCE_REDFISH_CREDENTIALS: '' },
      files(),
      /bmcs\.rack1-node1: no credentials/,
    ],
    [
      'an empty password file',
      {},
      files({ '/secrets/shared/password': '\n' }),
      /\/secrets\/shared\/password is empty/,
    ],
    [
      'a CA bundle without a certificate',
      { ALERTFENCE_REDFISH_CA_BUNDLE: '/etc/shared-ca.pem' },
      files({ '/etc/shared-ca.pem': 'hello' }),
      /holds no PEM certificate/,
    ],
    [
      'insecure TLS beside a CA bundle',
      { ALERTFENCE_REDFISH_INSECURE: 'true', ALERTFENCE_REDFISH_CA_BUNDLE: '/etc/shared-ca.pem' },
      files(),
      /contradict each other/,
    ],
  ])('should refuse %s with a message that says what to fix', (_what, env, fileMap, message) => {
    // Act
    const loading = () => load(env as Record<string, string>, fileMap);

    // Assess
    expect(loading).toThrow(RedfishConfigError);
    expect(loading).toThrow(message);
  });

  it.each([
    [
      'an unknown auth mode',
      { ALERTFENCE_REDFISH_AUTH: 'digest' },
      /ALERTFENCE_REDFISH_AUTH: must be basic or session/,
    ],
    [
      'a request timeout under a second',
      { ALERTFENCE_REDFISH_REQUEST_TIMEOUT: '500ms' },
      /ALERTFENCE_REDFISH_REQUEST_TIMEOUT: must be at least 1s/,
    ],
    [
      'a node key prefix that is no label prefix',
      { ALERTFENCE_REDFISH_NODE_KEYS: 'Not A Prefix' },
      /ALERTFENCE_REDFISH_NODE_KEYS: must be a label key prefix/,
    ],
    [
      'an insecure switch that is no boolean',
      { ALERTFENCE_REDFISH_INSECURE: 'maybe' },
      /ALERTFENCE_REDFISH_INSECURE must be true or false/,
    ],
  ])('should refuse %s in the redfish section, naming the variable', (_what, env, message) => {
    // Act
    const loading = () => load(env);

    // Assess
    expect(loading).toThrow(ConfigError);
    expect(loading).toThrow(message);
  });

  it('should never echo a secret set where a path belongs', () => {
    // Act
    const loading = () => load({ ALERTFENCE_REDFISH_MAPPING: 'bmcs:,a:,address: https://x' });

    // Assess
    expect(loading).toThrow(
      'ALERTFENCE_REDFISH_MAPPING: cannot read the file it names (ENOENT); it holds a path to a file',
    );
  });

  it('should turn TLS verification off only by explicit opt-in, and read node keys off', () => {
    // Act
    const config = load(
      { ALERTFENCE_REDFISH_INSECURE: 'true', ALERTFENCE_REDFISH_NODE_KEYS: 'off' },
      files({
        '/etc/redfish/mapping.yaml':
          'bmcs:\n  a:\n    address: https://x\n  b:\n    address: https://y\n    insecure: false\n',
      }),
    );

    // Assess
    expect(config.bmcs.map((bmc) => [bmc.name, bmc.insecure ?? false])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(config.nodeKeyPrefix).toBeNull();
  });
});

describe('infra/redfish/mapping.example.yaml', () => {
  it('should be a valid mapping', () => {
    // Prepare: the example, with every file it names standing in.
    const example = readFileSync(
      new URL('../../../infra/redfish/mapping.example.yaml', import.meta.url),
      'utf8',
    );
    const fileMap = files({ '/etc/redfish/mapping.yaml': example });

    // Act
    const config = loadRedfishConfig({
      settings: readSection(redfishSection, {
        ALERTFENCE_REDFISH_MAPPING: '/etc/redfish/mapping.yaml',
        ALERTFENCE_REDFISH_CREDENTIALS: '/secrets/shared',
      }),
      readFile: (path) => {
        const text =
          fileMap[path] ??
          (path.startsWith('/etc/alertfence/redfish/') ? (path.endsWith('.pem') ? PEM : 'x') : undefined);
        if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
        return text;
      },
    });

    // Assess
    expect(config.bmcs.map((bmc) => bmc.name)).toEqual(['rack1-node1', 'rack1-node2', 'chassis-a']);
    expect(config.nodes).toHaveLength(4);
  });
});

describe('the configuration with ALERTFENCE_DRIVERS=redfish', () => {
  it('should stop the start with the missing mapping named', () => {
    // Prepare
    const env = { ALERTFENCE_TOKENS: 'test-token-0123456789abcdef', ALERTFENCE_DRIVERS: 'redfish' };

    // Act
    const building = () => driversFromConfig(loadConfig(env));

    // Assess
    expect(building).toThrow(ConfigError);
    expect(building).toThrow('ALERTFENCE_REDFISH_MAPPING: required with ALERTFENCE_DRIVERS=redfish');
  });

  it('should name a missing mapping file as a Redfish driver problem', () => {
    // Prepare
    const env = {
      ALERTFENCE_TOKENS: 'test-token-0123456789abcdef',
      ALERTFENCE_DRIVERS: 'redfish',
      ALERTFENCE_REDFISH_MAPPING: '/nonexistent/alertfence/mapping.yaml',
    };

    // Act
    const building = () => driversFromConfig(loadConfig(env));

    // Assess
    expect(building).toThrow(ConfigError);
    expect(building).toThrow('Redfish driver: ALERTFENCE_REDFISH_MAPPING: cannot read');
  });
});
