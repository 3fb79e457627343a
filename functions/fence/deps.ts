import type { DriverRegistry } from '../../drivers/registry.js';
import type { Config } from '../config.js';
import type { KubePort } from '../kube/port.js';
import type { Logger } from '../log.js';
import type { FenceObserver } from './observer.js';

/** The ports and the clock the fence works with: the API server, the drivers, the configuration. */
export interface ExecutorDeps {
  kube: KubePort;
  drivers: DriverRegistry;
  config: Config;
  log: Logger;
  now: () => number;
  /** Pause between looks at a phase that is still pending (injected so tests run on fake time). */
  sleep: (ms: number) => Promise<void>;
  /** Who hears of the fence's decisions, phases and ends (metrics, notifications); nobody by default. */
  observer?: FenceObserver;
}
