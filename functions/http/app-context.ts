import type { Context } from 'hono';
import type { Config } from '../config.js';
import type { FenceService, InvocationOptions } from '../fence/api.js';
import type { Logger } from '../log.js';
import type { Continuation } from './continuation.js';

/** What each request carries through hono: its id. */
export type AppEnv = { Variables: { requestId: string } };

/** What the app is built from; every runtime passes its own continuation and clock of the invocation. */
export interface AppDeps {
  config: Pick<Config, 'tokens' | 'dryRun' | 'maxBodyBytes' | 'nodeLabels' | 'alertNames' | 'runBudgetMs'>;
  service: FenceService;
  /** How this runtime continues the fences a request hands over. */
  continuation: Continuation;
  /** Throws when alertfence cannot work: the API server is unreachable or a driver's pre-flight fails. */
  ready: () => Promise<void>;
  log: Logger;
  now?: () => number;
  /** Epoch ms by which this invocation must answer; Lambda and OpenFaaS pass their own limits. */
  deadlineOf?: (c: Context) => number;
  /** True once the process is shutting down: fences run by a request save their phase and stop. */
  stopping?: () => boolean;
  /** Serve the scheduled tick on `POST /` without a token (OpenFaaS' cron-connector), at most this often. */
  cronTick?: { minIntervalMs: number };
  /**
   * Serve `GET /metrics` with what this renders (the Prometheus exposition). The app knows no metrics library:
   * the runtime brings one. Absent (Lambda, which writes EMF lines instead), there is no `/metrics`.
   */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /**
   * `/metrics` without a bearer token (ALERTFENCE_METRICS_PUBLIC=true), for a private network only: the metrics
   * name nodes, their fences and the pause.
   */
  metricsPublic?: boolean;
}

/** The deps as the routes use them, with the invocation's options worked out once. */
export interface AppContext extends AppDeps {
  now: () => number;
  invocation(c: Context<AppEnv>): InvocationOptions;
}

export function appContext(deps: AppDeps): AppContext {
  const now = deps.now ?? Date.now;
  const deadlineOf = deps.deadlineOf ?? (() => now() + deps.config.runBudgetMs);
  return {
    ...deps,
    now,
    invocation: (c) => ({
      requestId: c.get('requestId'),
      deadline: deadlineOf(c),
      canHandOver: () => deps.continuation.accepting(),
      ...(deps.stopping ? { shouldStop: deps.stopping } : {}),
    }),
  };
}
