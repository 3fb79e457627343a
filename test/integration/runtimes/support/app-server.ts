import type { AddressInfo } from 'node:net';
import type { PowerDriver } from '../../../../drivers/driver.js';
import type { KubePort } from '../../../../functions/kube/port.js';
import { createLogger } from '../../../../functions/log.js';
import { buildNodeRuntime, type NodeRuntime } from '../../../../functions/runtimes/node/node-runtime.js';
import { serveApp } from '../../../../functions/runtimes/node/serve.js';

/** One answered `POST /v1/alerts`: what Alertmanager sent and what alertfence answered. */
export interface Exchange {
  at: number;
  status: number;
  authorization: string | undefined;
  userAgent: string | undefined;
  request: unknown;
  response: unknown;
}

/** The app served over real loopback HTTP, with an injected Kubernetes and cloud. */
export interface AppServer {
  url: string;
  runtime: NodeRuntime;
  /** Every `POST /v1/alerts`, in order. */
  exchanges: Exchange[];
  /** The server's log records (JSON lines, parsed). */
  logs: Array<Record<string, unknown>>;
  /** Shuts down as on SIGTERM, within `graceMs` (10 s by default). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Serves the app with the Node server's own wiring (`buildNodeRuntime` and `serveApp` from
 * `functions/runtimes/node/`, as `startServer` does) on a free loopback port, with the Kubernetes port and
 * drivers given — for contract tests with peers that only need to reach alertfence over HTTP (Alertmanager,
 * curl). Only the signal handling is left out: it would exit the test process.
 */
export async function startAppServer(options: {
  env: Record<string, string>;
  kube: KubePort;
  drivers: PowerDriver[];
}): Promise<AppServer> {
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: 'debug',
    write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  const runtime = buildNodeRuntime(options.env, { kube: options.kube, drivers: options.drivers, log });
  const { fences } = runtime;

  const exchanges: Exchange[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const isAlert = request.method === 'POST' && new URL(request.url).pathname === '/v1/alerts';
    const body = isAlert ? await request.clone().text() : '';
    const response = await runtime.app.fetch(request);
    if (isAlert) {
      const answer = await response.clone().text();
      const parse = (text: string) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return text;
        }
      };
      exchanges.push({
        at: Date.now(),
        status: response.status,
        authorization: request.headers.get('authorization') ?? undefined,
        userAgent: request.headers.get('user-agent') ?? undefined,
        request: parse(body),
        response: parse(answer),
      });
    }
    return response;
  };

  const served = await new Promise<ReturnType<typeof serveApp>>((resolve) => {
    const started = serveApp({
      fetch,
      hostname: '127.0.0.1',
      port: 0,
      fences,
      notifier: runtime.assembly.notifier,
      onListening: () => resolve(started),
    });
  });
  const { port } = served.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    runtime,
    exchanges,
    logs,
    async stop(graceMs = 10_000) {
      await served.close(graceMs);
    },
  };
}
