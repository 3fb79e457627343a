import type { PowerDriver } from '../../drivers/driver.js';
import type { KubePort } from '../kube/port.js';

/** Time one readiness check may take: the API server and every driver's pre-flight, side by side. */
const CHECK_TIMEOUT_MS = 10_000;

/**
 * How long a passed check is trusted. A driver's pre-flight calls the cloud (six EC2 dry runs, a Keystone
 * token), which a probe hitting `/readyz` every few seconds must not turn into a stream of API calls.
 */
const PASSED_CHECK_TTL_MS = 60_000;

/**
 * How long a failed check is remembered. Short, so a fixed permission shows soon; long enough that a public
 * endpoint probed in a loop while alertfence is broken does not turn each probe into seven cloud calls.
 */
const FAILED_CHECK_TTL_MS = 10_000;

/**
 * What `/readyz` asks before alertfence calls itself ready to fence: the API server answers, and every
 * enabled driver's credentials and permissions pass its pre-flight (EC2 `DryRun` of each call it makes, a
 * Keystone token and its catalog). Throws an error that names every problem, per driver.
 *
 * @example
 * const ready = readinessCheck(kube, drivers);
 * await ready(); // throws "aws: not authorised for ec2:StopInstances" and the like
 */
export function readinessCheck(
  kube: KubePort,
  drivers: readonly PowerDriver[],
  now: () => number = Date.now,
): () => Promise<void> {
  let passedUntil = 0;
  let failed: { until: number; error: Error } | undefined;
  let inFlight: Promise<void> | undefined;

  const check = async () => {
    const deadline = now() + CHECK_TIMEOUT_MS;
    const [api, ...preflights] = await Promise.allSettled([
      kube.ping(),
      ...drivers.map((driver) => driver.preflight({ deadline })),
    ]);
    const problems: string[] = [];
    if (api?.status === 'rejected') problems.push(messageOf(api.reason));
    preflights.forEach((outcome, index) => {
      const name = drivers[index]?.name ?? 'driver';
      if (outcome.status === 'rejected') problems.push(`${name}: ${messageOf(outcome.reason)}`);
      else if (!outcome.value.ok || outcome.value.problems.length > 0) {
        const found = outcome.value.problems.length > 0 ? outcome.value.problems : ['pre-flight failed'];
        for (const problem of found) problems.push(`${name}: ${problem}`);
      }
    });
    if (problems.length > 0) {
      const error = new Error(problems.join('; '));
      failed = { until: now() + FAILED_CHECK_TTL_MS, error };
      throw error;
    }
    failed = undefined;
    passedUntil = now() + PASSED_CHECK_TTL_MS;
  };

  return async () => {
    if (now() < passedUntil) return;
    if (failed && now() < failed.until) throw failed.error;
    // Single-flight: a burst of probes shares one check.
    inFlight ??= check().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
