/**
 * Where the bearer token comes from: `--token-file`, else `ALERTFENCE_TOKEN`, else `ALERTFENCE_TOKEN_FILE`.
 * There is no `--token` flag on purpose: a secret typed as an argument lands in the shell's history and in
 * every process listing.
 */
import { UsageError } from './errors.js';

export interface TokenSources {
  /** `--token-file`, when given. */
  tokenFile?: string | undefined;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
}

/** The token, or undefined when none is configured; a source that is set but unusable is a usage error. */
export function resolveToken({ tokenFile, env, readFile }: TokenSources): string | undefined {
  if (tokenFile !== undefined) return fromFile(tokenFile, '--token-file', readFile);
  const inline = env.ALERTFENCE_TOKEN;
  const file = env.ALERTFENCE_TOKEN_FILE;
  if (inline && file) {
    throw new UsageError(
      'both ALERTFENCE_TOKEN and ALERTFENCE_TOKEN_FILE are set; unset one (or pass --token-file)',
    );
  }
  if (inline) return inline.trim();
  if (file) return fromFile(file, 'ALERTFENCE_TOKEN_FILE', readFile);
  return undefined;
}

/** The first non-empty line of the file: the format of the server's ALERTFENCE_TOKENS_FILE. */
function fromFile(path: string, source: string, readFile: (path: string) => string): string {
  let content: string;
  try {
    content = readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`${source}: cannot read ${path} (${reason})`);
  }
  const token = content
    .split(/\r?\n/)
    .map((line) => line.trim())
    .find((line) => line !== '');
  if (!token) throw new UsageError(`${source}: ${path} holds no token`);
  return token;
}

/** The error for a command that needs a token when none is configured. */
export const noToken = () =>
  new UsageError(
    "no token: set ALERTFENCE_TOKEN, or ALERTFENCE_TOKEN_FILE / --token-file to a file that holds it (one of the server's ALERTFENCE_TOKENS)",
  );
