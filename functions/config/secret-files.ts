/** Secrets read from files (`ALERTFENCE_X_FILE`) or a secret store, the way each variable takes them. */
import { readFileSync } from 'node:fs';
import { ConfigError, type Env, list } from './fields.js';

/**
 * Variables that hold a list: from a file, one item a line (joined with commas, as the variable takes them).
 * Every other value is taken whole, only its trailing newline dropped: a password, a key or a document (a
 * kubeconfig, a mapping) may hold commas and newlines of its own.
 */
const LIST_VARIABLES: ReadonlySet<string> = new Set([
  'ALERTFENCE_TOKENS',
  'ALERTFENCE_JOURNAL_KEY',
  'ALERTFENCE_NODE_LABELS',
  'ALERTFENCE_ALERT_NAMES',
  'ALERTFENCE_DRIVERS',
  'ALERTFENCE_NOTIFY_URL',
  'ALERTFENCE_NOTIFY_FORMAT',
  'ALERTFENCE_NOTIFY_EVENTS',
]);

/** A variable's value as read from a file or a secret store (see `LIST_VARIABLES`). */
export function valueFromSecret(name: string, content: string): string {
  if (LIST_VARIABLES.has(name)) return list(content).join(',');
  return name === 'ALERTFENCE_KUBECONFIG_INLINE' ? content : content.replace(/\r?\n$/, '');
}

/** Reads a file as UTF-8. */
export const readUtf8 = (path: string) => readFileSync(path, 'utf8');

/**
 * Resolves every `ALERTFENCE_X_FILE` into `ALERTFENCE_X` (OpenFaaS mounts secrets under
 * `/var/openfaas/secrets/`, Kubernetes wherever the pod says) and drops the `_FILE` names, so resolving twice
 * changes nothing. A list variable's file holds one item a line; any other file is the value itself. Returns
 * what it could resolve and, one a line, every file it could not (for the start-up message), with the errors
 * that said so.
 */
export function readSecretFiles(
  env: Env,
  readFile: (path: string) => string = readUtf8,
): { env: Env; problems: string[]; causes: unknown[] } {
  const resolved: Env = { ...env };
  const problems: string[] = [];
  const causes: unknown[] = [];
  for (const [key, path] of Object.entries(env)) {
    if (!key.endsWith('_FILE') || !key.startsWith('ALERTFENCE_')) continue;
    delete resolved[key];
    if (!path) continue;
    const name = key.slice(0, -'_FILE'.length);
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`set either ${name} or ${key}, not both`);
      continue;
    }
    try {
      resolved[name] = valueFromSecret(name, readFile(path));
    } catch (error) {
      problems.push(`${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      causes.push(error);
    }
  }
  return { env: resolved, problems, causes };
}

/** {@link readSecretFiles}, throwing `ConfigError` that names every file it could not read. */
export function resolveSecretFiles(env: Env, readFile: (path: string) => string = readUtf8): Env {
  const { env: resolved, problems, causes } = readSecretFiles(env, readFile);
  if (problems.length > 0) throw new ConfigError(problems.join('\n'), { cause: causeOf(causes) });
  return resolved;
}

/** The error behind a refusal: the one read that failed, or all of them. */
export function causeOf(causes: unknown[]): unknown {
  return causes.length > 1 ? new AggregateError(causes, 'secret files that could not be read') : causes[0];
}
