import type { Context } from 'hono';
import type { Env } from '../../config.js';
import { type AppDeps, createApp } from '../../http/app.js';
import type { Continuation } from '../../http/continuation.js';
import { followNodes } from '../../kube/node-view.js';
import { createNodeWatchClient } from '../../kube/node-watch-client.js';
import { createPrometheusMetrics, type PrometheusMetrics } from '../../observability/metrics.js';
import { type AssembleOptions, type Assembly, assemble } from '../assemble.js';
import { InProcessContinuation } from './in-process.js';

/** What tests and the demo inject instead of the environment's Kubernetes access, drivers and logger. */
export type Injected = AssembleOptions;

export interface NodeRuntimeOptions {
  /** Where fences continue; in this process by default (OpenFaaS sends them to its gateway when it has one). */
  continuation?: (inProcess: InProcessContinuation, assembly: Assembly) => Continuation;
  /** The invocation's deadline; the run budget by default. */
  deadlineOf?: (c: Context, assembly: Assembly) => number;
  cronTick?: AppDeps['cronTick'];
  /** The runtime's name in `alertfence_build_info`: `node` (the default) or `openfaas`. */
  name?: string;
}

/** A long-running Node process's parts: the assembly, its in-process fences, and the app. */
export interface NodeRuntime {
  assembly: Assembly<PrometheusMetrics>;
  /** Its Prometheus metrics, served on `GET /metrics`. */
  metrics: PrometheusMetrics;
  fences: InProcessContinuation;
  app: ReturnType<typeof createApp>;
}

/**
 * The runtime of a long-running Node process (the Node server, OpenFaaS): the assembly, fences continued in
 * this process, the app told to stop running fences once the process drains, and Prometheus metrics on
 * `/metrics` (with a bearer token unless ALERTFENCE_METRICS_PUBLIC=true).
 *
 * @example
 * const { assembly, fences, app } = buildNodeRuntime(process.env);
 */
export function buildNodeRuntime(
  env: Env,
  injected: Injected = {},
  options: NodeRuntimeOptions = {},
): NodeRuntime {
  const assembly = assemble(env, {
    ...injected,
    // This process stays up between requests: it keeps the Nodes in memory for the storm guards' counts.
    followNodes: (endpoint, labelSelector, log) =>
      followNodes(createNodeWatchClient(endpoint), { labelSelector, log }),
    instrument: (config, log) =>
      createPrometheusMetrics({
        config,
        runtime: options.name ?? 'node',
        log,
        ...(injected.now ? { now: injected.now } : {}),
      }),
  });
  const { config, service, ready, log, metrics } = assembly;
  if (!metrics) throw new Error('the assembly was asked for metrics and built none');
  const { nodeView } = assembly;
  metrics.watch({
    overview: (read) => service.overview(read),
    ready,
    ...(nodeView ? { nodeView: () => nodeView.state() } : {}),
  });
  const fences = new InProcessContinuation(service, config.runBudgetMs, log);
  const app = createApp({
    config,
    service,
    ready,
    log,
    metrics: () => metrics.render(),
    metricsPublic: config.metrics.public,
    continuation: options.continuation?.(fences, assembly) ?? fences,
    // A fence that runs inside its request (manual `wait`) stops at its next phase as well.
    stopping: () => fences.stopping,
    ...(options.deadlineOf ? { deadlineOf: (c: Context) => options.deadlineOf?.(c, assembly) ?? 0 } : {}),
    ...(options.cronTick ? { cronTick: options.cronTick } : {}),
  });
  return { assembly, metrics, fences, app };
}
