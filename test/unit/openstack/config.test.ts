import { describe, expect, it } from 'vitest';
import { loadOpenStackConfig, OpenStackConfigError } from '../../../drivers/openstack/config.js';
import { openStackSection } from '../../../functions/config/openstack.js';
import { ConfigError, readSection } from '../../../functions/config.js';

const HOME = '/home/fn';
const CWD = '/srv/app';

/** A read-only file system of a few files. */
function files(entries: Record<string, string>) {
  return (path: string): string | undefined => entries[path];
}

function load(env: Record<string, string>, fs: Record<string, string> = {}) {
  // The variables as the function reads them at start (the openstack section), then the files they name.
  const settings = readSection(openStackSection, env);
  return loadOpenStackConfig({ settings, readFile: files(fs), homeDir: HOME, cwd: CWD });
}

function failure(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

const APP_CRED_CLOUDS = `
clouds:
  prod:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.com:5000/v3
      application_credential_id: 4a3b
      application_credential_secret: s3cret
    region_name: RegionOne
    interface: internal
    identity_api_version: 3
`;

describe('loadOpenStackConfig from clouds.yaml', () => {
  it('should read an application credential by id from ~/.config/openstack/clouds.yaml', () => {
    // Act
    const config = load({ OS_CLOUD: 'prod' }, { [`${HOME}/.config/openstack/clouds.yaml`]: APP_CRED_CLOUDS });

    // Assess
    expect(config).toEqual({
      authUrl: 'https://keystone.example.com:5000/v3',
      credentials: { method: 'application_credential', credential: { id: '4a3b' }, secret: 's3cret' },
      region: 'RegionOne',
      interface: 'internal',
      source: `clouds.yaml ${HOME}/.config/openstack/clouds.yaml, cloud prod`,
    });
  });

  it('should prefer OS_CLIENT_CONFIG_FILE, then ./clouds.yaml, over the user and system files', () => {
    // Prepare
    const other = APP_CRED_CLOUDS.replace('4a3b', 'from-etc');
    const fs = {
      '/var/openfaas/secrets/clouds.yaml': APP_CRED_CLOUDS,
      [`${CWD}/clouds.yaml`]: APP_CRED_CLOUDS.replace('4a3b', 'from-cwd'),
      '/etc/openstack/clouds.yaml': other,
    };

    // Act
    const explicit = load(
      { OS_CLOUD: 'prod', OS_CLIENT_CONFIG_FILE: '/var/openfaas/secrets/clouds.yaml' },
      fs,
    );
    const local = load({ OS_CLOUD: 'prod' }, fs);

    // Assess
    expect(explicit.credentials).toMatchObject({ credential: { id: '4a3b' } });
    expect(local.credentials).toMatchObject({ credential: { id: 'from-cwd' } });
  });

  it('should merge the secret from secure.yaml', () => {
    // Prepare
    const clouds = APP_CRED_CLOUDS.replace('      application_credential_secret: s3cret\n', '');
    const secure = 'clouds:\n  prod:\n    auth:\n      application_credential_secret: from-secure\n';

    // Act
    const config = load(
      { OS_CLOUD: 'prod' },
      { '/etc/openstack/clouds.yaml': clouds, '/etc/openstack/secure.yaml': secure },
    );

    // Assess
    expect(config.credentials).toEqual({
      method: 'application_credential',
      credential: { id: '4a3b' },
      secret: 'from-secure',
    });
    expect(config.source).toContain('+ /etc/openstack/secure.yaml');
  });

  it('should take a secret missing from clouds.yaml from OS_APPLICATION_CREDENTIAL_SECRET_FILE', () => {
    // Prepare
    const clouds = APP_CRED_CLOUDS.replace('      application_credential_secret: s3cret\n', '');

    // Act
    const config = load(
      { OS_CLOUD: 'prod', OS_APPLICATION_CREDENTIAL_SECRET_FILE: '/var/openfaas/secrets/os-secret' },
      { '/etc/openstack/clouds.yaml': clouds, '/var/openfaas/secrets/os-secret': 'from-file\n' },
    );

    // Assess
    expect(config.credentials).toMatchObject({ secret: 'from-file' });
  });

  it('should read a password cloud with domain defaults for user and project', () => {
    // Prepare
    const clouds = `
clouds:
  lab:
    auth:
      auth_url: https://lab.example.com:5000
      username: fencer
      password: pw
      project_name: k8s
      domain_name: Default
    region_name: Lab
`;

    // Act
    const config = load({ OS_CLOUD: 'lab' }, { '/etc/openstack/clouds.yaml': clouds });

    // Assess
    expect(config.credentials).toEqual({
      method: 'password',
      user: { name: 'fencer', domain: { name: 'Default' } },
      password: 'pw',
      project: { name: 'k8s', domain: { name: 'Default' } },
    });
  });

  it('should read an application credential by name with its user', () => {
    // Prepare
    const clouds = `
clouds:
  prod:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.com:5000/v3
      application_credential_name: alertfence
      application_credential_secret: s3cret
      username: fencer
      user_domain_id: default
`;

    // Act
    const config = load({ OS_CLOUD: 'prod' }, { '/etc/openstack/clouds.yaml': clouds });

    // Assess
    expect(config.credentials).toEqual({
      method: 'application_credential',
      credential: { name: 'alertfence', user: { name: 'fencer', domain: { id: 'default' } } },
      secret: 's3cret',
    });
  });

  it.each([
    [{}, /no clouds.yaml was found/],
    [{ '/etc/openstack/clouds.yaml': 'clouds:\n  other: {}\n' }, /has no cloud named prod/],
    [{ '/etc/openstack/clouds.yaml': 'clouds: [\n' }, /is not valid YAML/],
    // The parser's message quotes the offending line; a password must never reach a log that way.
    [
      { '/etc/openstack/clouds.yaml': 'clouds:\n  prod: { auth: { password: hunter2-secret }\n' },
      /^(?!.*hunter2).*not valid YAML at line/,
    ],
    [{ '/etc/openstack/clouds.yaml': 'prod: {}\n' }, /no top-level "clouds:" map/],
    [
      {
        '/etc/openstack/clouds.yaml': APP_CRED_CLOUDS.replace(
          'identity_api_version: 3',
          'identity_api_version: 2',
        ),
      },
      /identity_api_version 2 is not supported/,
    ],
    [
      {
        '/etc/openstack/clouds.yaml': APP_CRED_CLOUDS.replace(
          '    region_name',
          '    verify: false\n    region_name',
        ),
      },
      /TLS verification cannot be turned off/,
    ],
    [
      {
        '/etc/openstack/clouds.yaml': APP_CRED_CLOUDS.replace(
          '      application_credential_id: 4a3b',
          '      application_credential_id: 4a3b\n      project_name: k8s',
        ),
      },
      /an application credential is bound to its project/,
    ],
    [
      {
        '/etc/openstack/clouds.yaml': APP_CRED_CLOUDS.replace(
          '    region_name',
          '    cacert: /ca.pem\n    region_name',
        ),
      },
      /set NODE_EXTRA_CA_CERTS=\/ca.pem/,
    ],
  ])('should refuse %j with a message that says what to fix', (fs, message) => {
    // Act
    const error = failure(() => load({ OS_CLOUD: 'prod' }, fs));

    // Assess
    expect(error).toBeInstanceOf(OpenStackConfigError);
    expect(error.name).toBe('OpenStackConfigError');
    expect(error.message).toMatch(message);
  });
});

describe('loadOpenStackConfig from OS_* variables', () => {
  const OPENRC = {
    OS_AUTH_URL: 'https://keystone.example.com:5000/v3',
    OS_USERNAME: 'fencer',
    OS_PASSWORD: 'pw',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_NAME: 'k8s',
    OS_PROJECT_DOMAIN_ID: 'default',
    OS_REGION_NAME: 'RegionOne',
    OS_INTERFACE: 'public',
    OS_IDENTITY_API_VERSION: '3',
  };

  it('should read an openrc file', () => {
    // Act
    const config = load(OPENRC);

    // Assess
    expect(config).toEqual({
      authUrl: 'https://keystone.example.com:5000/v3',
      credentials: {
        method: 'password',
        user: { name: 'fencer', domain: { name: 'Default' } },
        password: 'pw',
        project: { name: 'k8s', domain: { id: 'default' } },
      },
      region: 'RegionOne',
      interface: 'public',
      source: 'OS_* environment variables',
    });
  });

  it('should read an application credential and its secret from a file', () => {
    // Act
    const config = load(
      {
        OS_AUTH_TYPE: 'v3applicationcredential',
        OS_AUTH_URL: 'https://keystone.example.com:5000',
        OS_APPLICATION_CREDENTIAL_ID: '4a3b',
        OS_APPLICATION_CREDENTIAL_SECRET_FILE: '/run/secrets/os',
      },
      { '/run/secrets/os': 'from-file\n' },
    );

    // Assess
    expect(config.credentials).toEqual({
      method: 'application_credential',
      credential: { id: '4a3b' },
      secret: 'from-file',
    });
  });

  it('should infer the application-credential method when OS_AUTH_TYPE is unset', () => {
    // Act
    const config = load({
      OS_AUTH_URL: 'https://keystone.example.com:5000',
      OS_APPLICATION_CREDENTIAL_ID: '4a3b',
      OS_APPLICATION_CREDENTIAL_SECRET: 'x',
    });

    // Assess
    expect(config.credentials.method).toBe('application_credential');
  });

  it.each([
    ['publicURL', 'public'],
    ['internalURL', 'internal'],
    ['internal', 'internal'],
  ])('should read the interface %s as %s', (value, iface) => {
    expect(load({ ...OPENRC, OS_INTERFACE: value }).interface).toBe(iface);
  });

  it('should accept the legacy tenant names and OS_ENDPOINT_TYPE', () => {
    // Prepare
    const { OS_PROJECT_NAME: _, OS_INTERFACE: __, ...rest } = OPENRC;

    // Act
    const config = load({ ...rest, OS_TENANT_NAME: 'k8s', OS_ENDPOINT_TYPE: 'internalURL' });

    // Assess
    expect(config.credentials).toMatchObject({ project: { name: 'k8s' } });
    expect(config.interface).toBe('internal');
  });

  it.each([
    [{}, /set OS_CLOUD \(with a clouds.yaml\) or OS_AUTH_URL/],
    [{ ...OPENRC, OS_PASSWORD: '', OS_PASSWORD_FILE: '/run/secrets/missing' }, /which does not exist/],
    [{ ...OPENRC, OS_PASSWORD: '' }, /password is missing/],
    [{ ...OPENRC, OS_USER_DOMAIN_NAME: '' }, /user_domain_name or user_domain_id is missing/],
    [{ ...OPENRC, OS_PROJECT_NAME: '' }, /project_name or project_id is missing/],
    [{ ...OPENRC, OS_INTERFACE: 'private' }, /interface private is not public, internal or admin/],
    [{ ...OPENRC, OS_AUTH_TYPE: 'token' }, /auth_type token is not supported/],
    [{ ...OPENRC, OS_INSECURE: 'true' }, /TLS verification cannot be turned off/],
  ])('should refuse %j with a message that says what to fix', (env, message) => {
    // Act
    const error = failure(() => load(env));

    // Assess
    expect(error).toBeInstanceOf(OpenStackConfigError);
    expect(error.message).toMatch(message);
  });

  it.each([
    [
      { ...OPENRC, OS_PASSWORD_FILE: '/run/secrets/pw' },
      /OS_PASSWORD: both OS_PASSWORD and OS_PASSWORD_FILE are set/,
    ],
    [{ ...OPENRC, OS_INSECURE: 'maybe' }, /OS_INSECURE must be true or false/],
  ])('should refuse %j in the openstack section, naming the variable', (env, message) => {
    // Act
    const error = failure(() => load(env));

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(message);
  });
});
