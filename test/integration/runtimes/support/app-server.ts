import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { PowerDriver } from '../../../../drivers/driver.js';
import { InProcessContinuation } from '../../../../functions/in-process-continuation.js';
import type { KubePort } from '../../../../functions/kube/port.js';
import { createLogger } from '../../../../functions/log.js';
import { buildRuntime, type Runtime } from '../../../../functions/wiring.js';

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
  runtime: Runtime;
  /** Every `POST /v1/alerts`, in order. */
  exchanges: Exchange[];
  /** The server's log records (JSON lines, parsed). */
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * Serves the app as the Node server does (`@hono/node-server`, fences continued in process) on a free
 * loopback port, with the Kubernetes port and drivers given — for contract tests with peers that only need
 * to reach alertfence over HTTP (Alertmanager, curl).
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
  const continuation = new InProcessContinuation();
  const runtime = buildRuntime(options.env, {
    continuation,
    kube: options.kube,
    drivers: options.drivers,
    log,
  });
  continuation.bind({ service: runtime.service, runBudgetMs: runtime.config.runBudgetMs, log });

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

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    runtime,
    exchanges,
    logs,
    async stop() {
      await continuation.drain(10_000);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
