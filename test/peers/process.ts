import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The command that installs every non-Go test peer; error messages point here. */
export const INSTALL_HINT = 'bash test/peers/install.sh';

/** Where install scripts keep peers that are not Debian packages (`$ALERTFENCE_CACHE`, default `~/.cache/alertfence`). */
export function peerCacheDir(): string {
  return process.env.ALERTFENCE_CACHE || join(homedir(), '.cache', 'alertfence');
}

/** Path of an executable in the Python venv that `install.sh` fills (moto_server, cfn-lint). */
export function venvBin(name: string): string {
  return join(peerCacheDir(), 'venv', 'bin', name);
}

/** A peer binary is not installed. Tests let this propagate so they fail, never skip. */
export class PeerMissingError extends Error {
  override name = 'PeerMissingError';
}

/** A peer process exited or did not become ready in time; the message ends with its last log lines. */
export class PeerStartError extends Error {
  override name = 'PeerStartError';
}

/** A one-shot command exited non-zero; the message carries its output. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly result: CommandResult,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Returns `binaryPath` if it is an executable file, and otherwise throws a {@link PeerMissingError}
 * that names the install command.
 *
 * @example
 * const amtool = requirePeer('/usr/bin/amtool', INSTALL_HINT);
 */
export function requirePeer(binaryPath: string, installHint: string = INSTALL_HINT): string {
  try {
    accessSync(binaryPath, constants.X_OK);
  } catch (error) {
    throw new PeerMissingError(
      `test peer ${binaryPath} is missing or not executable; install the test peers with: ${installHint}`,
      { cause: error },
    );
  }
  return binaryPath;
}

/** Asks the kernel for a free TCP port on 127.0.0.1 (binds port 0, then releases it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a listening socket'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** A temporary directory removed by {@link TempDir.remove} or, at the latest, when the process exits. */
export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

/** Creates a fresh directory under the OS temp dir whose name starts with `prefix`. */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9_.-]/g, '-')}-`));
  liveTempDirs.add(path);
  return {
    path,
    async remove() {
      liveTempDirs.delete(path);
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** How to start a long-running peer for a test. */
export interface StartProcessOptions {
  /** Used in errors, e.g. `alertmanager`. */
  name: string;
  command: string;
  args?: readonly string[];
  /** Added to (and overriding) the test process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /**
   * When the peer is ready: a URL polled until it answers 2xx, or a check returning true. Errors thrown by
   * the check count as "not yet".
   */
  ready: string | (() => Promise<boolean>);
  /** How long to wait for readiness. Default 60 s. */
  timeoutMs?: number;
  /** Between SIGTERM and SIGKILL on stop. Default 5 s. */
  stopGraceMs?: number;
  /** Characters of combined stdout/stderr kept in memory. Default 1 MiB. */
  maxLogChars?: number;
}

/** A running peer process, leader of its own process group. */
export interface PeerProcess {
  readonly name: string;
  readonly pid: number;
  /** SIGTERM to the process group, SIGKILL after the grace period. Idempotent. */
  stop(): Promise<void>;
  /** Combined stdout and stderr captured so far (the newest `maxLogChars`). */
  logs(): string;
  /** The exit code or signal once the process has exited, else undefined. */
  exitStatus(): string | undefined;
}

/**
 * Starts `command` in its own process group, waits until it is ready, and returns a handle to stop it.
 * If the process exits first or the timeout passes, it is killed and a {@link PeerStartError} with its
 * last log lines is thrown. Every process still running when the test process exits is killed.
 *
 * @example
 * const port = await freePort();
 * const peer = await startProcess({
 *   name: 'moto',
 *   command: venvBin('moto_server'),
 *   args: ['-H', '127.0.0.1', '-p', String(port)],
 *   ready: `http://127.0.0.1:${port}/moto-api/`,
 * });
 * try { ... } finally { await peer.stop(); }
 */
export async function startProcess(options: StartProcessOptions): Promise<PeerProcess> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const stopGraceMs = options.stopGraceMs ?? 5_000;
  const log = new BoundedLog(options.maxLogChars ?? 1024 * 1024);

  const child = spawn(options.command, options.args ?? [], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    // Own process group, so stop() reaches the peer's children too (wrappers, workers).
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => log.append(chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => log.append(chunk));

  let status: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
    child.once('error', (error) => {
      status ??= `spawn error: ${error.message}`;
      log.append(`\n[${options.name}] ${error.message}\n`);
      resolve();
    });
  });

  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new PeerStartError(`${options.name}: could not start ${options.command}: ${status}\n${log.tail()}`);
  }
  liveProcesses.add(child);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (status === undefined) {
        signalGroup(pid, 'SIGTERM');
        const graceful = await Promise.race([exited.then(() => true), delay(stopGraceMs).then(() => false)]);
        if (!graceful) {
          signalGroup(pid, 'SIGKILL');
          await exited;
        }
      }
      // The leader is gone; make sure nothing else it started survives in its group.
      signalGroup(pid, 'SIGKILL');
      liveProcesses.delete(child);
    })();
    return stopping;
  };

  const check = typeof options.ready === 'string' ? urlAnswers(options.ready) : options.ready;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (status !== undefined) {
      await stop();
      throw new PeerStartError(
        `${options.name} exited (${status}) before it was ready\n${log.tail()}`.trimEnd(),
      );
    }
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      break;
    if (Date.now() >= deadline) {
      await stop();
      throw new PeerStartError(
        `${options.name} was not ready after ${timeoutMs} ms (${describeReady(options.ready)})\n${log.tail()}`.trimEnd(),
      );
    }
    await Promise.race([delay(200), exited]);
  }

  return {
    name: options.name,
    pid,
    stop,
    logs: () => log.text(),
    exitStatus: () => status,
  };
}

/** The outcome of a one-shot command. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a one-shot command to completion (no shell). With `check` (the default) a non-zero exit throws a
 * {@link CommandError} whose message includes the output.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd?: string;
    timeoutMs?: number;
    check?: boolean;
  } = {},
): Promise<CommandResult> {
  const result = await new Promise<CommandResult & { error?: Error }>((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr, ...(error === null ? {} : { error }) });
      },
    );
  });
  const { error, ...outcome } = result;
  if (error !== undefined && (options.check ?? true)) {
    const output = `${outcome.stdout}\n${outcome.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new CommandError(
      `${command} ${args.join(' ')} failed (${error.message.split('\n')[0]})\n${output}`,
      outcome,
      {
        cause: error,
      },
    );
  }
  return outcome;
}

/**
 * Polls `check` until it returns a truthy value, which is returned; throws after `timeoutMs`.
 * Errors thrown by `check` count as "not yet" and the last one becomes the timeout error's cause.
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}`, {
        cause: lastError,
      });
    }
    await delay(options.intervalMs ?? 100);
  }
}

function urlAnswers(url: string): () => Promise<boolean> {
  return async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.ok;
  };
}

function describeReady(ready: StartProcessOptions['ready']): string {
  return typeof ready === 'string' ? `polling ${ready}` : 'readiness check';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

/** Keeps the newest `limit` characters of a stream of chunks. */
class BoundedLog {
  private chunks: string[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  append(chunk: string): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
    if (this.size > this.limit && this.chunks.length === 1) {
      const only = this.chunks[0] ?? '';
      this.chunks[0] = only.slice(only.length - this.limit);
      this.size = this.limit;
    }
  }

  text(): string {
    return this.chunks.join('');
  }

  tail(lines = 40): string {
    const all = this.text().trimEnd();
    if (all === '') return '(no output)';
    return `--- last log lines ---\n${all.split('\n').slice(-lines).join('\n')}`;
  }
}

const liveProcesses = new Set<ChildProcess>();
const liveTempDirs = new Set<string>();

function cleanUpNow(): void {
  for (const child of liveProcesses) {
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
  }
  liveProcesses.clear();
  for (const path of liveTempDirs) {
    rmSync(path, { recursive: true, force: true });
  }
  liveTempDirs.clear();
}

// Peers run in their own process groups, so they would outlive a test process that exits or is
// interrupted without stopping them.
process.once('exit', cleanUpNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    cleanUpNow();
    // Keep the default behaviour (terminate) unless someone else handles the signal.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}
