/**
 * alertfence's metrics for Prometheus (`prom-client`), served on `/metrics` by the Node server and OpenFaaS:
 * what the fence tells its observer, every power driver call, and the cluster-wide state read at scrape time.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PowerDriver } from '../../drivers/driver.js';
import packageJson from '../../package.json' with { type: 'json' };
import type { Config } from '../config.js';
import type { FenceObserver } from '../fence/observer.js';
import type { Logger } from '../log.js';
import { METRICS, type Measurement, type MetricKey } from './catalog.js';
import { METRIC_HELP } from './catalog-help.js';
import { instrumentDriver } from './driver-metrics.js';
import type { Instrumentation } from './instrumentation.js';
import { measureEvent, StormWatch } from './measure.js';
import { type StateReaderOptions, type StateSource, stateReader } from './state.js';

/** The version alertfence was built from, for `alertfence_build_info`. */
export const VERSION: string = packageJson.version;

export interface PrometheusMetricsOptions {
  config: Pick<Config, 'tickIntervalMs' | 'dryRun'>;
  /** The runtime, for `alertfence_build_info`: `node` or `openfaas`. */
  runtime: string;
  /** The clock of the storm guard's window and the driver call timings; the wall clock by default. */
  now?: () => number;
  /** The process metrics of `prom-client` (CPU, memory, event loop lag, GC); on by default. */
  processMetrics?: boolean;
  /** The scrape-time read of the state: its cache and timeout (10 s and 5 s by default). */
  state?: Omit<StateReaderOptions, 'now' | 'log'>;
  log?: Logger;
}

/** The Prometheus metrics of one process. */
export interface PrometheusMetrics extends Instrumentation {
  readonly registry: Registry;
  /** Records measurements (the observer and the driver decorator do; tests may too). */
  record(measurements: readonly Measurement[]): void;
  /** Where the cluster-wide state is read at scrape time: the fence service and `/readyz`'s check. */
  watch(source: StateSource): void;
  /** The exposition, state included: what `GET /metrics` answers. */
  render(): Promise<{ contentType: string; body: string }>;
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** One prom-client metric per catalog entry, registered in `registry`. */
function createAll(registry: Registry): Record<MetricKey, AnyMetric> {
  const made = {} as Record<MetricKey, AnyMetric>;
  for (const [key, spec] of Object.entries(METRICS) as Array<[MetricKey, (typeof METRICS)[MetricKey]]>) {
    const common = {
      name: spec.name,
      help: METRIC_HELP[key],
      labelNames: [...spec.labels],
      registers: [registry],
    };
    made[key] =
      spec.kind === 'counter'
        ? new Counter(common)
        : spec.kind === 'histogram'
          ? new Histogram({ ...common, buckets: [...(spec.buckets ?? [])] })
          : new Gauge(common);
  }
  return made;
}

const STATE_KEYS = (Object.keys(METRICS) as MetricKey[]).filter((key) => METRICS[key].source === 'state');

/**
 * @example
 * const metrics = createPrometheusMetrics({ config, runtime: 'node' });
 * const service = createFenceService({ ...deps, observer: metrics.observer });
 * metrics.watch({ overview: service.overview, ready });
 * const { contentType, body } = await metrics.render();
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions): PrometheusMetrics {
  const now = options.now ?? Date.now;
  const registry = new Registry();
  const metrics = createAll(registry);
  const storm = new StormWatch(options.config.tickIntervalMs, now);
  let readState: (() => Promise<Measurement[]>) | undefined;

  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  (metrics.buildInfo as Gauge<string>).set({ version: VERSION, runtime: options.runtime }, 1);
  (metrics.armed as Gauge<string>).set(options.config.dryRun ? 0 : 1);

  const apply = (measurement: Measurement) => {
    const metric = metrics[measurement.metric];
    const { labels, value } = measurement;
    if (metric instanceof Counter) metric.inc(labels, value);
    else if (metric instanceof Histogram) metric.observe(labels, value);
    else metric.set(labels, value);
  };
  const record = (measurements: readonly Measurement[]) => {
    for (const measurement of measurements) apply(measurement);
  };

  const observer: FenceObserver = {
    notice(event) {
      try {
        storm.notice(event);
        record(measureEvent(event));
      } catch (error) {
        options.log?.warn('metrics: could not record a fence event', { reason: String(error) });
      }
    },
  };

  return {
    registry,
    observer,
    record,
    instrument: (driver: PowerDriver) => instrumentDriver(driver, record, now),
    watch(source) {
      readState = stateReader(source, {
        ...options.state,
        now,
        ...(options.log ? { log: options.log } : {}),
      });
    },
    async render() {
      const state = readState ? await readState() : [];
      // The state is replaced whole: a fence that ended, or a pause lifted, leaves no series behind (`reset`
      // would leave a gauge without labels at 0, a last success in 1970: `remove` leaves it out).
      for (const key of STATE_KEYS) {
        const gauge = metrics[key] as Gauge<string>;
        gauge.reset();
        if (METRICS[key].labels.length === 0) gauge.remove();
      }
      record(state);
      record([storm.measurement()]);
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
