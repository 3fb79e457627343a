import type { Env } from '../../config.js';
import { isMain, runMain } from '../main.js';
import { buildNodeRuntime, type Injected } from './node-runtime.js';
import { exitOnSignals, logListening, serveApp, startTicking } from './serve.js';

/**
 * The local Node server (`npm start`): the same app as the functions, fences continued in process, the
 * scheduled tick on a timer. Stops gracefully on SIGTERM and SIGINT.
 */
export function startServer(env: Env = process.env, injected: Injected = {}) {
  const runtime = buildNodeRuntime(env, injected);
  const { assembly, fences, app } = runtime;
  const { config, log } = assembly;
  const served = serveApp({
    fetch: app.fetch,
    hostname: config.host,
    port: config.port,
    fences,
    notifier: assembly.notifier,
    ...(assembly.nodeView ? { nodeView: assembly.nodeView } : {}),
    onListening: logListening(
      assembly,
      config.dryRun ? { hint: 'disarmed: every fence is a plan until ALERTFENCE_DRY_RUN=false' } : {},
    ),
  });
  const stopTicking = startTicking(assembly, fences);
  exitOnSignals(served, fences, log);
  const close = (graceMs: number) => {
    stopTicking();
    return served.close(graceMs);
  };
  return { ...served, close, runtime };
}

if (isMain(import.meta.url)) runMain(() => startServer());
