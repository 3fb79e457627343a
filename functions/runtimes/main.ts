import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config.js';
import { createLogger } from '../log.js';

/**
 * True when the module at `moduleUrl` is the one Node was asked to run (`node server.mjs`, `tsx server.ts`),
 * false when it was imported. Both sides are resolved to real paths, so spaces, relative paths and symlinks
 * (a `node_modules/.bin` link, a `/var` → `/private/var` temp dir) compare equal.
 *
 * @example
 * if (isMain(import.meta.url)) runMain(() => startServer());
 */
export function isMain(moduleUrl: string, argv: readonly string[] = process.argv): boolean {
  const script = argv[1];
  if (!script) return false;
  try {
    return realpathSync(fileURLToPath(moduleUrl)) === realpathSync(script);
  } catch {
    return false;
  }
}

/**
 * Starts an entrypoint; a configuration error stops the process with its message and exit code 2 (the usage
 * error code), so a misconfigured function refuses to start and says what to fix. Anything else is rethrown.
 */
export function runMain(start: () => void): void {
  try {
    start();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One JSON line like every other, on stderr: the message says what to fix.
    createLogger({
      base: { component: 'alertfence' },
      write: (line) => process.stderr.write(`${line}\n`),
    }).error('alertfence refuses to start: invalid configuration', { reason: error.message });
    process.exit(2);
  }
}
