/**
 * Counts and times every call to a power driver: a decorator put around each driver before it goes into the
 * registry, so every path that reaches the cloud (a fence, a resume, `/readyz`'s pre-flight) is measured, and
 * the drivers themselves know nothing of metrics.
 */
import {
  type CallOptions,
  DriverAuthError,
  type InstanceDescription,
  InstanceNotFoundError,
  type InstanceRef,
  type NodeIdentity,
  type PowerDriver,
  type PreflightResult,
  type WaitOptions,
} from '../../drivers/driver.js';
import type { Measurement } from './catalog.js';

/** The driver operations, as the `operation` label names them. */
export type DriverOperation =
  | 'resolve'
  | 'describe'
  | 'power_off'
  | 'power_on'
  | 'detach_volume'
  | 'wait_for_power'
  | 'wait_for_detached'
  | 'preflight';

/**
 * How a call ended: `ok`; `not_found` when the cloud does not show the instance to these credentials (an
 * `InstanceNotFoundError`, or a describe that answered "missing"); `denied` when it refused the credentials
 * (`DriverAuthError`, or a pre-flight that found permissions missing); `error` for anything else (a timeout,
 * throttling, a refused detach, a 5xx).
 */
export type DriverResult = 'ok' | 'error' | 'not_found' | 'denied';

/** The result label of a call that threw `error`, by the driver error classes. */
export function driverResult(error: unknown): DriverResult {
  if (error instanceof InstanceNotFoundError) return 'not_found';
  if (error instanceof DriverAuthError) return 'denied';
  return 'error';
}

const describeResult = (description: InstanceDescription): DriverResult =>
  description.missing ? 'not_found' : 'ok';
const preflightResult = (result: PreflightResult): DriverResult =>
  result.ok && result.problems.length === 0 ? 'ok' : 'denied';

/**
 * Wraps `driver` so that each call records `alertfence_driver_calls_total` and
 * `alertfence_driver_call_duration_seconds`. The wrapper answers and throws exactly what the driver does;
 * `record` is called once per call and never allowed to fail it.
 *
 * @example
 * const drivers = enabled.map((driver) => instrumentDriver(driver, (m) => metrics.record(m), Date.now));
 */
export function instrumentDriver(
  driver: PowerDriver,
  record: (measurements: Measurement[]) => void,
  now: () => number,
): PowerDriver {
  const name = driver.name;
  const report = (operation: DriverOperation, result: DriverResult, startedAt: number) => {
    try {
      record([
        { metric: 'driverCalls', labels: { driver: name, operation, result }, value: 1 },
        {
          metric: 'driverCallDuration',
          labels: { driver: name, operation },
          value: Math.max(0, now() - startedAt) / 1000,
        },
      ]);
    } catch {
      // A metric is never worth a failed cloud call.
    }
  };
  async function timed<T>(
    operation: DriverOperation,
    call: () => Promise<T>,
    resultOf?: (value: T) => DriverResult,
  ): Promise<T> {
    const startedAt = now();
    let value: T;
    try {
      value = await call();
    } catch (error) {
      report(operation, driverResult(error), startedAt);
      throw error;
    }
    report(operation, resultOf ? resultOf(value) : 'ok', startedAt);
    return value;
  }

  return {
    name,
    handles: (node: NodeIdentity) => driver.handles(node),
    resolve: (node: NodeIdentity, options: CallOptions) =>
      timed('resolve', () => driver.resolve(node, options)),
    describe: (ref: InstanceRef, options: CallOptions) =>
      timed('describe', () => driver.describe(ref, options), describeResult),
    powerOff: (ref: InstanceRef, options: CallOptions) =>
      timed('power_off', () => driver.powerOff(ref, options)),
    powerOn: (ref: InstanceRef, options: CallOptions) =>
      timed('power_on', () => driver.powerOn(ref, options)),
    detachVolume: (ref: InstanceRef, volumeId: string, options: CallOptions) =>
      timed('detach_volume', () => driver.detachVolume(ref, volumeId, options)),
    waitForPower: (ref: InstanceRef, want: 'on' | 'off', options: WaitOptions) =>
      timed('wait_for_power', () => driver.waitForPower(ref, want, options)),
    waitForDetached: (ref: InstanceRef, volumeIds: readonly string[], options: CallOptions) =>
      timed('wait_for_detached', () => driver.waitForDetached(ref, volumeIds, options)),
    preflight: (options: CallOptions) => timed('preflight', () => driver.preflight(options), preflightResult),
  };
}
