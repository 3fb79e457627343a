/**
 * The CloudWatch embedded metric format, checked as its specification states it (Amazon CloudWatch User Guide,
 * "Specification: Embedded metric format"), for the EMF lines alertfence writes on Lambda:
 * - the log event is one JSON object, nothing before or after it;
 * - `_aws` is an object with `Timestamp` (a number: ms since the epoch) and `CloudWatchMetrics`, an array of
 *   MetricDirective objects;
 * - a MetricDirective has `Namespace` (a string of 1–255 characters), `Dimensions` (an array of DimensionSets,
 *   each an array of at most 30 dimension keys) and `Metrics` (an array of at most 100 MetricDefinitions);
 * - a dimension key names a root member whose value is a string; a MetricDefinition's `Name` names a root
 *   member whose value is a number or an array of at most 100 numbers; its `Unit`, if any, is a CloudWatch
 *   unit, and `StorageResolution`, if any, is 1 or 60.
 */

const UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** One metric of an EMF document, as CloudWatch would extract it. */
export interface EmfMetric {
  namespace: string;
  name: string;
  unit: string | undefined;
  dimensions: Record<string, string>;
  values: number[];
}

/** The problems of one log line as an EMF document; none when it is valid. */
export function emfProblems(line: string): string[] {
  let document: unknown;
  try {
    document = JSON.parse(line);
  } catch {
    return ['not one JSON value'];
  }
  if (!isObject(document)) return ['the root is not a JSON object'];
  const aws = document._aws;
  if (!isObject(aws)) return ['no _aws metadata object'];
  const problems: string[] = [];
  if (typeof aws.Timestamp !== 'number' || !Number.isInteger(aws.Timestamp) || aws.Timestamp <= 0) {
    problems.push('_aws.Timestamp is not a number of ms since the epoch');
  }
  if (!Array.isArray(aws.CloudWatchMetrics)) return [...problems, '_aws.CloudWatchMetrics is not an array'];
  aws.CloudWatchMetrics.forEach((directive: unknown, d: number) => {
    const at = `CloudWatchMetrics[${d}]`;
    if (!isObject(directive)) {
      problems.push(`${at} is not an object`);
      return;
    }
    const { Namespace, Dimensions, Metrics } = directive;
    if (typeof Namespace !== 'string' || Namespace.length < 1 || Namespace.length > 255) {
      problems.push(`${at}.Namespace is not a string of 1 to 255 characters`);
    }
    if (!Array.isArray(Dimensions)) problems.push(`${at}.Dimensions is not an array`);
    else {
      Dimensions.forEach((set: unknown, s: number) => {
        if (!Array.isArray(set)) problems.push(`${at}.Dimensions[${s}] is not an array`);
        else {
          if (set.length > 30) problems.push(`${at}.Dimensions[${s}] has more than 30 keys`);
          for (const key of set) {
            if (typeof key !== 'string')
              problems.push(`${at}.Dimensions[${s}] has a key that is not a string`);
            else if (typeof document[key] !== 'string') {
              problems.push(`dimension ${key} is not a string member of the root`);
            }
          }
        }
      });
    }
    if (!Array.isArray(Metrics)) problems.push(`${at}.Metrics is not an array`);
    else {
      if (Metrics.length > 100) problems.push(`${at}.Metrics has more than 100 metrics`);
      Metrics.forEach((metric: unknown, m: number) => {
        if (!isObject(metric) || typeof metric.Name !== 'string' || metric.Name.length < 1) {
          problems.push(`${at}.Metrics[${m}] has no Name`);
          return;
        }
        if (metric.Unit !== undefined && !UNITS.has(String(metric.Unit))) {
          problems.push(`${metric.Name}: unit ${String(metric.Unit)} is not a CloudWatch unit`);
        }
        if (metric.StorageResolution !== undefined && ![1, 60].includes(Number(metric.StorageResolution))) {
          problems.push(`${metric.Name}: StorageResolution must be 1 or 60`);
        }
        const value = document[metric.Name];
        const numbers = Array.isArray(value) ? value : [value];
        if (Array.isArray(value) && value.length > 100) problems.push(`${metric.Name}: more than 100 values`);
        if (numbers.length === 0 || numbers.some((n) => typeof n !== 'number' || !Number.isFinite(n))) {
          problems.push(`${metric.Name}: the root member is not a number or an array of numbers`);
        }
      });
    }
  });
  return problems;
}

/** Every metric of valid EMF lines, as CloudWatch extracts them (one per directive, metric and dimension set). */
export function emfMetrics(lines: readonly string[]): EmfMetric[] {
  const metrics: EmfMetric[] = [];
  for (const line of lines) {
    const document = JSON.parse(line) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: Array<{
          Namespace: string;
          Dimensions: string[][];
          Metrics: Array<{ Name: string; Unit?: string }>;
        }>;
      };
    };
    for (const directive of document._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        for (const metric of directive.Metrics) {
          const value = document[metric.Name] as number | number[];
          metrics.push({
            namespace: directive.Namespace,
            name: metric.Name,
            unit: metric.Unit,
            dimensions: Object.fromEntries(set.map((key) => [key, String(document[key])])),
            values: Array.isArray(value) ? value : [value],
          });
        }
      }
    }
  }
  return metrics;
}

/** True for a log line that looks like an EMF document (it has `_aws`), valid or not. */
export const isEmfLine = (line: string) => line.includes('"_aws"');
