import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Continuation } from '../../http/continuation.js';
import type { NodeView } from '../../kube/node-view.js';
import { deadlineFrom } from '../../lib/deadline.js';
import { captureProcessWarnings, type Logger } from '../../log.js';
import type { Notifier } from '../../observability/notifications.js';
import type { Assembly } from '../assemble.js';
import type { InProcessContinuation } from './in-process.js';

/**
 * How long a signal waits for running fences to journal their phase and for requests in flight to answer;
 * below the 30 s that Kubernetes (`terminationGracePeriodSeconds`) and OpenFaaS give before SIGKILL.
 */
export const SHUTDOWN_GRACE_MS = 25_000;

/** An app listening on `@hono/node-server`. */
export interface ServedApp {
  server: ServerType;
  /**
   * Stops gracefully, within `graceMs`: running fences save their phase and stop, then the requests in flight
   * finish (a manual `wait` fence answers with its journal) and the listener closes, then the notifications
   * still queued are sent (see {@link NOTIFY_FLUSH_MIN_MS}). Resolves true when every
   * fence stopped in time. Calling it again returns the same promise.
   */
  close(graceMs: number): Promise<boolean>;
}

export interface ServeAppOptions {
  fetch: (request: Request) => Response | Promise<Response>;
  hostname: string;
  port: number;
  fences: InProcessContinuation;
  /** Sent before the process exits: what the fences told the notifications (their ends, above all). */
  notifier?: Pick<Notifier, 'flush'>;
  /** The Nodes the process follows: their watch stops with the fences. */
  nodeView?: Pick<NodeView, 'close'>;
  onListening?: (info: AddressInfo) => void;
}

/**
 * At shutdown the notifications get what is left of the grace period, and at least this, if the fences took it
 * all: 25 s of grace plus this stays below Kubernetes' 30 s before SIGKILL.
 */
export const NOTIFY_FLUSH_MIN_MS = 2_000;

/**
 * The line both Node runtimes log once they listen: the port, armed or not, the drivers, and what the runtime
 * adds (`extra`).
 */
export function logListening(
  { config, log }: Pick<Assembly, 'config' | 'log'>,
  extra: Record<string, unknown> = {},
): (info: AddressInfo) => void {
  return (info) =>
    log.info('listening', { port: info.port, dryRun: config.dryRun, drivers: config.drivers, ...extra });
}

/** Serves the app and gives it the shutdown order both Node runtimes share. */
export function serveApp(options: ServeAppOptions): ServedApp {
  const { fences } = options;
  const server = serve(
    { fetch: options.fetch, hostname: options.hostname, port: options.port },
    options.onListening,
  );
  let closing: Promise<boolean> | undefined;
  const close = async (graceMs: number) => {
    const graceEnds = Date.now() + graceMs;
    // Fences first, with the listener still open: of-watchdog forwards SIGTERM at once and keeps proxying
    // until its own drain ends, so requests that still reach us meanwhile are answered.
    const drained = await fences.drain(graceMs);
    options.nodeView?.close();
    // Then the requests in flight, within what is left of the grace period (idle keep-alive connections
    // close at once). A continuation's phase cut off here is resumed once its Lease hold expires.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      setTimeout(resolve, Math.max(0, graceEnds - Date.now())).unref();
    });
    await options.notifier?.flush(Math.max(graceEnds, Date.now() + NOTIFY_FLUSH_MIN_MS));
    return drained;
  };
  return {
    server,
    close(graceMs) {
      closing ??= close(graceMs);
      return closing;
    },
  };
}

/**
 * Runs the scheduled tick every `ALERTFENCE_TICK_INTERVAL` in this process (the Node server's own scheduler):
 * it resumes fences whose continuation was lost and reports the ones waiting for an operator. Stops when the
 * fences drain; returns the function that stops it.
 */
export function startTicking(
  assembly: Pick<Assembly, 'service' | 'config' | 'log'>,
  fences: InProcessContinuation,
  continuation: Continuation = fences,
): () => void {
  const { service, config, log } = assembly;
  const timer = setInterval(() => {
    if (fences.stopping) return;
    const requestId = `tick-${randomUUID()}`;
    service
      .tick({
        requestId,
        deadline: deadlineFrom(Date.now(), config.runBudgetMs),
        shouldStop: () => fences.stopping,
        canHandOver: () => continuation.accepting(),
      })
      .then(({ handoffs }) => continuation.continue(handoffs))
      .catch((error: unknown) => log.warn('tick failed', { requestId, reason: String(error) }));
  }, config.tickIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Takes on the process's duties for a Node runtime that owns its process: on SIGTERM or SIGINT, close
 * `served` gracefully, log how it went, and exit 0; meanwhile, write the process's warnings through `log`,
 * so that every line the function writes is one JSON object.
 */
export function exitOnSignals(
  served: ServedApp,
  fences: InProcessContinuation,
  log: Logger,
  graceMs: number = SHUTDOWN_GRACE_MS,
): void {
  captureProcessWarnings(log);
  let signalled = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log.info('shutting down', { signal, activeFences: fences.active });
    const drained = await served.close(graceMs);
    log.info(drained ? 'stopped' : 'stopped with fences still running; their journals resume them', {
      signal,
    });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
