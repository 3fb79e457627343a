/**
 * The driver decorator: every call counted by operation and result and timed, and the driver's answers and
 * errors passed through untouched.
 */
import { describe, expect, it } from 'vitest';
import {
  DeadlineExceededError,
  DriverAuthError,
  DriverError,
  InstanceNotFoundError,
  type InstanceRef,
  type PowerDriver,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import { SimulatedDriver } from '../../../drivers/simulated/simulated-driver.js';
import type { Measurement } from '../../../functions/observability/catalog.js';
import { driverResult, instrumentDriver } from '../../../functions/observability/driver-metrics.js';
import { VirtualClock } from '../../support/world.js';

const ref: InstanceRef = { provider: 'simulated', id: 'i-1' };
const options = { deadline: Date.parse('2030-01-01T00:00:00Z') };

function recorded() {
  const measurements: Measurement[] = [];
  return { measurements, record: (m: Measurement[]) => measurements.push(...m) };
}

const calls = (measurements: Measurement[]) =>
  measurements
    .filter((m) => m.metric === 'driverCalls')
    .map((m) => `${m.labels.operation}:${m.labels.result}`);

/** A driver whose every call fails with `error`. */
function failingDriver(error: Error): PowerDriver {
  const fail = async () => {
    throw error;
  };
  return {
    name: 'flaky',
    handles: () => true,
    resolve: fail,
    describe: fail,
    powerOff: fail,
    powerOn: fail,
    detachVolume: fail,
    waitForPower: fail,
    waitForDetached: fail,
    preflight: fail,
  };
}

describe('the driver metrics', () => {
  it.each([
    ['InstanceNotFoundError', 'not_found', new InstanceNotFoundError('no such instance')],
    ['DriverAuthError', 'denied', new DriverAuthError('UnauthorizedOperation')],
    ['a retryable DriverError', 'error', new DriverError('throttled', { retryable: true })],
    ['DeadlineExceededError', 'error', new DeadlineExceededError('too slow')],
    ['VolumeDetachRefusedError', 'error', new VolumeDetachRefusedError('root volume', { volumeId: 'v' })],
    ['a plain Error', 'error', new Error('socket hang up')],
  ])('should label a call that threw %s as %s', (_name, expected, error) => {
    // Act
    const result = driverResult(error);

    // Assess
    expect(result).toBe(expected);
  });

  it('should count each operation of a whole power cycle as ok, and time it on the clock', async () => {
    // Prepare
    const clock = new VirtualClock();
    const cloud = new SimulatedDriver({ now: clock.now, sleep: clock.sleep, transitionMs: 4_000 });
    cloud.addInstance('i-1', ['vol-1']);
    const { measurements, record } = recorded();
    const driver = instrumentDriver(cloud, record, clock.now);
    const at = { deadline: clock.now() + 600_000 };

    // Act
    await driver.resolve({ name: 'worker-1', providerID: 'simulated:///i-1', internalIPs: [] }, at);
    await driver.describe(ref, at);
    await driver.powerOff(ref, at);
    await driver.waitForPower(ref, 'off', at);
    await driver.detachVolume(ref, 'vol-1', at);
    await driver.waitForDetached(ref, ['vol-1'], at);
    await driver.powerOn(ref, at);
    await driver.preflight(at);

    // Assess
    expect(calls(measurements)).toEqual([
      'resolve:ok',
      'describe:ok',
      'power_off:ok',
      'wait_for_power:ok',
      'detach_volume:ok',
      'wait_for_detached:ok',
      'power_on:ok',
      'preflight:ok',
    ]);
    const waited = measurements.find(
      (m) => m.metric === 'driverCallDuration' && m.labels.operation === 'wait_for_power',
    );
    expect(waited?.labels).toEqual({ driver: 'simulated', operation: 'wait_for_power' });
    expect(waited?.value).toBeGreaterThanOrEqual(4);
  });

  it('should count a describe that finds no instance as not_found, and a failed pre-flight as denied', async () => {
    // Prepare
    const cloud = new SimulatedDriver();
    const { measurements, record } = recorded();
    const driver = instrumentDriver(
      { ...bind(cloud), preflight: async () => ({ ok: false, problems: ['ec2:StopInstances'] }) },
      record,
      Date.now,
    );

    // Act
    const description = await driver.describe({ provider: 'simulated', id: 'i-unknown' }, options);
    const preflight = await driver.preflight(options);

    // Assess: the answers are the driver's.
    expect(description.missing).toBe(true);
    expect(preflight).toEqual({ ok: false, problems: ['ec2:StopInstances'] });
    expect(calls(measurements)).toEqual(['describe:not_found', 'preflight:denied']);
  });

  it('should throw the very error the driver threw, after counting it', async () => {
    // Prepare
    const error = new DriverAuthError('UnauthorizedOperation');
    const { measurements, record } = recorded();
    const driver = instrumentDriver(failingDriver(error), record, Date.now);

    // Act
    const thrown = await driver.powerOff(ref, options).catch((e: unknown) => e);

    // Assess
    expect(thrown).toBe(error);
    expect(measurements).toContainEqual({
      metric: 'driverCalls',
      labels: { driver: 'flaky', operation: 'power_off', result: 'denied' },
      value: 1,
    });
  });

  it('should keep the driver working when recording fails', async () => {
    // Prepare
    const cloud = new SimulatedDriver();
    cloud.addInstance('i-1');
    const driver = instrumentDriver(
      cloud,
      () => {
        throw new Error('registry broken');
      },
      Date.now,
    );

    // Act
    const description = await driver.describe(ref, options);

    // Assess
    expect(description.power).toBe('on');
    expect(driver.name).toBe('simulated');
    expect(driver.handles({ name: 'worker-1', providerID: 'simulated:///i-1', internalIPs: [] })).toBe(true);
  });
});

/** The driver's methods bound to it, so a test can replace one of them. */
function bind(driver: PowerDriver): PowerDriver {
  return {
    name: driver.name,
    handles: (node) => driver.handles(node),
    resolve: (node, o) => driver.resolve(node, o),
    describe: (r, o) => driver.describe(r, o),
    powerOff: (r, o) => driver.powerOff(r, o),
    powerOn: (r, o) => driver.powerOn(r, o),
    detachVolume: (r, v, o) => driver.detachVolume(r, v, o),
    waitForPower: (r, w, o) => driver.waitForPower(r, w, o),
    waitForDetached: (r, v, o) => driver.waitForDetached(r, v, o),
    preflight: (o) => driver.preflight(o),
  };
}
