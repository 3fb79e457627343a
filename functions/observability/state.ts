/**
 * The cluster-wide state as metrics, read when Prometheus scrapes: one list of alertfence's Leases (the
 * service's overview) and the readiness check, cached so that scrapes from several Prometheus replicas, or a
 * person reloading `/metrics`, cost the API server one read per interval.
 */
import type { Overview } from '../fence/api.js';
import type { NodeViewState } from '../kube/node-view.js';
import type { Logger } from '../log.js';
import type { Measurement } from './catalog.js';
import { measureOverview } from './measure.js';

/** Where the state comes from: the fence service's overview, and `/readyz`'s check. */
export interface StateSource {
  overview(options: { deadline: number }): Promise<Overview>;
  /** Throws when alertfence cannot fence (the API server or a driver's pre-flight); it caches on its own. */
  ready?: () => Promise<void>;
  /** What the Nodes this process follows are doing (a long-running runtime's `NodeView`). */
  nodeView?: () => NodeViewState;
}

export interface StateReaderOptions {
  /** How long a read (its success or its failure) is reused: 10 s, below any sensible scrape interval. */
  ttlMs?: number;
  /** How long a read may take; Prometheus' own scrape timeout is 10 s by default. */
  timeoutMs?: number;
  now?: () => number;
  log?: Logger;
}

export const STATE_TTL_MS = 10_000;
export const STATE_TIMEOUT_MS = 5_000;

/**
 * Reads the state, at most once per `ttlMs`, and one read at a time (callers meanwhile share it). Never
 * throws: a failed read of the journals gives `alertfence_state_up 0` and leaves the other state metrics out,
 * rather than fail the scrape (then `up` would say alertfence is down when it is the API server that is).
 *
 * @example
 * const state = stateReader({ overview: service.overview, ready });
 * const measurements = await state();
 */
export function stateReader(
  source: StateSource,
  options: StateReaderOptions = {},
): () => Promise<Measurement[]> {
  const ttlMs = options.ttlMs ?? STATE_TTL_MS;
  const timeoutMs = options.timeoutMs ?? STATE_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  let cached: { until: number; measurements: Measurement[] } | undefined;
  let inFlight: Promise<Measurement[]> | undefined;

  const read = async (): Promise<Measurement[]> => {
    // Through `then`, so that a source that throws at once counts as a failed read like one that rejects.
    const [overview, ready] = await Promise.allSettled([
      Promise.resolve().then(() => source.overview({ deadline: now() + timeoutMs })),
      Promise.resolve().then(() => source.ready?.()),
    ]);
    const measurements: Measurement[] = [];
    if (source.ready) {
      measurements.push({ metric: 'ready', labels: {}, value: ready.status === 'fulfilled' ? 1 : 0 });
    }
    const followed = source.nodeView?.();
    if (followed) {
      measurements.push({
        metric: 'nodesFollowed',
        labels: {},
        value: followed.status === 'current' ? followed.nodes : 0,
      });
    }
    if (overview.status === 'fulfilled') {
      measurements.push(
        { metric: 'stateUp', labels: {}, value: 1 },
        ...measureOverview(overview.value, now()),
      );
    } else {
      options.log?.warn('metrics: cannot read the cluster-wide state', {
        reason: overview.reason instanceof Error ? overview.reason.message : String(overview.reason),
      });
      measurements.push({ metric: 'stateUp', labels: {}, value: 0 });
    }
    cached = { until: now() + ttlMs, measurements };
    return measurements;
  };

  return async () => {
    if (cached && now() < cached.until) return cached.measurements;
    inFlight ??= read().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
