/**
 * The fence service and app wired as the entrypoints wire them, around whatever Kubernetes port and drivers a
 * test brings (the in-memory fake or a real API server; the simulated cloud, moto or the OpenStack fake), with
 * a continuation the test runs by hand.
 */
import type { PowerDriver } from '../../drivers/driver.js';
import { createDriverRegistry } from '../../drivers/registry.js';
import { type Config, loadConfig } from '../../functions/config.js';
import type { FenceService, FenceTarget, NodeResult, RequestOptions } from '../../functions/fence/api.js';
import type { RunResult } from '../../functions/fence/executor.js';
import type { Handoff } from '../../functions/fence/handoff.js';
import { type FenceEvent, type FenceObserver, observers } from '../../functions/fence/observer.js';
import { createFenceService } from '../../functions/fence/service.js';
import { createApp } from '../../functions/http/app.js';
import type { Continuation } from '../../functions/http/continuation.js';
import type { NodeView } from '../../functions/kube/node-view.js';
import type { KubePort } from '../../functions/kube/port.js';
import { createLogger } from '../../functions/log.js';

export const TOKEN = 'test-token-0123456789abcdef';
/** The key that seals the tests' journals (ALERTFENCE_JOURNAL_KEY). */
export const JOURNAL_KEY = 'test-journal-key-0123456789abcdef0123456789';

/** Collects hand-overs; `drain` runs them as the runtime would, one invocation each. */
export class RecordingContinuation implements Continuation {
  readonly handoffs: Handoff[] = [];
  async continue(handoffs: readonly Handoff[]): Promise<void> {
    this.handoffs.push(...handoffs);
  }
  accepting(): boolean {
    return true;
  }
}

export interface FenceWiringOptions {
  kube: KubePort;
  drivers: readonly PowerDriver[];
  /** `ALERTFENCE_*` variables over the defaults (armed, the bearer token {@link TOKEN}). */
  env: Record<string, string>;
  /** The clock; default the wall clock and real timers. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Who else hears the fence (the test's recording observer always does). */
  observer?: FenceObserver;
  /** The Nodes the process follows (a long-running runtime's `NodeView`); none by default. */
  nodeView?: Pick<NodeView, 'current'>;
}

export interface FenceWiring {
  config: Config;
  service: FenceService;
  app: ReturnType<typeof createApp>;
  continuation: RecordingContinuation;
  /** Every log line, as JSON text. */
  logs: string[];
  /** Every event the fence told its observer, in order. */
  events: FenceEvent[];
  /**
   * Runs the handed-over fences until none is left (or `limit` invocations), one invocation each, as a
   * runtime would; one entry per invocation (undefined for a refused one: stale, disarmed, guarded).
   */
  drain(limit: number): Promise<Array<RunResult | undefined>>;
  /** The service's request, its hand-overs recorded for `drain`, as a runtime would continue them. */
  request(targets: FenceTarget[], options: RequestOptions): Promise<NodeResult[]>;
  /** POSTs JSON (an object, or text as is) to the app with the bearer token. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

export function wireFence(options: FenceWiringOptions): FenceWiring {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const { kube } = options;
  const config = loadConfig({
    ALERTFENCE_TOKENS: TOKEN,
    ALERTFENCE_DRY_RUN: 'false',
    ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
    ...options.env,
  });
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', write: (line) => logs.push(line), now });
  const continuation = new RecordingContinuation();
  const events: FenceEvent[] = [];
  const service = createFenceService({
    observer: observers(
      { notice: (event) => events.push(structuredClone(event)) },
      ...(options.observer ? [options.observer] : []),
    ),
    kube,
    drivers: createDriverRegistry(options.drivers),
    config,
    log,
    now,
    sleep,
    ...(options.nodeView ? { nodeView: options.nodeView } : {}),
  });
  const app = createApp({ config, service, continuation, ready: () => kube.ping(), log, now });
  let invocation = 0;
  return {
    config,
    service,
    app,
    continuation,
    logs,
    events,
    async drain(limit) {
      const results: Array<RunResult | undefined> = [];
      while (continuation.handoffs.length > 0 && results.length < limit) {
        const handoff = continuation.handoffs.shift() as Handoff;
        invocation += 1;
        const { answer, handoffs } = await service.continueFence(handoff, {
          requestId: `worker-${invocation}`,
          deadline: now() + config.runBudgetMs,
        });
        await continuation.continue(handoffs);
        results.push('journal' in answer ? answer : undefined);
      }
      return results;
    },
    async request(targets, requestOptions) {
      const { answer, handoffs } = await service.request(targets, requestOptions);
      await continuation.continue(handoffs);
      return answer;
    },
    post(path, body, headers = {}) {
      return Promise.resolve(
        app.request(path, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        }),
      );
    },
  };
}
