/**
 * The fence service wired as the entrypoints wire it, but on a real API server: the real Kubernetes client,
 * the simulated cloud for power, real time, and a continuation the test runs by hand.
 */

import { SimulatedDriver, type SimulatedDriverOptions } from '../../../drivers/simulated/simulated-driver.js';
import type { RunResult } from '../../../functions/fence/executor.js';
import type { KubePort } from '../../../functions/kube/port.js';
import { type FenceWiring, type FenceWiringOptions, wireFence } from '../../support/fence-wiring.js';

export interface RealFence extends Omit<FenceWiring, 'drain'> {
  driver: SimulatedDriver;
  /** Runs the handed-over fences until none is left, one invocation each, as a runtime would. */
  drain(limit?: number): Promise<RunResult[]>;
}

export interface RealFenceOptions {
  /** `ALERTFENCE_*` variables over the defaults (armed, simulated driver). */
  env?: Record<string, string>;
  /** A cloud shared with other fence services, as separate invocations share the real one. */
  driver?: SimulatedDriver;
  driverOptions?: SimulatedDriverOptions;
  /** The Nodes the process follows (a long-running runtime's); none by default. */
  nodeView?: FenceWiringOptions['nodeView'];
}

export function createRealFence(kube: KubePort, options: RealFenceOptions = {}): RealFence {
  const driver =
    options.driver ?? new SimulatedDriver({ transitionMs: 300, detachMs: 200, ...options.driverOptions });
  const wired = wireFence({
    kube,
    drivers: [driver],
    env: { ALERTFENCE_DRIVERS: 'simulated', ...options.env },
    ...(options.nodeView ? { nodeView: options.nodeView } : {}),
  });
  return {
    ...wired,
    driver,
    async drain(limit = 20) {
      return (await wired.drain(limit)).filter((result): result is RunResult => result !== undefined);
    },
  };
}

/** Log lines at `warn` or `error`, parsed: a fence on a real cluster should leave none. */
export function problems(logs: readonly string[]): Array<Record<string, unknown>> {
  return logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.level === 'warn' || record.level === 'error');
}
