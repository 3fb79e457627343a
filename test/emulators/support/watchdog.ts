import { isolatedEnv, portAccepts } from '../../integration/runtimes/support/env.js';
import {
  type RuntimeBinary,
  requireRuntimeBinary,
} from '../../integration/runtimes/support/runtime-binaries.js';
import { freePort, type PeerProcess, startProcess, type TempDir, tempDir } from '../../peers/process.js';

/**
 * of-watchdog (tag 0.11.6 is what the suite was written against): `$ALERTFENCE_WATCHDOG_BIN`, else
 * `of-watchdog` in the peers' bin directory. Not installable here (the Go module proxy answers 403), so it is
 * provided by hand.
 */
export const OF_WATCHDOG: RuntimeBinary = {
  name: 'of-watchdog',
  envVar: 'ALERTFENCE_WATCHDOG_BIN',
  module: 'github.com/openfaas/of-watchdog',
  howToGet:
    "It cannot be installed on this project's machines: the Go module proxy answers 403 for " +
    'github.com/openfaas/of-watchdog and no other registry ships it. Provide a binary built elsewhere at ' +
    "the peers' bin directory; npm test leaves this suite out (npm run test:watchdog runs it).",
};

/** of-watchdog serves Prometheus metrics on this port, always (`MetricsPort: 8081` in its config.go). */
const WATCHDOG_METRICS_PORT = 8081;

export interface WatchdogOptions {
  /** The function process, e.g. `node /tmp/…/openfaas.mjs` (split on spaces, as of-watchdog does). */
  fprocess: string;
  env: Record<string, string>;
  /** of-watchdog `exec_timeout`. Default `10s`. */
  execTimeout?: string;
}

/** of-watchdog in HTTP mode in front of the function process. */
export interface Watchdog {
  /** Where the watchdog listens (the function's public port in OpenFaaS). */
  url: string;
  process: PeerProcess;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real of-watchdog binary in HTTP mode (`mode=http`, `upstream_url=http://127.0.0.1:<port>`),
 * which forks `fprocess` and proxies every request to it, and waits until a request gets through to the
 * function (the watchdog itself is up before the function is).
 */
export async function startWatchdog(options: WatchdogOptions): Promise<Watchdog> {
  const command = requireRuntimeBinary(OF_WATCHDOG);
  if (await portAccepts(WATCHDOG_METRICS_PORT)) {
    throw new Error(
      `port ${WATCHDOG_METRICS_PORT} is taken: of-watchdog always serves metrics there and would crash; stop what listens on it`,
    );
  }
  const [port, upstreamPort] = [await freePort(), await freePort()];
  // The watchdog's lock file (its health) lives in $TMPDIR: one directory per watchdog.
  const dir: TempDir = await tempDir('alertfence-watchdog');
  const url = `http://127.0.0.1:${port}`;
  const peer = await startProcess({
    name: 'of-watchdog',
    command,
    env: isolatedEnv({
      mode: 'http',
      fprocess: options.fprocess,
      upstream_url: `http://127.0.0.1:${upstreamPort}`,
      port: String(port),
      exec_timeout: options.execTimeout ?? '10s',
      read_timeout: '15s',
      write_timeout: '15s',
      // How long the watchdog keeps serving after SIGTERM before it shuts its server down.
      healthcheck_interval: '1s',
      ready_path: '/healthz',
      prefix_logs: 'false',
      TMPDIR: dir.path,
      NODE_NO_WARNINGS: '1',
      ...options.env,
    }),
    ready: async () => {
      const response = await fetch(`${url}/_/ready`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      return response.status === 200;
    },
    timeoutMs: 20_000,
    stopGraceMs: 10_000,
  });
  return {
    url,
    process: peer,
    logs: () => peer.logs(),
    async stop() {
      await peer.stop();
      await dir.remove();
    },
  };
}
