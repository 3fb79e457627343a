// Over 300 lines: every Redfish variable and the mapping file read and checked in one place, each check beside the message naming what to fix; kept whole for the single configuration module of issue #13 item 4.
/**
 * Redfish configuration from the environment and one mapping file, checked when the function starts: a BMC
 * list with addresses, trust and credentials, and the nodes the file maps. Secrets only ever come from files
 * (a mounted `kubernetes.io/basic-auth` Secret: a directory with `username` and `password`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import type { BmcSettings } from './bmc-pool.js';
import type { AuthMode, CredentialSource, Credentials } from './client/bmc-client.js';
import { DEFAULT_NODE_KEY_PREFIX, type MappingEntry } from './mapping.js';
import type { RedfishDriverOptions } from './redfish-driver.js';

/** The configuration is missing, contradictory or unsafe; the message says what to fix. */
export class RedfishConfigError extends Error {
  override name = 'RedfishConfigError';
}

type Env = Record<string, string | undefined>;

/** Where `loadRedfishConfig` reads from; tests inject it. */
export interface LoadRedfishConfigOptions {
  /** Default `process.env`. */
  env?: Env;
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

/** The variables, for messages and the README. */
export const REDFISH_ENV = {
  mapping: 'ALERTFENCE_REDFISH_MAPPING',
  credentials: 'ALERTFENCE_REDFISH_CREDENTIALS',
  caBundle: 'ALERTFENCE_REDFISH_CA_BUNDLE',
  insecure: 'ALERTFENCE_REDFISH_INSECURE',
  auth: 'ALERTFENCE_REDFISH_AUTH',
  nodeKeys: 'ALERTFENCE_REDFISH_NODE_KEYS',
  requestTimeout: 'ALERTFENCE_REDFISH_REQUEST_TIMEOUT',
} as const;

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
 * the other `ALERTFENCE_REDFISH_*` variables give the shared defaults. Throws `RedfishConfigError` naming the
 * variable or the key to fix; every file named is read now, so a missing Secret stops the start.
 *
 * @example
 * // ALERTFENCE_REDFISH_MAPPING=/etc/alertfence/redfish/mapping.yaml
 * // ALERTFENCE_REDFISH_CREDENTIALS=/etc/alertfence/redfish/credentials
 * const driver = createRedfishDriver({ ...loadRedfishConfig(), log });
 */
export function loadRedfishConfig(options: LoadRedfishConfigOptions = {}): RedfishConfig {
  const env = options.env ?? process.env;
  const read = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));

  const mappingPath = nonEmpty(env[REDFISH_ENV.mapping]);
  if (mappingPath === undefined) {
    throw new RedfishConfigError(
      `${REDFISH_ENV.mapping} is not set: name the mapping file of BMCs and nodes (example: infra/redfish/mapping.example.yaml)`,
    );
  }
  const mapping = parseMapping(mappingPath, readFileNamed(read, mappingPath, REDFISH_ENV.mapping));

  const auth = authOf(env[REDFISH_ENV.auth]);
  const insecure = boolOf(env[REDFISH_ENV.insecure], REDFISH_ENV.insecure);
  const sharedCaPath = nonEmpty(env[REDFISH_ENV.caBundle]);
  const sharedCa = sharedCaPath === undefined ? undefined : readCa(read, sharedCaPath, REDFISH_ENV.caBundle);
  const sharedCredentialsDir = nonEmpty(env[REDFISH_ENV.credentials]);
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

  const nodeKeys = nonEmpty(env[REDFISH_ENV.nodeKeys]);
  const timeout = nonEmpty(env[REDFISH_ENV.requestTimeout]);
  return {
    bmcs,
    nodes: mapping.nodes.map((entry) => ({
      bmc: entry.bmc,
      ...(entry.node === undefined ? {} : { node: entry.node }),
      ...(entry.providerID === undefined ? {} : { providerID: entry.providerID }),
      ...(entry.system === undefined ? {} : { system: entry.system }),
    })),
    nodeKeyPrefix:
      nodeKeys === undefined ? DEFAULT_NODE_KEY_PREFIX : nodeKeys === 'off' ? null : prefixOf(nodeKeys),
    ...(timeout === undefined ? {} : { requestTimeoutMs: durationOf(timeout, REDFISH_ENV.requestTimeout) }),
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
    throw new RedfishConfigError(`${path} is not valid YAML: ${(error as Error).message}`, { cause: error });
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

function authOf(text: string | undefined): AuthMode {
  const value = nonEmpty(text)?.toLowerCase();
  if (value === undefined) return 'basic';
  if (value === 'basic' || value === 'session') return value;
  throw new RedfishConfigError(`${REDFISH_ENV.auth}: "${text}" is not basic or session`);
}

function boolOf(text: string | undefined, name: string): boolean {
  const value = nonEmpty(text)?.trim().toLowerCase();
  if (value === undefined) return false;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new RedfishConfigError(`${name}: "${text}" is not true or false`);
}

function prefixOf(text: string): string {
  // A label key prefix: a DNS subdomain and a slash, optionally followed by the start of a name.
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\/[A-Za-z0-9._-]*$/.test(text)) {
    throw new RedfishConfigError(
      `${REDFISH_ENV.nodeKeys}: "${text}" is not a label key prefix like ${DEFAULT_NODE_KEY_PREFIX}, or off`,
    );
  }
  return text;
}

/** Go-style durations, as every other duration of alertfence: `10s`, `1500ms`, `1m`. */
function durationOf(text: string, name: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(ms|s|m|h))+$/.test(trimmed)) {
    throw new RedfishConfigError(`${name}: "${text}" is not a duration; use e.g. 10s`);
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(amount) * (units[unit as string] ?? 0);
  }
  if (total < 1000) throw new RedfishConfigError(`${name}: ${text} is under 1s; BMCs take longer to answer`);
  return total;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
