import { serve } from '@hono/node-server';
import { ConfigError } from './config.js';
import { InProcessContinuation } from './in-process-continuation.js';
import { createLogger } from './log.js';
import { buildRuntime } from './wiring.js';

/** How long SIGTERM waits for running fences to journal their current step. */
const SHUTDOWN_GRACE_MS = 25_000;

/**
 * The local Node server (`npm start`): the same app as the functions, fences continued in process.
 */
export function startServer(env: Record<string, string | undefined> = process.env) {
  const bootLog = createLogger({ base: { component: 'alertfence' } });
  let budget = 0;
  const continuation = new InProcessContinuation(() => budget, bootLog);
  let closing = false;
  const runtime = buildRuntime(env, { continuation, stopping: () => closing });
  budget = runtime.config.runBudgetMs;
  continuation.bind(runtime.service);
  const { config, log, app } = runtime;

  const server = serve({ fetch: app.fetch, port: config.port, hostname: env.HOST ?? '0.0.0.0' }, (info) => {
    log.info('listening', {
      port: info.port,
      dryRun: config.dryRun,
      drivers: config.drivers,
      ...(config.dryRun ? { hint: 'disarmed: every fence is a plan until ALERTFENCE_DRY_RUN=false' } : {}),
    });
  });

  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info('shutting down', { signal, activeFences: continuation.active });
    server.close();
    const drained = await continuation.drain(SHUTDOWN_GRACE_MS);
    log.info(drained ? 'stopped' : 'stopped with fences still running; their journals resume them', {
      signal,
    });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  return { server, runtime, continuation };
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('server.ts')) {
  try {
    startServer();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`alertfence: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
