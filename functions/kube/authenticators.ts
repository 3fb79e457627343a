/**
 * alertfence's own authenticators for `@kubernetes/client-node`'s `KubeConfig`: a token file, an exec
 * credential plugin and a bearer-token supplier (the EKS IAM token). They plug in with
 * `KubeConfig.addAuthenticator`, and the library calls them from `applyToHTTPSOptions` like its own.
 *
 * Why not the library's own for the first two (`FileAuth`, `ExecAuth`, 1.4): neither forgets a token the API
 * server refused (401), so a rotated token file or a revoked plugin token fails every call until the cache
 * runs out; `ExecAuth` also keeps a token until the very millisecond it expires, runs the plugin for every
 * request when it gives no expiry, has no time limit, sends a request without credentials when the plugin
 * printed no token, and does not set `KUBERNETES_EXEC_INFO`; the library's loader ignores a kubeconfig's
 * `tokenFile`.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { KubeConfig, type User } from '@kubernetes/client-node';

/** The library's authenticator interface (not exported by name from its index). */
export type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];
type AuthenticationOptions = Parameters<Authenticator['applyAuthentication']>[1];

/** An authenticator whose credential can be dropped, so that the next request fetches a new one. */
export interface RenewableAuthenticator extends Authenticator {
  /** Forgets cached credentials: the API server answered 401 to them. */
  forget(): void;
}

/** A credential plugin (`users[].user.exec`): a command that prints an `ExecCredential`. */
export interface ExecPlugin {
  apiVersion: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Runs an exec credential plugin and resolves with what it printed; injected by tests. */
export type ExecRunner = (plugin: ExecPlugin) => Promise<string>;

/** No credentials to send: the token file or the credential plugin failed. */
export class KubeCredentialError extends Error {
  override name = 'KubeCredentialError';
}

/**
 * The auth-provider names under which alertfence hands a user to its own authenticators. A kubeconfig cannot
 * name them: alertfence refuses every `auth-provider` a kubeconfig lists.
 */
const PROVIDER = {
  tokenFile: 'alertfence/token-file',
  exec: 'alertfence/exec',
  bearerToken: 'alertfence/bearer-token',
} as const;

/** The `authProvider` of a user whose token is read from a file, re-read as it rotates. */
export const tokenFileProvider = (path: string) => ({ name: PROVIDER.tokenFile, config: { path } });
/** The `authProvider` of a user whose token comes from an exec credential plugin. */
export const execProvider = (plugin: ExecPlugin) => ({ name: PROVIDER.exec, config: { plugin } });
/** The `authProvider` of a user whose token comes from code, asked before every request (EKS). */
export const bearerTokenProvider = (supply: () => Promise<string>) => ({
  name: PROVIDER.bearerToken,
  config: { supply },
});

/** The exec plugin a user was handed over with, if any. */
export function execPluginOf(user: User | null | undefined): ExecPlugin | undefined {
  return user?.authProvider?.name === PROVIDER.exec
    ? (user.authProvider.config.plugin as ExecPlugin)
    : undefined;
}

/** The token file a user was handed over with, if any. */
export function tokenFileOf(user: User | null | undefined): string | undefined {
  return user?.authProvider?.name === PROVIDER.tokenFile
    ? (user.authProvider.config.path as string)
    : undefined;
}

/** How long a token file is trusted before it is read again: the kubelet rotates projected tokens. */
const TOKEN_FILE_TTL_MS = 60_000;
/** An exec credential is renewed this long before it expires, so no request carries an expiring token. */
const EXEC_EXPIRY_MARGIN_MS = 60_000;
const EXEC_TIMEOUT_MS = 30_000;

const run = promisify(execFile);

/** Runs a plugin as client-go does: its env on top of ours, and `KUBERNETES_EXEC_INFO` saying who asks. */
export const runExecPlugin: ExecRunner = async (plugin) => {
  const { stdout } = await run(plugin.command, plugin.args, {
    env: {
      ...process.env,
      ...plugin.env,
      KUBERNETES_EXEC_INFO: JSON.stringify({
        apiVersion: plugin.apiVersion,
        kind: 'ExecCredential',
        spec: { interactive: false },
      }),
    },
    timeout: EXEC_TIMEOUT_MS,
    maxBuffer: 1024 * 1024,
  });
  return stdout;
};

/** A token and the moment it must be fetched again. */
interface Cached {
  value: string;
  until: number;
}

/**
 * An authenticator for one auth-provider name that caches each user's token until `fetch` says, shares one
 * fetch between concurrent requests, and forgets everything after a 401.
 */
function cachingAuthenticator(
  provider: string,
  fetch: (config: Record<string, unknown>) => Promise<Cached>,
): RenewableAuthenticator {
  const cache = new Map<string, Cached>();
  const inFlight = new Map<string, Promise<Cached>>();
  const tokenOf = async (user: User): Promise<string> => {
    const cached = cache.get(user.name);
    if (cached && Date.now() < cached.until) return cached.value;
    let pending = inFlight.get(user.name);
    if (!pending) {
      pending = fetch(user.authProvider.config).finally(() => inFlight.delete(user.name));
      inFlight.set(user.name, pending);
    }
    const fresh = await pending;
    cache.set(user.name, fresh);
    return fresh.value;
  };
  return {
    isAuthProvider: (user) => user?.authProvider?.name === provider,
    async applyAuthentication(user, options: AuthenticationOptions) {
      const token = await tokenOf(user);
      options.headers = { ...options.headers, Authorization: `Bearer ${token}` };
    },
    forget: () => cache.clear(),
  };
}

/** Reads a bearer token from a file, again every minute and after a 401 (projected tokens rotate). */
export function tokenFileAuthenticator(): RenewableAuthenticator {
  return cachingAuthenticator(PROVIDER.tokenFile, async (config) => {
    const path = config.path as string;
    const token = await readFile(path, 'utf8').catch((error: Error) => {
      throw new KubeCredentialError(`cannot read the token file ${path}: ${error.message}`);
    });
    return { value: token.trim(), until: Date.now() + TOKEN_FILE_TTL_MS };
  });
}

/**
 * Runs an exec credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`) for a bearer token, again a
 * minute before the token expires and after a 401. A plugin that fails or prints no token sends nothing.
 */
export function execAuthenticator(runExec: ExecRunner = runExecPlugin): RenewableAuthenticator {
  return cachingAuthenticator(PROVIDER.exec, async (config) => {
    const plugin = config.plugin as ExecPlugin;
    const output = await runExec(plugin).catch((error: Error) => {
      throw new KubeCredentialError(`credential plugin ${plugin.command} failed: ${error.message}`);
    });
    let status: { token?: string; expirationTimestamp?: string } | undefined;
    try {
      status = (JSON.parse(output) as { status?: typeof status }).status;
    } catch {
      throw new KubeCredentialError(`credential plugin ${plugin.command} printed no ExecCredential JSON`);
    }
    if (!status?.token) {
      throw new KubeCredentialError(
        `credential plugin ${plugin.command} printed no status.token (client certificates from a plugin are not supported)`,
      );
    }
    const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Number.NaN;
    return {
      value: status.token,
      until: Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires - EXEC_EXPIRY_MARGIN_MS,
    };
  });
}

/** Asks code for the token of every request; the supplier caches and renews it (the EKS IAM token does). */
export function bearerTokenAuthenticator(): RenewableAuthenticator {
  return {
    isAuthProvider: (user) => user?.authProvider?.name === PROVIDER.bearerToken,
    async applyAuthentication(user, options: AuthenticationOptions) {
      const supply = user.authProvider.config.supply as () => Promise<string>;
      const token = await supply().catch((error: Error) => {
        throw new KubeCredentialError(`the bearer token supplier failed: ${error.message}`);
      });
      options.headers = { ...options.headers, Authorization: `Bearer ${token}` };
    },
    forget: () => {},
  };
}

/**
 * A copy of `source` with alertfence's authenticators, whose caches then belong to one client; `forget`
 * clears them (the API server answered 401).
 */
export function withAuthenticators(
  source: KubeConfig,
  runExec?: ExecRunner,
): { config: KubeConfig; forget: () => void } {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: source.getClusters(),
    users: source.getUsers(),
    contexts: source.getContexts(),
    currentContext: source.getCurrentContext(),
  });
  const authenticators = [tokenFileAuthenticator(), execAuthenticator(runExec), bearerTokenAuthenticator()];
  for (const authenticator of authenticators) config.addAuthenticator(authenticator);
  const forget = () => {
    for (const authenticator of authenticators) authenticator.forget();
  };
  return { config, forget };
}
