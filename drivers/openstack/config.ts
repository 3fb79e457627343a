// Over 300 lines: openstacksdk's whole lookup (clouds.yaml, secure.yaml, the openrc settings, secret files) with its checks in one reader.
/**
 * OpenStack configuration the way every OpenStack tool reads it: a `clouds.yaml` entry named by `OS_CLOUD`,
 * or the `OS_*` variables of an openrc file (both read by the openstack section of `functions/config/`).
 * Secrets may also come from files (`OS_PASSWORD_FILE`, `OS_APPLICATION_CREDENTIAL_SECRET_FILE`), the way
 * Kubernetes and OpenFaaS mount them.
 */

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { OpenStackSettings, SecretSource } from '../../functions/config.js';
import { parseYaml, YamlSyntaxError } from '../../functions/lib/yaml.js';
import type { DomainRef, EndpointInterface, KeystoneCredentials } from './client/keystone.js';

/** What the driver needs from the OpenStack configuration. */
export interface OpenStackConfig {
  authUrl: string;
  credentials: KeystoneCredentials;
  region?: string;
  interface?: EndpointInterface;
  /** Where it came from, for the start-up log (never includes a secret). */
  source: string;
}

/** The configuration is missing, contradictory or unsupported; the message says what to fix. */
export class OpenStackConfigError extends Error {
  override name = 'OpenStackConfigError';
}

/** Where `loadOpenStackConfig` reads from; tests inject all of it. */
export interface LoadOpenStackConfigOptions {
  /** The openstack section of the configuration. */
  settings: OpenStackSettings;
  /** Reads a file, or returns undefined when it does not exist. Default: `fs.readFileSync`. */
  readFile?: (path: string) => string | undefined;
  homeDir?: string;
  cwd?: string;
}

/**
 * Reads the OpenStack configuration: the `clouds.yaml` cloud named by `OS_CLOUD` when set, else the `OS_*`
 * variables (both as the openstack section of the configuration gives them). Throws `OpenStackConfigError` with a message that names the setting to fix.
 *
 * `clouds.yaml` is searched where openstacksdk searches: `OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
 * `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`; a `secure.yaml` beside it (or at
 * `OS_CLIENT_SECURE_FILE`) is merged in.
 *
 * @example
 * // OS_CLOUD=prod with an application credential in ~/.config/openstack/clouds.yaml
 * const config = loadOpenStackConfig({ settings: config.openstack });
 * const driver = createOpenStackDriver(config);
 */
export function loadOpenStackConfig(options: LoadOpenStackConfigOptions): OpenStackConfig {
  const { settings } = options;
  const read = options.readFile ?? readIfExists;
  if (settings.cloud !== undefined) return fromCloudsYaml(settings.cloud, settings, read, options);
  return fromOpenrc(settings, read);
}

/** A cloud entry reduced to the settings alertfence reads; the names are those of `clouds.yaml`. */
interface CloudSettings {
  auth_type?: string;
  auth_url?: string;
  username?: string;
  user_id?: string;
  password?: string;
  user_domain_name?: string;
  user_domain_id?: string;
  project_name?: string;
  project_id?: string;
  project_domain_name?: string;
  project_domain_id?: string;
  domain_name?: string;
  domain_id?: string;
  application_credential_id?: string;
  application_credential_name?: string;
  application_credential_secret?: string;
  region_name?: string;
  interface?: string;
  identity_api_version?: string;
  cacert?: string;
  verify?: string;
}

function fromCloudsYaml(
  cloudName: string,
  env: OpenStackSettings,
  read: (path: string) => string | undefined,
  options: LoadOpenStackConfigOptions,
): OpenStackConfig {
  const cwd = options.cwd ?? process.cwd();
  const home = options.homeDir ?? homedir();
  const dirs = [cwd, join(home, '.config', 'openstack'), '/etc/openstack'];
  const cloudsFiles = [env.cloudsFile, ...dirs.map((d) => join(d, 'clouds.yaml'))];
  const secureFiles = [env.secureFile, ...dirs.map((d) => join(d, 'secure.yaml'))];

  const clouds = firstFile(cloudsFiles, read);
  if (!clouds) {
    throw new OpenStackConfigError(
      `OS_CLOUD=${cloudName} but no clouds.yaml was found (looked at ${cloudsFiles.filter(Boolean).join(', ')})`,
    );
  }
  const entry = cloudEntry(clouds.path, clouds.text, cloudName);
  if (!entry) throw new OpenStackConfigError(`${clouds.path} has no cloud named ${cloudName}`);
  const secure = firstFile(secureFiles, read);
  const secret = secure ? cloudEntry(secure.path, secure.text, cloudName) : undefined;

  const settings: CloudSettings = { ...flatten(entry), ...(secret ? flatten(secret) : {}) };
  // Secrets kept out of clouds.yaml (a ConfigMap) can come from the environment or a mounted file.
  settings.password ??= secretOf(env.password, 'OS_PASSWORD', read);
  settings.application_credential_secret ??= secretOf(
    env.applicationCredentialSecret,
    'OS_APPLICATION_CREDENTIAL_SECRET',
    read,
  );
  return build(
    settings,
    `clouds.yaml ${clouds.path}, cloud ${cloudName}${secure ? ` (+ ${secure.path})` : ''}`,
    env,
  );
}

function fromOpenrc(env: OpenStackSettings, read: (path: string) => string | undefined): OpenStackConfig {
  const settings: CloudSettings = { ...env.openrc };
  settings.password = secretOf(env.password, 'OS_PASSWORD', read);
  settings.application_credential_secret = secretOf(
    env.applicationCredentialSecret,
    'OS_APPLICATION_CREDENTIAL_SECRET',
    read,
  );
  if (env.insecure) settings.verify = 'false';
  if (settings.auth_url === undefined) {
    throw new OpenStackConfigError(
      'no OpenStack configuration: set OS_CLOUD (with a clouds.yaml) or OS_AUTH_URL and the other OS_* variables',
    );
  }
  return build(settings, 'OS_* environment variables', env);
}

function build(s: CloudSettings, source: string, env: OpenStackSettings): OpenStackConfig {
  const where = `(${source})`;
  if (!s.auth_url) throw new OpenStackConfigError(`auth_url is missing ${where}`);
  if (s.identity_api_version !== undefined && !/^3(\.\d+)?$/.test(s.identity_api_version)) {
    throw new OpenStackConfigError(
      `identity_api_version ${s.identity_api_version} is not supported ${where}: alertfence speaks Keystone v3 only`,
    );
  }
  if (s.verify !== undefined && /^(false|no|0)$/i.test(s.verify)) {
    throw new OpenStackConfigError(
      `TLS verification cannot be turned off ${where}; give the cloud's CA with NODE_EXTRA_CA_CERTS instead`,
    );
  }
  if (s.cacert !== undefined && env.extraCaCerts !== s.cacert) {
    // Node's fetch reads extra CAs once, at process start, from NODE_EXTRA_CA_CERTS only.
    throw new OpenStackConfigError(
      `cacert ${s.cacert} is set ${where}, but Node's fetch only trusts extra CAs from NODE_EXTRA_CA_CERTS: set NODE_EXTRA_CA_CERTS=${s.cacert}`,
    );
  }
  const config: OpenStackConfig = { authUrl: s.auth_url, credentials: credentialsOf(s, where), source };
  if (s.region_name) config.region = s.region_name;
  const iface = interfaceOf(s.interface, where);
  if (iface) config.interface = iface;
  return config;
}

function credentialsOf(s: CloudSettings, where: string): KeystoneCredentials {
  const authType = (s.auth_type ?? inferAuthType(s)).toLowerCase().replace(/[-_]/g, '');
  if (authType === 'v3applicationcredential' || authType === 'applicationcredential') {
    if (!s.application_credential_secret) {
      throw new OpenStackConfigError(
        `application_credential_secret is missing ${where} (or set OS_APPLICATION_CREDENTIAL_SECRET_FILE)`,
      );
    }
    if (s.project_id || s.project_name) {
      // Keystone rejects a scope in an application-credential request: the credential carries its project.
      throw new OpenStackConfigError(
        `an application credential is bound to its project; remove project_name/project_id ${where}`,
      );
    }
    if (s.application_credential_id) {
      return {
        method: 'application_credential',
        credential: { id: s.application_credential_id },
        secret: s.application_credential_secret,
      };
    }
    if (s.application_credential_name) {
      return {
        method: 'application_credential',
        credential: {
          name: s.application_credential_name,
          user: userOf(s, where, 'an application credential name'),
        },
        secret: s.application_credential_secret,
      };
    }
    throw new OpenStackConfigError(
      `application_credential_id or application_credential_name is missing ${where}`,
    );
  }
  if (authType === 'password' || authType === 'v3password') {
    if (!s.password) throw new OpenStackConfigError(`password is missing ${where} (or set OS_PASSWORD_FILE)`);
    let project: Extract<KeystoneCredentials, { method: 'password' }>['project'];
    if (s.project_id) project = { id: s.project_id };
    else if (s.project_name) {
      const domain = domainOf(s.project_domain_id ?? s.domain_id, s.project_domain_name ?? s.domain_name);
      if (!domain) {
        throw new OpenStackConfigError(
          `project_domain_name or project_domain_id is missing for project ${s.project_name} ${where}`,
        );
      }
      project = { name: s.project_name, domain };
    } else {
      throw new OpenStackConfigError(
        `project_name or project_id is missing ${where}: the driver needs a project-scoped token`,
      );
    }
    return { method: 'password', user: userOf(s, where, 'a user name'), password: s.password, project };
  }
  throw new OpenStackConfigError(
    `auth_type ${s.auth_type} is not supported ${where}: use v3applicationcredential (recommended) or password`,
  );
}

function inferAuthType(s: CloudSettings): string {
  return s.application_credential_secret !== undefined ||
    s.application_credential_id !== undefined ||
    s.application_credential_name !== undefined
    ? 'v3applicationcredential'
    : 'password';
}

function userOf(
  s: CloudSettings,
  where: string,
  why: string,
): { id: string } | { name: string; domain: DomainRef } {
  if (s.user_id) return { id: s.user_id };
  if (!s.username) throw new OpenStackConfigError(`username or user_id is missing ${where}`);
  const domain = domainOf(s.user_domain_id ?? s.domain_id, s.user_domain_name ?? s.domain_name);
  if (!domain) {
    throw new OpenStackConfigError(
      `user_domain_name or user_domain_id is missing ${where}: ${why} is only unique within a domain (often "Default")`,
    );
  }
  return { name: s.username, domain };
}

function domainOf(id: string | undefined, name: string | undefined): DomainRef | undefined {
  if (id) return { id };
  if (name) return { name };
  return undefined;
}

function interfaceOf(value: string | undefined, where: string): EndpointInterface | undefined {
  if (value === undefined) return undefined;
  // Older openrc files say publicURL / internalURL (the Keystone v2 names).
  const normalised = value.toLowerCase().replace(/url$/, '');
  if (normalised === 'public' || normalised === 'internal' || normalised === 'admin') return normalised;
  throw new OpenStackConfigError(`interface ${value} is not public, internal or admin ${where}`);
}

/** A secret given inline, or read from the file named by `NAME_FILE`. */
function secretOf(
  source: SecretSource | undefined,
  name: string,
  read: (path: string) => string | undefined,
): string | undefined {
  if (source === undefined || 'value' in source) return source?.value;
  const text = read(source.file);
  if (text === undefined) {
    throw new OpenStackConfigError(`${name}_FILE names ${source.file}, which does not exist`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (!secret) throw new OpenStackConfigError(`${name}_FILE names ${source.file}, which is empty`);
  return secret;
}

function cloudEntry(path: string, text: string, cloudName: string): Record<string, unknown> | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    if (!(error instanceof YamlSyntaxError)) throw error;
    throw new OpenStackConfigError(`${path} is not valid YAML${error.where}`);
  }
  if (!isRecord(doc) || !isRecord(doc.clouds)) {
    throw new OpenStackConfigError(`${path} has no top-level "clouds:" map`);
  }
  const entry = doc.clouds[cloudName];
  if (entry === undefined) return undefined;
  if (!isRecord(entry)) throw new OpenStackConfigError(`${path}: cloud ${cloudName} is not a map`);
  return entry;
}

/** The `auth:` block and the top level of a cloud entry as one flat map of strings. */
function flatten(entry: Record<string, unknown>): CloudSettings {
  const out: Record<string, string> = {};
  const take = (source: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(source)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        out[key] = String(value);
      }
    }
  };
  take(entry);
  if (isRecord(entry.auth)) take(entry.auth);
  if (out.endpoint_type !== undefined && out.interface === undefined) out.interface = out.endpoint_type;
  if (out.tenant_name !== undefined && out.project_name === undefined) out.project_name = out.tenant_name;
  if (out.tenant_id !== undefined && out.project_id === undefined) out.project_id = out.tenant_id;
  return out;
}

function firstFile(
  paths: readonly (string | undefined)[],
  read: (path: string) => string | undefined,
): { path: string; text: string } | undefined {
  for (const path of paths) {
    if (path === undefined) continue;
    const text = read(path);
    if (text !== undefined) return { path, text };
  }
  return undefined;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OpenStackConfigError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
