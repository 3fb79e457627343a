import { eksBearerTokenProvider } from '../../drivers/aws-ec2/eks-token.js';
import { createEc2Driver } from '../../drivers/aws-ec2/index.js';
import type { PowerDriver } from '../../drivers/driver.js';
import { createOpenStackDriver, loadOpenStackConfig } from '../../drivers/openstack/index.js';
import { createRedfishDriver, loadRedfishConfig } from '../../drivers/redfish/index.js';
import { createDriverRegistry } from '../../drivers/registry.js';
import { SimulatedDriver } from '../../drivers/simulated/simulated-driver.js';
import { type Config, ConfigError, type Env, loadConfig } from '../config.js';
import type { FenceService } from '../fence/api.js';
import { type FenceObserver, observers } from '../fence/observer.js';
import { createFenceService } from '../fence/service.js';
import { scopeSelector } from '../fence/storm-guard.js';
import { readinessCheck } from '../http/readiness.js';
import { type KubeAccess, loadKubeAccess } from '../kube/access.js';
import type { KubeEndpoint } from '../kube/kubeconfig.js';
import type { NodeView } from '../kube/node-view.js';
import type { KubePort } from '../kube/port.js';
import { sleep } from '../lib/wait.js';
import { createLogger, type Logger } from '../log.js';
import type { Instrumentation } from '../observability/instrumentation.js';
import { createNotifier, type Notifier } from '../observability/notifications.js';

/** Everything a runtime needs, built from the environment once per process (cold start). */
export interface Assembly<M extends Instrumentation = Instrumentation> {
  config: Config;
  log: Logger;
  kube: KubePort;
  service: FenceService;
  /** `/readyz`'s check: the API server and each driver's pre-flight. */
  ready: () => Promise<void>;
  /** The runtime's metrics, when it asked for them (`AssembleOptions.instrument`). */
  metrics?: M;
  /** Outbound webhooks about fences; a runtime that freezes or exits flushes it first. */
  notifier: Notifier;
  /** The Nodes followed for the storm guards' counts (`AssembleOptions.followNodes`); closed with the process. */
  nodeView?: NodeView;
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
  instrument?: (config: Config, log: Logger) => M;
  /** Who else hears the fence, besides the notifications (a test's recorder). */
  observer?: FenceObserver;
  /**
   * Follows the Nodes for the storm guards' counts: given by a runtime whose process stays up between requests
   * (never a Lambda, frozen in between); used with the environment's Kubernetes access and
   * `ALERTFENCE_FOLLOW_NODES`, never with an injected `kube`.
   */
  followNodes?: NodeFollower;
}

/** Starts following the Nodes a label selector selects, as the identity of `endpoint`. */
export type NodeFollower = (endpoint: KubeEndpoint, labelSelector: string, log: Logger) => NodeView;

/** The enabled power drivers, built from their sections of the configuration. */
export function driversFromConfig(config: Config): PowerDriver[] {
  return config.drivers.map((name) => {
    switch (name) {
      case 'aws': {
        const aws = sectionOf(config.aws, name);
        return createEc2Driver({
          ...(aws.region ? { region: aws.region } : {}),
          ...(aws.endpoint ? { endpoint: aws.endpoint } : {}),
          ...(aws.roleArn ? { roleArn: aws.roleArn } : {}),
          ...(aws.clusterName ? { clusterName: aws.clusterName } : {}),
          ...(aws.lookupTagKey ? { lookupTagKey: aws.lookupTagKey } : {}),
          // Nodes without an aws:// providerID, looked up by tag or private DNS name and InternalIP together.
          ...(aws.lookup ? { defaultDriver: true } : {}),
        });
      }
      case 'openstack': {
        const settings = sectionOf(config.openstack, name);
        try {
          return createOpenStackDriver({
            ...loadOpenStackConfig({ settings }),
            // Nodes without a providerID, looked up by name and InternalIP together.
            lookupWithoutProviderID: settings.lookup,
          });
        } catch (error) {
          throw new ConfigError(`OpenStack driver: ${(error as Error).message}`, { cause: error });
        }
      }
      case 'redfish':
        try {
          return createRedfishDriver({
            ...loadRedfishConfig({ settings: sectionOf(config.redfish, name) }),
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

/** A driver's section, which `loadConfig` fills whenever the driver is enabled. */
function sectionOf<T>(section: T | undefined, driver: string): T {
  if (section === undefined)
    throw new ConfigError(`the ${driver} driver is not enabled in ALERTFENCE_DRIVERS`);
  return section;
}

/**
 * Runs each builder and returns what each built; when any throws `ConfigError`, throws one that names every
 * problem, so the files the configuration names (kubeconfig, clouds.yaml, a Redfish mapping) are reported
 * together, as the variables are.
 */
function buildAll<T extends unknown[]>(...builders: { [K in keyof T]: () => T[K] }): T {
  const problems: string[] = [];
  const built = builders.map((build) => {
    try {
      return build();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error.message.replace(/^invalid configuration:\n {2}/, ''));
      return undefined;
    }
  });
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return built as T;
}

/**
 * Builds the configuration, the Kubernetes client, the drivers and the fence service. Throws `ConfigError`
 * with one message that says what to fix, so a misconfigured function refuses to start.
 *
 * @example
 * const { config, service, ready, log } = assemble(process.env);
 */
export function assemble<M extends Instrumentation = Instrumentation>(
  env: Env,
  options: AssembleOptions<M> = {},
): Assembly<M> {
  const config = loadConfig(env);
  const log = options.log ?? createLogger({ level: config.logLevel, base: { component: 'alertfence' } });
  const [access, drivers] = buildAll(
    () => (options.kube ? undefined : loadKubeAccess(config.kube, eksBearerTokenProvider)),
    () => options.drivers ?? driversFromConfig(config),
  );
  for (const warning of access?.warnings ?? []) log.warn('INSECURE: Kubernetes access', { reason: warning });
  const kube = options.kube ?? (access as KubeAccess).kube;
  const metrics = options.instrument?.(config, log);
  const enabledDrivers = drivers.map((driver) => metrics?.instrument(driver) ?? driver);
  const notifier = createNotifier({ settings: config.notify, clusterName: config.clusterName, log });
  const nodeView =
    options.followNodes && access && config.kube.followNodes
      ? options.followNodes(access.endpoint, scopeSelector(config), log)
      : undefined;
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
    ...(nodeView ? { nodeView } : {}),
  });
  return {
    config,
    log,
    kube,
    service,
    ready: readinessCheck(kube, enabledDrivers),
    notifier,
    ...(metrics ? { metrics } : {}),
    ...(nodeView ? { nodeView } : {}),
  };
}
