/**
 * The time source of a driver: the clock, the sleep and the jitter every wait and retry of a driver uses,
 * injectable so unit tests run on a virtual clock.
 */

import { sleep, type WaitClock } from '../functions/lib/wait.js';

/** What a driver's options may inject; each defaults to the real one. */
export interface ClockOptions {
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). */
  random?: () => number;
}

/** A driver's clock, every part set. */
export interface DriverClock extends WaitClock {
  random: () => number;
}

/** The clock `options` inject, the real one for what they leave out. */
export function clockOf(options: ClockOptions): DriverClock {
  return {
    now: options.now ?? Date.now,
    sleep: options.sleep ?? sleep,
    random: options.random ?? Math.random,
  };
}
