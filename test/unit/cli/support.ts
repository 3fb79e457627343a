/**
 * What the CLI's unit tests run it with: a stub of alertfence's HTTP API on loopback that answers what each
 * test scripts and records what it was asked, and the CLI run in process with captured streams, a chosen
 * environment and a virtual clock (waits are instant).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Io } from '../../../cli/context.js';
import { run } from '../../../cli/program.js';
import { VirtualClock } from '../../support/world.js';

export const TOKEN = 'cli-test-token-0123456789abcdef';

/** One scripted answer: a status and a JSON body (or raw text, to play something that is not the API). */
export interface Reply {
  status: number;
  body?: unknown;
  raw?: string;
}

/** Answers by `METHOD /path?query`: one reply, replies in turn (the last one repeats), or a function. */
export type Routes = Record<string, Reply | Reply[] | ((request: Recorded) => Reply)>;

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface Stub {
  url: string;
  requests: Recorded[];
  stop(): Promise<void>;
}

/** Starts the stub on 127.0.0.1, on a port of its own; anything not scripted answers the API's 404. */
export async function startStub(routes: Routes): Promise<Stub> {
  const requests: Recorded[] = [];
  const turns = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
    });
    request.on('end', () => {
      const recorded: Recorded = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: text === '' ? undefined : JSON.parse(text),
      };
      requests.push(recorded);
      const key = `${recorded.method} ${recorded.path}`;
      const route = routes[key];
      let reply: Reply;
      if (route === undefined)
        reply = { status: 404, body: { error: { code: 'not_found', message: 'no route' } } };
      else if (typeof route === 'function') reply = route(recorded);
      else if (Array.isArray(route)) {
        const turn = turns.get(key) ?? 0;
        turns.set(key, turn + 1);
        reply = route[Math.min(turn, route.length - 1)] as Reply;
      } else reply = route;
      response.writeHead(reply.status, { 'content-type': reply.raw ? 'text/html' : 'application/json' });
      response.end(reply.raw ?? JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** The environment, instead of the URL and token of the stub. */
  env?: Record<string, string | undefined>;
  /** Whether stdout and stderr are terminals. */
  tty?: boolean;
  clock?: VirtualClock;
  files?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
  /** Called at every sleep of the CLI, after the clock moved (a test's world moves on meanwhile). */
  onSleep?: () => Promise<void>;
}

/** Runs the CLI in process against `url`, with the test token, and answers its exit code and output. */
export async function runCli(url: string, argv: string[], options: RunOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const clock = options.clock ?? new VirtualClock();
  const io: Io = {
    stdout: { write: (text: string) => (stdout += text), isTTY: options.tty ?? false },
    stderr: { write: (text: string) => (stderr += text), isTTY: options.tty ?? false },
    env: options.env ?? { ALERTFENCE_URL: url, ALERTFENCE_TOKEN: TOKEN },
    fetch: options.fetch ?? globalThis.fetch,
    now: clock.now,
    sleep: async (ms) => {
      await clock.sleep(ms);
      await options.onSleep?.();
    },
    readFile: (path) => {
      const content = options.files?.[path];
      if (content === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return content;
    },
    user: () => 'ops@laptop',
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

/** Lines of JSON, parsed. */
export function jsonLines(text: string): unknown[] {
  return text
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape codes are what is looked for.
export const ANSI = /\u001b\[/;

/** The text as a terminal shows it, without its colour codes. */
export function plain(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape codes are what is removed.
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}
