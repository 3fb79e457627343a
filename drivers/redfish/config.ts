/**
 * Redfish configuration from the redfish section of the configuration and one mapping file, checked when the
 * function starts: a BMC
 * list with addresses, trust and credentials, and the nodes the file maps. Secrets only ever come from files
 * (a mounted `kubernetes.io/basic-auth` Secret: a directory with `username` and `password`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { REDFISH_ENV, type RedfishSettings } from '../../functions/config.js';
import { parseYaml, YamlSyntaxError } from '../../functions/lib/yaml.js';
import type { BmcSettings } from './bmc-pool.js';
import type { CredentialSource, Credentials } from './client/bmc-client.js';
import type { MappingEntry } from './mapping.js';
import type { RedfishDriverOptions } from './redfish-driver.js';

/** The configuration is missing, contradictory or unsafe; the message says what to fix. */
export class RedfishConfigError extends Error {
  override name = 'RedfishConfigError';
}

/** Where `loadRedfishConfig` reads from; tests inject it. */
export interface LoadRedfishConfigOptions {
  /** The redfish section of the configuration. */
  settings: RedfishSettings;
  /** Reads a file as UTF-8; throws when it cannot. Default `fs.readFileSync`. */
  readFile?: (path: string) => string;
}

/** What the driver is built from, plus what the start-up log may say about it (never a secret). */
export interface RedfishConfig
  extends Pick<RedfishDriverOptions, 'bmcs' | 'nodes' | 'nodeKeyPrefix' | 'requestTimeoutMs'> {
  bmcs: BmcSettings[];
  nodes: MappingEntry[];
  /** The mapping file. */
  source: string;
}

export { REDFISH_ENV };

// A label value (the names travel in node labels): RFC 1123-ish, at most 63 characters.
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

const bmcSchema = z.strictObject({
  address: z.string(),
  credentials: z.string().optional(),
  caBundle: z.string().optional(),
  tlsServerName: z.string().optional(),
  insecure: z.boolean().optional(),
  auth: z.enum(['basic', 'session']).optional(),
});

const nodeSchema = z
  .strictObject({
    node: z.string().min(1).optional(),
    providerID: z.string().min(1).optional(),
    bmc: z.string().min(1),
    system: z.string().min(1).optional(),
  })
  .refine((entry) => (entry.node === undefined) !== (entry.providerID === undefined), {
    message: 'give exactly one of node and providerID',
  })
  .refine((entry) => entry.system === undefined || !entry.system.includes('/'), {
    message: 'a system id is one path segment (the Id of /redfish/v1/Systems/<Id>)',
    path: ['system'],
  });

const mappingSchema = z.strictObject({
  bmcs: z.record(z.string(), bmcSchema),
  nodes: z.array(nodeSchema).default([]),
});

/**
 * Reads the Redfish configuration: `ALERTFENCE_REDFISH_MAPPING` names the mapping file (BMCs and nodes), and
 * the other `ALERTFENCE_REDFISH_*` variables (the redfish section) give the shared defaults. Throws `RedfishConfigError` naming the
 * variable or the key to fix; every file named is read now, so a missing Secret stops the start.
 *
 * @example
 * // ALERTFENCE_REDFISH_MAPPING=/etc/alertfence/redfish/mapping.yaml
 * // ALERTFENCE_REDFISH_CREDENTIALS=/etc/alertfence/redfish/credentials
 * const driver = createRedfishDriver({ ...loadRedfishConfig({ settings: config.redfish }), log });
 */
export function loadRedfishConfig(options: LoadRedfishConfigOptions): RedfishConfig {
  const { settings } = options;
  const read = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));

  const mappingPath = settings.mapping;
  if (mappingPath === undefined) {
    throw new RedfishConfigError(
      `${REDFISH_ENV.mapping} is not set: name the mapping file of BMCs and nodes (example: infra/redfish/mapping.example.yaml)`,
    );
  }
  const mapping = parseMapping(mappingPath, readFileNamed(read, mappingPath, REDFISH_ENV.mapping));

  const { auth, insecure } = settings;
  const sharedCaPath = settings.caBundle;
  const sharedCa = sharedCaPath === undefined ? undefined : readCa(read, sharedCaPath, REDFISH_ENV.caBundle);
  const sharedCredentialsDir = settings.credentials;
  const sharedCredentials =
    sharedCredentialsDir === undefined
      ? undefined
      : credentialFiles(sharedCredentialsDir, read, REDFISH_ENV.credentials);

  const bmcs: BmcSettings[] = [];
  for (const [name, bmc] of Object.entries(mapping.bmcs)) {
    const where = `${mappingPath}: bmcs.${name}`;
    if (!NAME.test(name)) {
      throw new RedfishConfigError(
        `${where}: a BMC name is a label value (letters, digits, '-', '_', '.', at most 63), since nodes name it in a label`,
      );
    }
    const credentials =
      bmc.credentials === undefined
        ? sharedCredentials
        : credentialFiles(bmc.credentials, read, `${where}.credentials`);
    if (!credentials) {
      throw new RedfishConfigError(
        `${where}: no credentials; set its credentials: (a directory with username and password files) or ${REDFISH_ENV.credentials}`,
      );
    }
    const ca = bmc.caBundle === undefined ? sharedCa : readCa(read, bmc.caBundle, `${where}.caBundle`);
    const bmcInsecure = bmc.insecure ?? insecure;
    if (bmcInsecure && (ca !== undefined || bmc.tlsServerName !== undefined)) {
      throw new RedfishConfigError(
        `${where}: insecure TLS and a CA bundle or TLS server name contradict each other; keep the CA bundle`,
      );
    }
    bmcs.push({
      name,
      address: addressOf(bmc.address, `${where}.address`),
      credentials,
      auth: bmc.auth ?? auth,
      ...(ca === undefined ? {} : { ca }),
      ...(bmc.tlsServerName === undefined ? {} : { tlsServerName: bmc.tlsServerName }),
      ...(bmcInsecure ? { insecure: true } : {}),
    });
  }
  if (bmcs.length === 0) throw new RedfishConfigError(`${mappingPath}: bmcs: configure at least one BMC`);

  const seen = new Map<string, number>();
  mapping.nodes.forEach((entry, index) => {
    const where = `${mappingPath}: nodes[${index}]`;
    if (!mapping.bmcs[entry.bmc]) {
      throw new RedfishConfigError(
        `${where}: bmc ${entry.bmc} is not one of bmcs (${Object.keys(mapping.bmcs).join(', ')})`,
      );
    }
    const key = entry.node !== undefined ? `node ${entry.node}` : `providerID ${entry.providerID}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new RedfishConfigError(
        `${where}: ${key} is already mapped by nodes[${first}]; a node has one entry`,
      );
    }
    seen.set(key, index);
  });

  return {
    bmcs,
    nodes: mapping.nodes.map((entry) => ({
      bmc: entry.bmc,
      ...(entry.node === undefined ? {} : { node: entry.node }),
      ...(entry.providerID === undefined ? {} : { providerID: entry.providerID }),
      ...(entry.system === undefined ? {} : { system: entry.system }),
    })),
    nodeKeyPrefix: settings.nodeKeyPrefix,
    ...(settings.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: settings.requestTimeoutMs }),
    source: mappingPath,
  };
}

/**
 * The account in `dir/username` and `dir/password`, as a mounted `kubernetes.io/basic-auth` Secret holds it.
 * Read now (a missing file stops the start) and again when a BMC refuses it, so a rotated Secret is picked up.
 */
export function credentialFiles(dir: string, read: (path: string) => string, what: string): CredentialSource {
  const load = (): Credentials => {
    const value = (name: 'username' | 'password') => {
      const path = join(dir, name);
      // One trailing newline is the file's, not the secret's; anything else is kept as written.
      const text = readFileNamed(read, path, what).replace(/\r?\n$/, '');
      if (text === '') throw new RedfishConfigError(`${what}: ${path} is empty`);
      return text;
    };
    return { username: value('username'), password: value('password') };
  };
  let current = load();
  return {
    current: () => current,
    reload: () => {
      try {
        current = load();
      } catch {
        // Mid-rotation: keep the account we have; the BMC's answer will say whether it still works.
      }
      return current;
    },
  };
}

function parseMapping(path: string, text: string): z.infer<typeof mappingSchema> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    if (!(error instanceof YamlSyntaxError)) throw error;
    throw new RedfishConfigError(`${path} is not valid YAML${error.where}`);
  }
  const parsed = mappingSchema.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`,
    );
    throw new RedfishConfigError(`${path} is not a valid Redfish mapping:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

function readFileNamed(read: (path: string) => string, path: string, what: string): string {
  try {
    return read(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    // Never echo a value that is not a path: it may be a secret set in the wrong variable.
    const shown = /[\n,]/.test(path) || path.length > 256 ? 'the file it names' : path;
    throw new RedfishConfigError(`${what}: cannot read ${shown} (${code}); it holds a path to a file`, {
      cause: error,
    });
  }
}

function readCa(read: (path: string) => string, path: string, what: string): string {
  const pem = readFileNamed(read, path, what);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RedfishConfigError(`${what}: ${path} holds no PEM certificate`);
  }
  return pem;
}

function addressOf(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RedfishConfigError(`${where}: ${text} is not a URL; use https://<host>[:<port>]`);
  }
  if (url.protocol !== 'https:') {
    throw new RedfishConfigError(
      `${where}: ${text} is not https: Redfish over plain HTTP sends the BMC password in clear`,
    );
  }
  if (
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.hash ||
    url.username ||
    url.password
  ) {
    throw new RedfishConfigError(
      `${where}: ${url.origin} only, no path or credentials (the Redfish root /redfish/v1 is fixed; credentials come from files)`,
    );
  }
  return url.origin;
}
