/**
 * Where the API server is and how alertfence proves who it is there, as a `KubeConfig` of
 * `@kubernetes/client-node`: loaded from a kubeconfig by the library, with alertfence's refusals on top, or
 * built from an endpoint that code describes (the pod's service account, EKS, a test's server).
 */
import { readFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { type Cluster, type Context, KubeConfig, type User } from '@kubernetes/client-node';
import * as z from 'zod';
import { parseYaml, YamlSyntaxError } from '../lib/yaml.js';
import { bearerTokenProvider, type ExecPlugin, execProvider, tokenFileProvider } from './authenticators.js';

/**
 * An API server and an identity given by code rather than by a kubeconfig: the pod's service account, EKS
 * with the function's IAM role, a test's server.
 */
export interface EndpointSpec {
  /** Base URL, e.g. `https://10.0.0.1:6443`. */
  server: string;
  tls: {
    /** PEM of the CA that signed the serving certificate; without it, the system's roots. */
    ca?: string;
    /** PEM client certificate and key (x509 client authentication). */
    cert?: string;
    key?: string;
    insecureSkipVerify?: boolean;
    serverName?: string;
  };
  /** A fixed bearer token. */
  token?: string;
  /** A bearer token file, re-read as it rotates (projected service-account tokens). */
  tokenFile?: string;
  exec?: ExecPlugin;
  /** Supplies the bearer token of each request (the EKS IAM token). */
  bearerToken?: () => Promise<string>;
  /** Where this came from, for logs and errors; never a secret. */
  source: string;
}

/** What a Kubernetes client is built from: a loaded kubeconfig, or an endpoint given by code. */
export type KubeEndpoint = KubeConfig | EndpointSpec;

/** The kubeconfig or service account cannot be used; the message says what to fix. */
export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

/**
 * The shape of a kubeconfig's lists, checked before the library reads them (its loader silently drops a list
 * that is not one), and the fields its loader ignores (`tokenFile`, `disable-compression`). The entries
 * themselves are the library's to read.
 */
const kubeconfigSchema = z.looseObject({
  clusters: z
    .array(
      z.looseObject({
        name: z.string(),
        cluster: z.looseObject({ 'disable-compression': z.boolean().optional() }).nullish(),
      }),
    )
    .nullish(),
  users: z
    .array(
      z.looseObject({
        name: z.string(),
        user: z.looseObject({ tokenFile: z.string().optional() }).nullish(),
      }),
    )
    .nullish(),
  contexts: z.array(z.looseObject({ name: z.string() })).nullish(),
  'current-context': z.string().optional(),
});

export interface ParseOptions {
  /** Directory the kubeconfig's relative paths are relative to. */
  baseDir: string;
  /** What to call the kubeconfig in messages. */
  source: string;
  /** Accept `insecure-skip-tls-verify` (ALERTFENCE_KUBE_ALLOW_INSECURE_TLS); refused otherwise. */
  allowInsecureTls?: boolean;
}

const base64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

/**
 * Loads a kubeconfig into a `KubeConfig` and checks that its current context can be used: it names a cluster
 * and a user that exist, the user has no removed `auth-provider` and no certificate without its key, every
 * file it names can be read (relative paths against `baseDir`, as kubectl resolves them), and the API
 * server is authenticated by TLS unless `allowInsecureTls`. Files are read here, once, so that a missing
 * certificate is a configuration error at start rather than a failed fence later.
 */
export function parseKubeconfig(text: string, options: ParseOptions): KubeConfig {
  const { baseDir, source } = options;
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    if (!(error instanceof YamlSyntaxError)) throw error;
    throw new KubeconfigError(`${source} is not YAML (syntax error${error.where})`);
  }
  const parsed = kubeconfigSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KubeconfigError(`${source} is not a kubeconfig: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const loaded = new KubeConfig();
  try {
    // The library reads the document we parsed (JSON is YAML), so both see the same kubeconfig.
    loaded.loadFromString(JSON.stringify(parsed.data));
  } catch (error) {
    throw new KubeconfigError(`${source} is not a kubeconfig: ${(error as Error).message}`);
  }
  loaded.makePathsAbsolute(baseDir);

  const contextName = loaded.getCurrentContext();
  if (!contextName) throw new KubeconfigError(`${source} has no current-context`);
  const context = loaded.getContextObject(contextName);
  if (!context) throw new KubeconfigError(`${source}: current-context "${contextName}" is not defined`);
  const cluster = loaded.getCluster(context.cluster);
  if (!cluster) throw new KubeconfigError(`${source}: cluster "${context.cluster}" is not defined`);
  const user = context.user ? loaded.getUser(context.user) : { name: '' };
  if (!user) throw new KubeconfigError(`${source}: user "${context.user}" is not defined`);
  if (user.authProvider) {
    throw new KubeconfigError(
      `${source}: user "${context.user}" uses an auth-provider, which Kubernetes removed; use a token, a client certificate or an exec plugin`,
    );
  }
  const exec = user.exec as Partial<RawExec> | null | undefined;
  if (exec && !(exec.command && exec.apiVersion)) {
    throw new KubeconfigError(
      `${source}: user "${context.user}" has an exec plugin without a command or apiVersion`,
    );
  }
  const path = (file: string) => (isAbsolute(file) ? file : resolve(baseDir, file));
  const readPem = (file: string | undefined, what: string) => {
    if (!file) return undefined;
    try {
      return base64(readFileSync(file));
    } catch (error) {
      throw new KubeconfigError(`${source}: cannot read the ${what} ${file}: ${(error as Error).message}`);
    }
  };
  const certData = readPem(user.certFile, 'client certificate') ?? user.certData;
  const keyData = readPem(user.keyFile, 'client key') ?? user.keyData;
  if (Boolean(certData) !== Boolean(keyData)) {
    throw new KubeconfigError(`${source}: user "${context.user}" has a client certificate or key, not both`);
  }
  const caData = readPem(cluster.caFile, 'CA certificate') ?? cluster.caData;
  if (cluster.skipTLSVerify && !options.allowInsecureTls) {
    throw new KubeconfigError(
      `${source}: cluster "${context.cluster}" sets insecure-skip-tls-verify; alertfence will not take a node's health from an API server it cannot authenticate (anyone on the path could answer). Give it the cluster's CA (certificate-authority-data), or, for a lab only, set ALERTFENCE_KUBE_ALLOW_INSECURE_TLS=true`,
    );
  }
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw new KubeconfigError(
      `${source}: cluster "${context.cluster}" is plain HTTP (${cluster.server}); alertfence talks to an API server over TLS only (for a lab, set insecure-skip-tls-verify and ALERTFENCE_KUBE_ALLOW_INSECURE_TLS=true)`,
    );
  }
  const rawUser = parsed.data.users?.find((entry) => entry.name === context.user)?.user;
  const rawCluster = parsed.data.clusters?.find((entry) => entry.name === context.cluster)?.cluster;
  const wireCluster: WireCluster = {
    ...withoutFiles(cluster),
    ...(caData ? { caData } : {}),
    ...(rawCluster?.['disable-compression'] ? { disableCompression: true } : {}),
  };
  return kubeConfigOf(
    wireCluster,
    handOver(
      { ...withoutFiles(user), certData, keyData },
      rawUser?.tokenFile && path(rawUser.tokenFile),
      path,
    ),
    contextName,
  );
}

/**
 * A cluster as alertfence's wire reads it: the library's fields, and the kubeconfig's `disable-compression`
 * (kubectl's: do not ask the API server for gzip, where compressing costs it more than the network saves),
 * which the library's loader does not carry.
 */
export interface WireCluster extends Cluster {
  disableCompression?: boolean;
}

/** A cluster or user without the file paths, whose contents are now inline. */
function withoutFiles<T extends Cluster | User>(entry: T): T {
  const { caFile: _ca, certFile: _cert, keyFile: _key, ...rest } = entry as Cluster & User;
  return rest as T;
}

/**
 * The user as alertfence's authenticators serve it. Precedence as before the library: a token, else a token
 * file, else an exec plugin; the library's own `ExecAuth` must not see the plugin (see `authenticators.ts`).
 */
function handOver(user: User, tokenFile: string | undefined, path: (file: string) => string): User {
  const { exec: _exec, ...rest } = user;
  const exec = (user.exec ?? undefined) as RawExec | undefined;
  if (user.token) return rest;
  if (tokenFile) return { ...rest, authProvider: tokenFileProvider(tokenFile) };
  if (!exec) return rest;
  return {
    ...rest,
    authProvider: execProvider({
      apiVersion: exec.apiVersion,
      // A command with a path separator is relative to the kubeconfig; a bare name is looked up in PATH.
      command: exec.command.includes('/') ? path(exec.command) : exec.command,
      args: exec.args ?? [],
      env: Object.fromEntries((exec.env ?? []).map(({ name, value }) => [name, value])),
    }),
  };
}

/** `users[].user.exec` as a kubeconfig writes it. */
interface RawExec {
  apiVersion: string;
  command: string;
  args?: string[] | null;
  env?: Array<{ name: string; value: string }> | null;
}

/** A `KubeConfig` of exactly one cluster, one user and the context that joins them. */
function kubeConfigOf(cluster: Cluster, user: User, contextName = 'alertfence'): KubeConfig {
  const config = new KubeConfig();
  const context: Context = { name: contextName, cluster: cluster.name, user: user.name };
  config.loadFromOptions({
    clusters: [cluster],
    users: [user],
    contexts: [context],
    currentContext: contextName,
  });
  return config;
}

/** The `KubeConfig` of an endpoint given by code. */
export function kubeConfigFor(endpoint: EndpointSpec): KubeConfig {
  const { tls } = endpoint;
  const cluster: Cluster = {
    name: endpoint.source,
    server: endpoint.server.replace(/\/+$/, ''),
    // The library speaks plain HTTP only to a cluster marked insecure; an endpoint given as http:// is one.
    skipTLSVerify: Boolean(tls.insecureSkipVerify) || endpoint.server.startsWith('http:'),
    ...(tls.ca ? { caData: base64(tls.ca) } : {}),
    ...(tls.serverName ? { tlsServerName: tls.serverName } : {}),
  };
  const authProvider = endpoint.bearerToken
    ? bearerTokenProvider(endpoint.bearerToken)
    : endpoint.tokenFile && !endpoint.token
      ? tokenFileProvider(endpoint.tokenFile)
      : endpoint.exec && !endpoint.token
        ? execProvider(endpoint.exec)
        : undefined;
  const user: User = {
    name: endpoint.source,
    ...(endpoint.token && !endpoint.bearerToken ? { token: endpoint.token } : {}),
    ...(tls.cert && tls.key ? { certData: base64(tls.cert), keyData: base64(tls.key) } : {}),
    ...(authProvider ? { authProvider } : {}),
  };
  return kubeConfigOf(cluster, user);
}

/** The `KubeConfig` a client is built from. */
export function toKubeConfig(endpoint: KubeEndpoint): KubeConfig {
  return endpoint instanceof KubeConfig ? endpoint : kubeConfigFor(endpoint);
}

/** Reads a kubeconfig file; `KUBECONFIG` may name only one. */
export function loadKubeconfigFile(file: string, options: { allowInsecureTls?: boolean } = {}): KubeConfig {
  if (file.split(delimiter).filter(Boolean).length > 1) {
    throw new KubeconfigError(
      `KUBECONFIG=${file} lists several files; alertfence reads exactly one, so point it at the one to use`,
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(error as Error).message}`);
  }
  return parseKubeconfig(text, {
    baseDir: dirname(resolve(file)),
    source: `kubeconfig ${file}`,
    ...(options.allowInsecureTls ? { allowInsecureTls: true } : {}),
  });
}

/** Where a pod's service account is mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The pod's own identity: the API server at the in-cluster service (`KUBERNETES_SERVICE_HOST`/`_PORT`), its CA and the projected
 * token, which the kubelet rotates, so it is re-read rather than kept. Not the library's `loadFromCluster`:
 * that one reads `process.env` rather than the configuration given, and defers reading the CA to the first
 * request.
 */
export function inClusterEndpoint(
  service: { host?: string | undefined; port?: string | undefined },
  accountDir: string = SERVICE_ACCOUNT_DIR,
): EndpointSpec {
  const { host, port = '443' } = service;
  if (!host) throw new KubeconfigError('not in a cluster: KUBERNETES_SERVICE_HOST is not set');
  let ca: string;
  try {
    ca = readFileSync(join(accountDir, 'ca.crt'), 'utf8');
  } catch (error) {
    throw new KubeconfigError(
      `in-cluster access needs the service account's CA at ${accountDir}/ca.crt: ${(error as Error).message}`,
    );
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca },
    tokenFile: join(accountDir, 'token'),
    source: 'in-cluster service account',
  };
}
