/**
 * Where the API server is and how to prove who we are: read from a kubeconfig (the parts a client needs, as
 * kubectl reads them) or from the pod's service account. Files named by a kubeconfig are read here, once, so
 * a missing certificate is a configuration error at start rather than a failed fence later.
 */
import { readFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';

/** A credential plugin (`users[].user.exec`): a command that prints an `ExecCredential`. */
export interface ExecPlugin {
  apiVersion: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** One API server and one identity on it. */
export interface KubeEndpoint {
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
  /** Where this came from, for logs and errors; never a secret. */
  source: string;
}

/** The kubeconfig or service account cannot be used; the message says what to fix. */
export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

const clusterSchema = z.looseObject({
  server: z.string().min(1),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
});

const userSchema = z.looseObject({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
  exec: z
    .looseObject({
      apiVersion: z.string(),
      command: z.string().min(1),
      args: z.array(z.string()).nullish(),
      env: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
    })
    .nullish(),
  'auth-provider': z.unknown().optional(),
});

const contextSchema = z.looseObject({ cluster: z.string(), user: z.string().optional() });

/** The parts of a kubeconfig (`clientcmd/api/v1`) a client needs; the rest is ignored. */
const kubeconfigSchema = z.looseObject({
  clusters: z.array(z.looseObject({ name: z.string(), cluster: clusterSchema })).nullish(),
  users: z.array(z.looseObject({ name: z.string(), user: userSchema })).nullish(),
  contexts: z.array(z.looseObject({ name: z.string(), context: contextSchema })).nullish(),
  'current-context': z.string().optional(),
});

const decode = (base64: string) => Buffer.from(base64, 'base64').toString('utf8');

export interface ParseOptions {
  /** Directory the kubeconfig's relative paths are relative to. */
  baseDir: string;
  /** What to call the kubeconfig in messages. */
  source: string;
  /** Accept `insecure-skip-tls-verify` (ALERTFENCE_KUBE_ALLOW_INSECURE_TLS); refused otherwise. */
  allowInsecureTls?: boolean;
}

/**
 * The current context of a kubeconfig. `baseDir` resolves the relative paths it names (certificate files, a
 * token file, a credential command), as kubectl resolves them against the kubeconfig's own directory.
 */
export function parseKubeconfig(text: string, options: ParseOptions): KubeEndpoint {
  const { baseDir, source } = options;
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    // Only where, never what: the parser's message quotes the offending line, which can hold a token.
    const { code, linePos } = error as { code?: string; linePos?: Array<{ line: number; col: number }> };
    const at = linePos?.[0] ? ` at line ${linePos[0].line}, column ${linePos[0].col}` : '';
    throw new KubeconfigError(`${source} is not YAML (${code ?? 'parse error'}${at})`);
  }
  const parsed = kubeconfigSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KubeconfigError(`${source} is not a kubeconfig: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const config = parsed.data;
  const contextName = config['current-context'];
  if (!contextName) throw new KubeconfigError(`${source} has no current-context`);
  const context = (config.contexts ?? []).find((entry) => entry.name === contextName)?.context;
  if (!context) throw new KubeconfigError(`${source}: current-context "${contextName}" is not defined`);
  const cluster = (config.clusters ?? []).find((entry) => entry.name === context.cluster)?.cluster;
  if (!cluster) throw new KubeconfigError(`${source}: cluster "${context.cluster}" is not defined`);
  const user = context.user ? (config.users ?? []).find((entry) => entry.name === context.user)?.user : {};
  if (!user) throw new KubeconfigError(`${source}: user "${context.user}" is not defined`);
  if (user['auth-provider'] !== undefined) {
    throw new KubeconfigError(
      `${source}: user "${context.user}" uses an auth-provider, which Kubernetes removed; use a token, a client certificate or an exec plugin`,
    );
  }

  const path = (file: string) => (isAbsolute(file) ? file : resolve(baseDir, file));
  const readPem = (inline: string | undefined, file: string | undefined, what: string) => {
    if (inline) return decode(inline);
    if (!file) return undefined;
    try {
      return readFileSync(path(file), 'utf8');
    } catch (error) {
      throw new KubeconfigError(`${source}: cannot read the ${what} ${file}: ${(error as Error).message}`);
    }
  };

  const cert = readPem(user['client-certificate-data'], user['client-certificate'], 'client certificate');
  const key = readPem(user['client-key-data'], user['client-key'], 'client key');
  if (Boolean(cert) !== Boolean(key)) {
    throw new KubeconfigError(`${source}: user "${context.user}" has a client certificate or key, not both`);
  }
  const ca = readPem(
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'CA certificate',
  );
  const exec = user.exec;
  if (cluster['insecure-skip-tls-verify'] && !options.allowInsecureTls) {
    throw new KubeconfigError(
      `${source}: cluster "${context.cluster}" sets insecure-skip-tls-verify; alertfence will not take a node's health from an API server it cannot authenticate (anyone on the path could answer). Give it the cluster's CA (certificate-authority-data), or, for a lab only, set ALERTFENCE_KUBE_ALLOW_INSECURE_TLS=true`,
    );
  }
  return {
    server: cluster.server.replace(/\/+$/, ''),
    tls: {
      ...(ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
      ...(cluster['insecure-skip-tls-verify'] ? { insecureSkipVerify: true } : {}),
      ...(cluster['tls-server-name'] ? { serverName: cluster['tls-server-name'] } : {}),
    },
    ...(user.token ? { token: user.token } : {}),
    ...(!user.token && user.tokenFile ? { tokenFile: path(user.tokenFile) } : {}),
    ...(exec
      ? {
          exec: {
            apiVersion: exec.apiVersion,
            // A command with a path separator is relative to the kubeconfig; a bare name is looked up in PATH.
            command: exec.command.includes('/') ? path(exec.command) : exec.command,
            args: exec.args ?? [],
            env: Object.fromEntries((exec.env ?? []).map(({ name, value }) => [name, value])),
          },
        }
      : {}),
    source: `${source} (context ${contextName})`,
  };
}

/** Reads a kubeconfig file; `KUBECONFIG` may name only one. */
export function loadKubeconfigFile(file: string, options: { allowInsecureTls?: boolean } = {}): KubeEndpoint {
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
 * The pod's own identity: the API server from `KUBERNETES_SERVICE_HOST`/`_PORT`, its CA and the projected
 * token, which the kubelet rotates, so it is re-read rather than kept.
 */
export function inClusterEndpoint(
  env: Record<string, string | undefined>,
  accountDir: string = SERVICE_ACCOUNT_DIR,
): KubeEndpoint {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
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
