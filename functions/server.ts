import { isMain, runMain } from './main-module.js';
import { buildInProcessRuntime, exitOnSignals, type Injected, serveApp, startTicking } from './node-serve.js';

/**
 * The local Node server (`npm start`): the same app as the functions, fences continued in process. Stops
 * gracefully on SIGTERM and SIGINT. Tests and the demo may inject the Kubernetes access, drivers and logger.
 */
export function startServer(env: Record<string, string | undefined> = process.env, injected: Injected = {}) {
  const { runtime, fences } = buildInProcessRuntime(env, injected);
  const { config, log, app } = runtime;
  const served = serveApp({
    fetch: app.fetch,
    hostname: env.HOST ?? '0.0.0.0',
    port: config.port,
    fences,
    onListening: (info) =>
      log.info('listening', {
        port: info.port,
        dryRun: config.dryRun,
        drivers: config.drivers,
        ...(config.dryRun ? { hint: 'disarmed: every fence is a plan until ALERTFENCE_DRY_RUN=false' } : {}),
      }),
  });
  const stopTicking = startTicking(runtime, fences);
  exitOnSignals(served, fences, log);
  return {
    ...served,
    close: (graceMs: number) => {
      stopTicking();
      return served.close(graceMs);
    },
    runtime,
    continuation: fences,
  };
}

if (isMain(import.meta.url)) runMain(() => startServer());
