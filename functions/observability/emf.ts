/**
 * alertfence's metrics on Lambda: the same measurements as the Prometheus registry, written at the end of each
 * invocation as CloudWatch embedded metric format (EMF) lines on stdout, which CloudWatch Logs turns into
 * metrics. A small writer of our own rather than Powertools Metrics: it shares the catalog and the
 * event-to-metric mapping with Prometheus as they are (one dimension set per label set, histograms as value
 * arrays), writes through the same stdout as the JSON logs, and adds no package to the Lambda bundle.
 *
 * Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import type { PowerDriver } from '../../drivers/driver.js';
import type { Config } from '../config.js';
import type { FenceObserver } from '../fence/observer.js';
import type { Logger } from '../log.js';
import { type Labels, METRICS, type Measurement, type MetricKey, type MetricSpec } from './catalog.js';
import { instrumentDriver } from './driver-metrics.js';
import type { Instrumentation } from './instrumentation.js';
import { measureEvent, StormWatch } from './measure.js';
import { type StateSource, stateReader } from './state.js';

/** The spec's limits: metrics per directive, and values per metric. */
export const EMF_MAX_METRICS = 100;
export const EMF_MAX_VALUES = 100;

/** The CloudWatch namespace of alertfence's metrics. */
export const EMF_NAMESPACE = 'alertfence';

export interface EmfMetricsOptions {
  config: Pick<Config, 'tickIntervalMs' | 'dryRun'>;
  /**
   * The `service` dimension on every metric: the function's name, so that the alertfence of each cluster is
   * told apart in one account.
   */
  service: string;
  namespace?: string;
  /** Where a line goes; stdout by default (the Lambda runtime sends it to CloudWatch Logs). */
  write?: (line: string) => void;
  now?: () => number;
  log?: Logger;
}

/** The EMF metrics of one execution environment, flushed per invocation. */
export interface EmfMetrics extends Instrumentation {
  record(measurements: readonly Measurement[]): void;
  /** Reads the cluster-wide state once (the scheduled tick does) and records it with the storm guard's gauge. */
  recordState(source: StateSource): Promise<void>;
  /** Writes what this invocation recorded as EMF lines, and forgets it. */
  flush(): void;
}

/** What one invocation recorded of one metric with one set of label values. */
interface Entry {
  key: MetricKey;
  labels: Labels;
  /** A counter's sum, a gauge's last value. */
  value: number;
  /** A histogram's observations. */
  values: number[];
}

/** The same label values in any order give the same id. */
const labelsId = (labels: Labels) =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** A dimension value must be a non-empty string. */
const dimensionValue = (value: string) => (value === '' ? 'none' : value);

/**
 * @example
 * const metrics = createEmfMetrics({ config, service: env.AWS_LAMBDA_FUNCTION_NAME ?? 'alertfence' });
 * try { await handle(event); } finally { metrics.flush(); }
 */
export function createEmfMetrics(options: EmfMetricsOptions): EmfMetrics {
  const now = options.now ?? Date.now;
  const namespace = options.namespace ?? EMF_NAMESPACE;
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const storm = new StormWatch(options.config.tickIntervalMs, now);
  let entries = new Map<string, Entry>();
  /** The storm guard's gauge goes out with an invocation that decided on nodes, and with the tick's state. */
  let reportStorm = false;

  const record = (measurements: readonly Measurement[]) => {
    for (const { metric, labels, value } of measurements) {
      const spec: MetricSpec = METRICS[metric];
      if (spec.emf === false) continue;
      const id = `${metric}\u0000${labelsId(labels)}`;
      const entry = entries.get(id) ?? { key: metric, labels, value: 0, values: [] };
      if (spec.kind === 'histogram') entry.values.push(value);
      else if (spec.kind === 'counter') entry.value += value;
      else entry.value = value;
      entries.set(id, entry);
    }
  };

  const observer: FenceObserver = {
    notice(event) {
      try {
        storm.notice(event);
        if (event.kind === 'decided') reportStorm = true;
        record(measureEvent(event));
      } catch (error) {
        options.log?.warn('metrics: could not record a fence event', { reason: String(error) });
      }
    },
  };

  /** One EMF document: one directive whose single dimension set is `service` and the labels' names. */
  const documentOf = (labels: Labels, metrics: Array<[Entry, number | number[]]>, timestamp: number) => {
    const document: Record<string, unknown> = {
      _aws: {
        Timestamp: timestamp,
        CloudWatchMetrics: [
          {
            Namespace: namespace,
            Dimensions: [['service', ...Object.keys(labels)]],
            Metrics: metrics.map(([entry]) => ({
              Name: METRICS[entry.key].name,
              Unit: METRICS[entry.key].unit,
            })),
          },
        ],
      },
      service: options.service,
    };
    for (const [name, value] of Object.entries(labels)) document[name] = dimensionValue(value);
    for (const [entry, value] of metrics) document[METRICS[entry.key].name] = value;
    return JSON.stringify(document);
  };

  /**
   * Entries that share their label values share a line. A histogram with more observations than a metric may
   * carry goes on over the next lines; no line has more metrics than a directive may carry.
   */
  const lines = (all: Entry[]): string[] => {
    const groups = new Map<string, Entry[]>();
    for (const entry of all) {
      const id = labelsId(entry.labels);
      groups.set(id, [...(groups.get(id) ?? []), entry]);
    }
    const timestamp = now();
    const out: string[] = [];
    for (const group of groups.values()) {
      const parts: Array<Array<[Entry, number | number[]]>> = [];
      const place = (index: number, item: [Entry, number | number[]]) => {
        parts[index] ??= [];
        parts[index].push(item);
      };
      for (const entry of group) {
        if (METRICS[entry.key].kind !== 'histogram') place(0, [entry, entry.value]);
        else {
          for (let i = 0; i * EMF_MAX_VALUES < entry.values.length; i++) {
            place(i, [entry, entry.values.slice(i * EMF_MAX_VALUES, (i + 1) * EMF_MAX_VALUES)]);
          }
        }
      }
      for (const part of parts) {
        for (let start = 0; start < part.length; start += EMF_MAX_METRICS) {
          out.push(documentOf(group[0]?.labels ?? {}, part.slice(start, start + EMF_MAX_METRICS), timestamp));
        }
      }
    }
    return out;
  };

  return {
    observer,
    record,
    instrument: (driver: PowerDriver) => instrumentDriver(driver, record, now),
    async recordState(source) {
      const read = stateReader(source, { ttlMs: 0, now, ...(options.log ? { log: options.log } : {}) });
      record(await read());
      record([{ metric: 'armed', labels: {}, value: options.config.dryRun ? 0 : 1 }]);
      reportStorm = true;
    },
    flush() {
      if (reportStorm) record([storm.measurement()]);
      const all = [...entries.values()];
      entries = new Map();
      reportStorm = false;
      for (const line of lines(all)) {
        try {
          write(line);
        } catch {
          // stdout gone: nothing else can be told either.
        }
      }
    },
  };
}
