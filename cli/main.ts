/**
 * The `alertfence` command: runs the command line against the real process (its streams, environment and
 * clock) and exits with the command's code. `bin/alertfence.mjs` starts it; `scripts/build.mjs --only cli`
 * bundles it into one file that needs nothing but Node.
 */
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Io } from './context.js';
import { run } from './program.js';

/** The CLI's world: this process. */
export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    fetch: globalThis.fetch,
    now: Date.now,
    sleep: (ms) => sleep(ms),
    readFile: (path) => readFileSync(path, 'utf8'),
    user: () => {
      try {
        return `${userInfo().username}@${hostname()}`;
      } catch {
        return `someone@${hostname()}`;
      }
    },
  };
}

// `alertfence status | head -1` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await run(process.argv.slice(2), processIo());
