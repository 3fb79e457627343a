import { freePort, type PeerProcess, startProcess } from '../../../peers/process.js';
import { isolatedEnv } from './env.js';

export interface OpenFaasProcessOptions {
  /** The script `fprocess` runs: the `openfaas.mjs` bundle, or a launcher that imports a fixture bundle. */
  script: string;
  /** The function's settings (`environment:` in `stack.yml`, secrets as `*_FILE` paths). */
  env: Record<string, string>;
  /** of-watchdog's `exec_timeout`, which the function reads to hand fences on in time. Default `10s`. */
  execTimeout?: string;
}

/** The function process, listening on its upstream port. */
export interface OpenFaasProcess {
  /** `upstream_url`: where of-watchdog would proxy every request to. */
  url: string;
  process: PeerProcess;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Starts the function process as of-watchdog in HTTP mode starts `fprocess`: with the watchdog's environment
 * (the `ENV` of `infra/openfaas/Dockerfile`, `upstream_url` on a free loopback port) plus the function's, and
 * `node --enable-source-maps` as the image runs it; ready once `ready_path` (`/healthz`) answers. Requests
 * then go straight to the upstream port; the watchdog's own behaviour (its health endpoint, cutting a request
 * at `exec_timeout`, forwarding SIGTERM) is not part of this.
 */
export async function startOpenFaasProcess(options: OpenFaasProcessOptions): Promise<OpenFaasProcess> {
  const url = `http://127.0.0.1:${await freePort()}`;
  const peer = await startProcess({
    name: 'openfaas-function',
    command: process.execPath,
    args: ['--enable-source-maps', options.script],
    env: isolatedEnv({
      fprocess: `node --enable-source-maps ${options.script}`,
      mode: 'http',
      upstream_url: url,
      ready_path: '/healthz',
      exec_timeout: options.execTimeout ?? '10s',
      ...options.env,
    }),
    ready: `${url}/healthz`,
    timeoutMs: 15_000,
    // The function's own grace on SIGTERM is 25 s.
    stopGraceMs: 30_000,
  });
  return { url, process: peer, logs: () => peer.logs(), stop: () => peer.stop() };
}
