/**
 * The configuration of alertfence: every variable the function reads, in typed sections (core, kube, aws,
 * openstack, redfish, lambda, openfaas, notify, metrics; each in `functions/config/`), checked in one pass
 * when the function starts. A misconfigured function refuses to start with ONE message that names every bad
 * value. The README's configuration table is written from these sections.
 */
import type * as z from 'zod';
import { type AwsSettings, awsSection } from './config/aws.js';
import { type CoreConfig, coreSection, type DriverName, driversField } from './config/core.js';
import { ConfigError, type Env } from './config/fields.js';
import { type KubeSettings, kubeSection } from './config/kube.js';
import { type LambdaSettings, lambdaSection } from './config/lambda.js';
import { type MetricsSettings, metricsSection } from './config/metrics.js';
import { type NotifySettings, notifySection } from './config/notify.js';
import { type OpenFaasSettings, openFaasSection } from './config/openfaas.js';
import { type OpenStackSettings, openStackSection } from './config/openstack.js';
import { REDFISH_ENV, type RedfishSettings, redfishSection } from './config/redfish.js';
import { causeOf, readSecretFiles, readUtf8 } from './config/secret-files.js';

export type { AwsSettings } from './config/aws.js';
export { type CoreConfig, DRIVER_NAMES, type DriverName } from './config/core.js';
export {
  ConfigError,
  type Env,
  type Limit,
  parseDuration,
  parseLimit,
} from './config/fields.js';
export type { KubeAccessMode, KubeSettings } from './config/kube.js';
export type { LambdaSettings } from './config/lambda.js';
export type { MetricsSettings } from './config/metrics.js';
export {
  NOTIFY_EVENTS,
  NOTIFY_FORMATS,
  type NotifyEvent,
  type NotifyFormat,
  type NotifySettings,
} from './config/notify.js';
export { type OpenFaasSettings, watchdogDuration } from './config/openfaas.js';
export type { OpenStackSettings, SecretSource } from './config/openstack.js';
export { DEFAULT_REDFISH_NODE_KEY_PREFIX, REDFISH_ENV, type RedfishSettings } from './config/redfish.js';
export { resolveSecretFiles, valueFromSecret } from './config/secret-files.js';

/**
 * The validated configuration: the core settings at the top, each other concern in its section. A driver's
 * section is there only when `ALERTFENCE_DRIVERS` enables the driver (its variables are checked only then).
 */
export interface Config extends CoreConfig {
  kube: KubeSettings;
  aws: AwsSettings | undefined;
  openstack: OpenStackSettings | undefined;
  redfish: RedfishSettings | undefined;
  lambda: LambdaSettings;
  openfaas: OpenFaasSettings;
  /** Outbound webhooks about fences (docs/notifications.md). */
  notify: NotifySettings;
  metrics: MetricsSettings;
}

/** One section's problems, each `VARIABLE: what is wrong`; the value itself is never repeated for a secret. */
function problemsOf(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`);
}

/**
 * Parses one section of the configuration from an environment, or throws `ConfigError` naming its bad
 * variables. For tests and tools that need a single section; the function itself uses {@link loadConfig}.
 *
 * @example
 * const redfish = readSection(redfishSection, { ALERTFENCE_REDFISH_MAPPING: '/etc/redfish.yaml' });
 */
export function readSection<T>(section: z.ZodType<T>, env: Env): T {
  const parsed = section.safeParse(present(env));
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration:\n  ${problemsOf(parsed.error).join('\n  ')}`);
  }
  return parsed.data;
}

/** The variables that are set: an empty value counts as unset, as in the shell's `${X:-default}`. */
function present(env: Env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
    ),
  );
}

/**
 * Reads and checks the whole configuration. Throws `ConfigError` listing every bad variable of every section,
 * so a misconfigured function refuses to start with one message that says what to fix. Secrets never appear
 * in the message.
 *
 * @example
 * const config = loadConfig(process.env);
 */
export function loadConfig(env: Env, readFile: (path: string) => string = readUtf8): Config {
  // A secret file that cannot be read is one more problem of the message, not a stop before the others.
  const secrets = readSecretFiles(env, readFile);
  const vars = present(secrets.env);
  const problems: string[] = [...secrets.problems];
  const parse = <T>(section: z.ZodType<T>): T | undefined => {
    const parsed = section.safeParse(vars);
    if (parsed.success) return parsed.data;
    problems.push(...problemsOf(parsed.error));
    return undefined;
  };
  const core = parse(coreSection);
  // Read apart from the core, so that a driver's bad settings are named even when a core value is bad too.
  const drivers = driversField.safeParse(vars.ALERTFENCE_DRIVERS).data ?? [];
  const enabled = (driver: DriverName) => drivers.includes(driver);
  const sections = {
    kube: parse(kubeSection),
    aws: enabled('aws') ? parse(awsSection) : undefined,
    openstack: enabled('openstack') ? parse(openStackSection) : undefined,
    redfish: enabled('redfish') ? parse(redfishSection) : undefined,
    lambda: parse(lambdaSection),
    openfaas: parse(openFaasSection),
    notify: parse(notifySection),
    metrics: parse(metricsSection),
  };
  if (sections.redfish && sections.redfish.mapping === undefined) {
    problems.push(
      `${REDFISH_ENV.mapping}: required with ALERTFENCE_DRIVERS=redfish: name the mapping file of BMCs and nodes (example: infra/redfish/mapping.example.yaml)`,
    );
  }
  const { kube, lambda, openfaas, notify, metrics } = sections;
  if (problems.length > 0 || !core || !kube || !lambda || !openfaas || !notify || !metrics) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`, {
      cause: causeOf(secrets.causes),
    });
  }
  return { ...core, ...sections, kube, lambda, openfaas, notify, metrics };
}
