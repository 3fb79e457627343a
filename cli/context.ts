/** What every command runs with: the client, where to write, the clock, and how long it may take. */
import type { AlertfenceClient } from './client.js';
import type { Sink, Writer } from './output.js';

/** The world the CLI runs in: the process's streams and environment, or a test's stand-ins. */
export interface Io {
  stdout: Sink;
  stderr: Sink;
  env: Record<string, string | undefined>;
  fetch: typeof globalThis.fetch;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  readFile: (path: string) => string;
  /** Who runs the command, for the record of a pause (`user@host`). */
  user: () => string;
}

export interface CommandContext {
  client: AlertfenceClient;
  /** stdout: the command's answer. */
  out: Writer;
  /** stderr: errors, warnings, notes. */
  err: Writer;
  /** `--json`: the API's JSON on stdout, one document a line, and nothing else there. */
  json: boolean;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Epoch ms by which the command gives up (`--timeout`). */
  deadline: number;
  /** The timeout as given, for messages. */
  timeoutText: string;
}

/** Prints one API document as a line of JSON (the `--json` output). */
export function printJson(context: CommandContext, document: unknown): void {
  context.out.line(JSON.stringify(document));
}
