import type { PowerDriver } from '../../drivers/driver.js';
import type { FenceObserver } from '../fence/observer.js';

/**
 * What a runtime's metrics put around the fence: an observer of its events, and a decorator for each power
 * driver. The assembly wires both in (`functions/runtimes/assemble.ts`) without knowing which backend it is:
 * Prometheus on the Node server and OpenFaaS, CloudWatch EMF lines on Lambda.
 */
export interface Instrumentation {
  observer: FenceObserver;
  /** The driver, counted and timed; what goes into the driver registry. */
  instrument(driver: PowerDriver): PowerDriver;
}
