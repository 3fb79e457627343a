import { eksBearerTokenProvider } from '../../drivers/aws-ec2/eks-token.js';
import { createEc2Driver } from '../../drivers/aws-ec2/index.js';
import type { PowerDriver } from '../../drivers/driver.js';
import { createOpenStackDriver, loadOpenStackConfig } from '../../drivers/openstack/index.js';
import { createRedfishDriver, loadRedfishConfig } from '../../drivers/redfish/index.js';
import { createDriverRegistry } from '../../drivers/registry.js';
import { SimulatedDriver } from '../../drivers/simulated/simulated-driver.js';
import { type Config, ConfigError, type Env, loadConfig, resolveSecretFiles } from '../config.js';
import type { FenceService } from '../fence/api.js';
import { type FenceObserver, observers } from '../fence/observer.js';
import { createFenceService } from '../fence/service.js';
import { readinessCheck } from '../http/readiness.js';
import { loadKubeAccess } from '../kube/access.js';
import type { KubePort } from '../kube/port.js';
import { sleep } from '../lib/wait.js';
import { createLogger, type Logger } from '../log.js';
import type { Instrumentation } from '../observability/instrumentation.js';
import { createNotifier, type Notifier } from '../observability/notifications.js';

/** Everything a runtime needs, built from the environment once per process (cold start). */
export interface Assembly<M extends Instrumentation = Instrumentation> {
  config: Config;
  /** The environment with every `ALERTFENCE_X_FILE` read into `ALERTFENCE_X`. */
  env: Env;
  log: Logger;
  kube: KubePort;
  service: FenceService;
  /** `/readyz`'s check: the API server and each driver's pre-flight. */
  ready: () => Promise<void>;
  /** The runtime's metrics, when it asked for them (`AssembleOptions.instrument`). */
  metrics?: M;
  /** Outbound webhooks about fences; a runtime that freezes or exits flushes it first. */
  notifier: Notifier;
}

/** What tests and the demo inject instead of the environment's, and what the runtime adds. */
export interface AssembleOptions<M extends Instrumentation = Instrumentation> {
  kube?: KubePort;
  drivers?: PowerDriver[];
  log?: Logger;
  /** The clock of the fence service; the wall clock by default. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * The runtime's metrics, built from the configuration: their observer hears the fence, and every driver
   * (injected ones too) is wrapped by them before it goes into the registry and the readiness check.
   */
  instrument?: (config: Config, env: Env, log: Logger) => M;
  /** Who else hears the fence, besides the notifications (a test's recorder). */
  observer?: FenceObserver;
}

/** A boolean switch of the runtime's settings: `true`, `1` or `yes`; `false`, `0`, `no` or unset is off. */
export function enabled(env: Env, name: string): boolean {
  const value = env[name]?.trim().toLowerCase() ?? '';
  if (value === '' || ['false', '0', 'no'].includes(value)) return false;
  if (['true', '1', 'yes'].includes(value)) return true;
  throw new ConfigError(`${name} must be true or false, not "${env[name]}"`);
}

/** The enabled power drivers, configured the way each cloud configures its own tools. */
export function driversFromEnv(config: Config, env: Env): PowerDriver[] {
  return config.drivers.map((name) => {
    switch (name) {
      case 'aws':
        return createEc2Driver({
          ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
          ...(env.ALERTFENCE_AWS_ENDPOINT ? { endpoint: env.ALERTFENCE_AWS_ENDPOINT } : {}),
          ...(env.ALERTFENCE_AWS_ROLE_ARN ? { roleArn: env.ALERTFENCE_AWS_ROLE_ARN } : {}),
          ...(env.ALERTFENCE_AWS_CLUSTER_NAME ? { clusterName: env.ALERTFENCE_AWS_CLUSTER_NAME } : {}),
          ...(env.ALERTFENCE_AWS_LOOKUP_TAG ? { lookupTagKey: env.ALERTFENCE_AWS_LOOKUP_TAG } : {}),
          // Nodes without an aws:// providerID, looked up by tag or private DNS name and InternalIP together.
          ...(enabled(env, 'ALERTFENCE_AWS_LOOKUP') ? { defaultDriver: true } : {}),
        });
      case 'openstack':
        try {
          return createOpenStackDriver({
            ...loadOpenStackConfig({ env }),
            // Nodes without a providerID, looked up by name and InternalIP together.
            lookupWithoutProviderID: enabled(env, 'ALERTFENCE_OPENSTACK_LOOKUP'),
          });
        } catch (error) {
          throw new ConfigError(`OpenStack driver: ${(error as Error).message}`, { cause: error });
        }
      case 'redfish':
        try {
          return createRedfishDriver({
            ...loadRedfishConfig({ env }),
            log: createLogger({
              level: config.logLevel,
              base: { component: 'alertfence', driver: 'redfish' },
            }),
          });
        } catch (error) {
          throw new ConfigError(`Redfish driver: ${(error as Error).message}`, { cause: error });
        }
      case 'simulated':
        // The demo cloud: any `simulated:///<id>` node resolves to a running instance with one data volume.
        return new SimulatedDriver({ autoCreate: true });
    }
    throw new ConfigError(`unknown driver ${name}`);
  });
}

/**
 * Builds the configuration, the Kubernetes client, the drivers and the fence service. Throws `ConfigError`
 * with one message that says what to fix, so a misconfigured function refuses to start.
 *
 * @example
 * const { config, service, ready, log } = assemble(process.env);
 */
export function assemble<M extends Instrumentation = Instrumentation>(
  rawEnv: Env,
  options: AssembleOptions<M> = {},
): Assembly<M> {
  // Once, here, so that every part reads secrets from files alike: configuration, Kubernetes access, drivers.
  const env = resolveSecretFiles(rawEnv);
  const config = loadConfig(env);
  const log = options.log ?? createLogger({ level: config.logLevel, base: { component: 'alertfence' } });
  let kube = options.kube;
  if (!kube) {
    const access = loadKubeAccess(env, eksBearerTokenProvider);
    for (const warning of access.warnings) log.warn('INSECURE: Kubernetes access', { reason: warning });
    kube = access.kube;
  }
  const metrics = options.instrument?.(config, env, log);
  const enabledDrivers = (options.drivers ?? driversFromEnv(config, env)).map(
    (driver) => metrics?.instrument(driver) ?? driver,
  );
  const notifier = createNotifier({ settings: config.notify, clusterName: config.clusterName, log });
  const service = createFenceService({
    observer: observers(
      notifier,
      ...(metrics ? [metrics.observer] : []),
      ...(options.observer ? [options.observer] : []),
    ),
    kube,
    drivers: createDriverRegistry(enabledDrivers),
    config,
    log,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((ms) => sleep(ms)),
  });
  return {
    config,
    env,
    log,
    kube,
    service,
    ready: readinessCheck(kube, enabledDrivers),
    notifier,
    ...(metrics ? { metrics } : {}),
  };
}
