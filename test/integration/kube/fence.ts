/**
 * The fence service wired as the entrypoints wire it, but on a real API server: the real Kubernetes client,
 * the simulated cloud for power, real time, and a continuation the test runs by hand.
 */

import { createDriverRegistry } from '../../../drivers/registry.js';
import { SimulatedDriver, type SimulatedDriverOptions } from '../../../drivers/simulated/simulated-driver.js';
import { createApp } from '../../../functions/app.js';
import { type Config, loadConfig } from '../../../functions/config.js';
import type { RunResult } from '../../../functions/fence/executor.js';
import {
  createFenceService,
  type FenceService,
  type Handoff,
} from '../../../functions/fence/fence-service.js';
import type { KubePort } from '../../../functions/kube/port.js';
import { createLogger } from '../../../functions/log.js';
import { RecordingContinuation, TOKEN } from '../../support/world.js';

export interface RealFence {
  service: FenceService;
  app: ReturnType<typeof createApp>;
  driver: SimulatedDriver;
  config: Config;
  continuation: RecordingContinuation;
  /** Every log line, as JSON text. */
  logs: string[];
  /** Runs the handed-over fences until none is left, one invocation each, as a runtime would. */
  drain(limit?: number): Promise<RunResult[]>;
  /** POSTs JSON to the app with the bearer token. */
  post(path: string, body: unknown): Promise<Response>;
}

export interface RealFenceOptions {
  /** `ALERTFENCE_*` variables over the defaults (armed, simulated driver). */
  env?: Record<string, string>;
  /** A cloud shared with other fence services, as separate invocations share the real one. */
  driver?: SimulatedDriver;
  driverOptions?: SimulatedDriverOptions;
}

export function createRealFence(kube: KubePort, options: RealFenceOptions = {}): RealFence {
  const driver =
    options.driver ?? new SimulatedDriver({ transitionMs: 300, detachMs: 200, ...options.driverOptions });
  const env = options.env ?? {};
  const config = loadConfig({
    ALERTFENCE_TOKENS: TOKEN,
    ALERTFENCE_DRY_RUN: 'false',
    ALERTFENCE_DRIVERS: 'simulated',
    ...env,
  });
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', write: (line) => logs.push(line) });
  const continuation = new RecordingContinuation();
  const service = createFenceService({
    kube,
    drivers: createDriverRegistry([driver]),
    config,
    log,
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    continuation,
  });
  const app = createApp({ config, service, ready: () => kube.ping(), log, now: Date.now });
  let invocation = 0;
  return {
    service,
    app,
    driver,
    config,
    continuation,
    logs,
    async drain(limit = 20) {
      const results: RunResult[] = [];
      while (continuation.handoffs.length > 0 && results.length < limit) {
        const handoff = continuation.handoffs.shift() as Handoff;
        invocation += 1;
        const result = await service.continueFence(handoff, {
          requestId: `worker-${invocation}`,
          deadline: Date.now() + config.runBudgetMs,
        });
        if (result) results.push(result);
      }
      return results;
    },
    post(path, body) {
      return Promise.resolve(
        app.request(path, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
    },
  };
}

/** Log lines at `warn` or `error`, parsed: a fence on a real cluster should leave none. */
export function problems(logs: readonly string[]): Array<Record<string, unknown>> {
  return logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.level === 'warn' || record.level === 'error');
}
