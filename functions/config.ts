import { readFileSync } from 'node:fs';
import * as z from 'zod';

/** A configuration value is wrong: the function refuses to start and says what to fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses `90s`, `5m`, `1h30m`, `250ms` (Go-style, as in Alertmanager and Prometheus) into milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(ms|s|m|h))+$/.test(trimmed)) {
    throw new ConfigError(`"${text}" is not a duration; use e.g. 30s, 5m, 1h30m`);
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(amount) * (units[unit as string] ?? 0);
  }
  return total;
}

/** A limit given as a count (`3`) or a percentage of the nodes in scope (`40%`). */
export type Limit = { kind: 'count'; value: number } | { kind: 'percent'; value: number };

export function parseLimit(text: string): Limit {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!match) throw new ConfigError(`"${text}" is not a count or a percentage; use e.g. 3 or 40%`);
  const value = Number(match[1]);
  if (match[2] === '%') {
    if (value > 100) throw new ConfigError(`"${text}" is over 100%`);
    return { kind: 'percent', value };
  }
  if (!Number.isInteger(value)) throw new ConfigError(`"${text}" must be a whole number of nodes`);
  return { kind: 'count', value };
}

// Every form `matchesSelector` understands: `key`, `!key`, `key=value`, `key==value`, `key!=value`.
const LABEL_SELECTOR =
  /^(![A-Za-z0-9./_-]+|[A-Za-z0-9./_-]+((!=|==?)[A-Za-z0-9._-]*)?)(,(![A-Za-z0-9./_-]+|[A-Za-z0-9./_-]+((!=|==?)[A-Za-z0-9._-]*)?))*$/;

const list = (text: string) =>
  text
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const bool = (name: string) =>
  z.string().transform((text, ctx) => {
    const value = text.trim().toLowerCase();
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    ctx.addIssue({ code: 'custom', message: `${name} must be true or false, not "${text}"` });
    return z.NEVER;
  });

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/** A duration with a floor: below it the function could start but never work (or would lose a guard). */
const durationAtLeast = (minMs: number, why: string) =>
  duration.pipe(z.number().min(minMs, `must be at least ${minMs / 1000}s: ${why}`));

const limit = z.string().transform((text, ctx) => {
  try {
    return parseLimit(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const positiveInt = z
  .string()
  .regex(/^\d+$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1));

// --- Notifications (issue #14) ------------------------------------------------------------------------------

/** The notifications alertfence can send (`ALERTFENCE_NOTIFY_EVENTS`); docs/notifications.md describes each. */
export const NOTIFY_EVENTS = [
  'fence.started',
  'fence.succeeded',
  'fence.failed',
  'fence.aborted',
  'fence.refused.storm-guard',
  'fence.refused.cap',
  'fence.waiting-for-operator',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** Bodies a notification can take: alertfence's versioned JSON, or Slack's `text` + `blocks` (Mattermost too). */
export const NOTIFY_FORMATS = ['json', 'slack'] as const;
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/** Where notifications go, and how. */
export interface NotifySettings {
  /** Each receiver with its body format, in the order of `ALERTFENCE_NOTIFY_URL`; none: nothing is sent. */
  destinations: Array<{ url: string; format: NotifyFormat }>;
  /** Key of the HMAC-SHA256 signature header; unset: requests are not signed. */
  secret: string | undefined;
  events: NotifyEvent[];
  /** Limit of one request to a receiver. */
  timeoutMs: number;
  /** A refusal of the same node for the same reason is notified again only after this long. */
  repeatIntervalMs: number;
}

/** A host a plain-HTTP receiver may have: this machine (tests, a local relay or sidecar). */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

// The value is never echoed: the URL of a Slack or Mattermost webhook is its credential.
const notifyUrl = z.string().check((ctx) => {
  if (!URL.canParse(ctx.value)) {
    ctx.issues.push({ code: 'custom', input: '[redacted]', message: 'is not a URL' });
    return;
  }
  const url = new URL(ctx.value);
  const loopbackHttp = url.protocol === 'http:' && isLoopback(url.hostname);
  if (url.protocol !== 'https:' && !loopbackHttp) {
    ctx.issues.push({
      code: 'custom',
      input: '[redacted]',
      message: 'must be https:// (plain http:// only to a loopback address)',
    });
  }
});

// `all`, or each event's name with or without its `fence.` prefix.
const notifyEvent = z
  .string()
  .transform((name) => (name === 'all' || name.startsWith('fence.') ? name : `fence.${name}`))
  .pipe(
    z.enum(['all', ...NOTIFY_EVENTS], {
      message: `each event must be all or one of ${NOTIFY_EVENTS.join(', ')}`,
    }),
  );

/** The receivers with their formats: one format for all, or one per URL in the same order. */
function notifyDestinations(urls: string[], formats: NotifyFormat[]): NotifySettings['destinations'] {
  if (formats.length !== 1 && formats.length !== urls.length) {
    throw new ConfigError(
      `invalid configuration:\n  ALERTFENCE_NOTIFY_FORMAT: give one format for every URL, or ${urls.length} formats (one per URL of ALERTFENCE_NOTIFY_URL, in order), not ${formats.length}`,
    );
  }
  return urls.map((url, index) => ({ url, format: formats[index] ?? formats[0] ?? 'json' }));
}

// --- end of notifications ------------------------------------------------------------------------------------

/**
 * Every `ALERTFENCE_*` variable, its default, and how it is checked. The README's configuration table is
 * written from this list.
 */
const schema = z.object({
  PORT: positiveInt.pipe(z.number().max(65535)).default(8080),
  ALERTFENCE_TOKENS: z
    .string()
    .transform(list)
    .pipe(
      z
        .array(
          z
            .string()
            .min(16, 'each token must be at least 16 characters')
            // What a bearer token is (RFC 6750 b64token), and all that hono's bearer-auth accepts: any other
            // token could never be presented, and every request would be a silent 401.
            .regex(
              /^[A-Za-z0-9._~+/-]+=*$/,
              'each token must be letters, digits and . _ ~ + / - (then = padding), as RFC 6750 allows',
            ),
        )
        .min(1, 'set at least one bearer token (ALERTFENCE_TOKENS or ALERTFENCE_TOKENS_FILE)'),
    ),
  ALERTFENCE_DRY_RUN: bool('ALERTFENCE_DRY_RUN').default(true),
  ALERTFENCE_JOURNAL_KEY: z
    .string()
    .transform(list)
    .pipe(
      z.array(
        z
          .string()
          .min(32, 'each journal key must be at least 32 characters (e.g. openssl rand -hex 32)')
          .regex(/^[\x21-\x7e]+$/, 'each journal key must be printable ASCII without spaces'),
      ),
    )
    .default([]),
  ALERTFENCE_RESUME_WITHIN: durationAtLeast(60_000, 'a fence must be able to outlive one retry').default(
    60 * 60_000,
  ),
  ALERTFENCE_TICK_INTERVAL: durationAtLeast(10_000, 'each tick reads every journal Lease').default(
    2 * 60_000,
  ),
  // `off` (or 0) leaves detection to Alertmanager alone; otherwise a tick fences a node NotReady this long.
  ALERTFENCE_DETECT_AFTER: z
    .string()
    .transform((text) => (['off', '0'].includes(text.trim()) ? '0ms' : text))
    .pipe(duration)
    .pipe(
      z
        .number()
        .refine(
          (ms) => ms === 0 || ms >= 60_000,
          'must be off or at least 1m: a kubelet is allowed to miss beats for 40s',
        ),
    )
    .default(20 * 60_000),
  ALERTFENCE_MAX_FENCES_PER_NODE: positiveInt.default(3),
  ALERTFENCE_FENCE_WINDOW: durationAtLeast(60_000, 'the cap counts fences within it').default(24 * 3_600_000),
  ALERTFENCE_HISTORY: positiveInt
    .pipe(z.number().max(50, 'the history lives in one Lease annotation'))
    .default(10),
  ALERTFENCE_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
    .default('alertfence'),
  ALERTFENCE_NODE_LABELS: z.string().transform(list).pipe(z.array(z.string()).min(1)).default(['node']),
  ALERTFENCE_ALERT_NAMES: z
    .string()
    .transform(list)
    .default(['KubeNodeNotReady', 'KubeNodeUnreachable', 'AlertfenceNodeDown']),
  ALERTFENCE_NODE_SELECTOR: z
    .string()
    .regex(LABEL_SELECTOR, 'must be a label selector like a=b,c')
    .optional(),
  ALERTFENCE_EXCLUDE_LABEL: z.string().default('alertfence.io/exclude'),
  ALERTFENCE_ALLOW_CONTROL_PLANE: bool('ALERTFENCE_ALLOW_CONTROL_PLANE').default(false),
  ALERTFENCE_UNHEALTHY_FOR: durationAtLeast(10_000, 'below it a live kubelet may look dead').default(120_000),
  ALERTFENCE_MAX_UNHEALTHY: limit.default({ kind: 'percent', value: 30 }),
  ALERTFENCE_MAX_UNHEALTHY_PER_ZONE: limit.default({ kind: 'percent', value: 30 }),
  ALERTFENCE_MAX_CONCURRENT_FENCES: positiveInt.default(1),
  ALERTFENCE_COOLDOWN: duration.default(30 * 60_000),
  ALERTFENCE_POWER_ON: z.enum(['on', 'off']).default('on'),
  ALERTFENCE_POWER_TIMEOUT: durationAtLeast(10_000, 'clouds take seconds to stop a machine').default(
    5 * 60_000,
  ),
  ALERTFENCE_RELEASE_TIMEOUT: duration.default(2 * 60_000),
  ALERTFENCE_LOCK_DURATION: durationAtLeast(10_000, 'each step renews the Lock within half of it').default(
    60_000,
  ),
  ALERTFENCE_RUN_BUDGET: durationAtLeast(
    10_000,
    'an invocation needs time to run a step and save it',
  ).default(14 * 60_000),
  ALERTFENCE_MAX_BODY_BYTES: positiveInt.default(1024 * 1024),
  ALERTFENCE_DRIVERS: z
    .string()
    .transform(list)
    .pipe(z.array(z.enum(['aws', 'openstack', 'redfish', 'simulated'])).min(1))
    .default(['aws']),
  ALERTFENCE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  // --- Notifications (issue #14, docs/notifications.md): outbound webhooks about fences ---------------------
  // The URLs are secrets (a Slack webhook URL is its own credential): no message here ever repeats one.
  ALERTFENCE_NOTIFY_URL: z.string().transform(list).pipe(z.array(notifyUrl)).default([]),
  ALERTFENCE_NOTIFY_FORMAT: z
    .string()
    .transform(list)
    .pipe(z.array(z.enum(NOTIFY_FORMATS, { message: `each format must be ${NOTIFY_FORMATS.join(' or ')}` })))
    .default(['json']),
  ALERTFENCE_NOTIFY_SECRET: z
    .string()
    .min(16, 'must be at least 16 characters (e.g. openssl rand -hex 32)')
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  ALERTFENCE_NOTIFY_EVENTS: z
    .string()
    .transform(list)
    .pipe(z.array(notifyEvent).min(1, 'name at least one event, or leave it unset for all'))
    .transform((events) => (events.includes('all') ? [...NOTIFY_EVENTS] : (events as NotifyEvent[])))
    .default([...NOTIFY_EVENTS]),
  ALERTFENCE_NOTIFY_TIMEOUT: durationAtLeast(1_000, 'a receiver needs time to answer')
    .pipe(z.number().max(10_000, 'must be at most 10s: a notification gets 10s in all'))
    .default(5_000),
  ALERTFENCE_NOTIFY_REPEAT_INTERVAL: duration.default(60 * 60_000),
  ALERTFENCE_CLUSTER_NAME: z
    .string()
    .max(100, 'must be at most 100 characters')
    .regex(/^\P{Cc}+$/u, 'must be printable text on one line')
    .optional(),
  // --- end of notifications ---------------------------------------------------------------------------------
});

/** The validated configuration. */
export interface Config {
  port: number;
  tokens: string[];
  dryRun: boolean;
  /**
   * Keys that seal journals (HMAC-SHA256): the first seals, any verifies, so a key can be rotated. Required
   * when armed: an unsealed journal is never obeyed.
   */
  journalKeys: string[];
  /** A fence stopped longer ago than this is only reported; it waits for a manual request. */
  resumeWithinMs: number;
  /** How often the scheduled tick runs in a long-running process (the Node server, OpenFaaS in process). */
  tickIntervalMs: number;
  /**
   * The tick fences, under every guard, a node NotReady for this long without an alert (the monitoring stack
   * may have died with it); 0 turns this off.
   */
  detectAfterMs: number;
  /** At most this many fences of one node (that powered it off) within `fenceWindowMs`; then a human must look. */
  maxFencesPerNode: number;
  fenceWindowMs: number;
  /** Earlier fences kept per node, in its Lease. */
  historyLength: number;
  namespace: string;
  /** Alert labels that name the node, in order of preference. */
  nodeLabels: string[];
  /** Alert names that may start a fence; empty (configured as `*`) accepts any alert that names a node. */
  alertNames: string[];
  /** Opt-in: only nodes matching this label selector are fenced. Unset means every node. */
  nodeSelector: string | undefined;
  excludeLabel: string;
  allowControlPlane: boolean;
  unhealthyForMs: number;
  maxUnhealthy: Limit;
  /**
   * Storm guard per failure domain (zone, and region): unhealthy nodes in scope of the domain, a count or a
   * percent of the domain's nodes in scope; one dead node per domain is always allowed.
   */
  maxUnhealthyPerZone: Limit;
  maxConcurrentFences: number;
  cooldownMs: number;
  powerOn: 'on' | 'off';
  powerTimeoutMs: number;
  releaseTimeoutMs: number;
  lockDurationMs: number;
  runBudgetMs: number;
  maxBodyBytes: number;
  drivers: Array<'aws' | 'openstack' | 'redfish' | 'simulated'>;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The cluster's name in notifications (`ALERTFENCE_CLUSTER_NAME`); unset: not shown. */
  clusterName: string | undefined;
  /** Outbound webhooks about fences (docs/notifications.md). */
  notify: NotifySettings;
}

/** An environment: variable names to values. */
export type Env = Record<string, string | undefined>;

/**
 * Variables that hold a list: from a file, one item a line (joined with commas, as the variable takes them).
 * Every other value is taken whole, only its trailing newline dropped: a password, a key or a document (a
 * kubeconfig, a mapping) may hold commas and newlines of its own.
 */
const LIST_VARIABLES: ReadonlySet<string> = new Set([
  'ALERTFENCE_TOKENS',
  'ALERTFENCE_JOURNAL_KEY',
  'ALERTFENCE_NODE_LABELS',
  'ALERTFENCE_ALERT_NAMES',
  'ALERTFENCE_DRIVERS',
  'ALERTFENCE_NOTIFY_URL',
  'ALERTFENCE_NOTIFY_FORMAT',
  'ALERTFENCE_NOTIFY_EVENTS',
]);

/** A variable's value as read from a file or a secret store (see `LIST_VARIABLES`). */
export function valueFromSecret(name: string, content: string): string {
  if (LIST_VARIABLES.has(name)) return list(content).join(',');
  return name === 'ALERTFENCE_KUBECONFIG_INLINE' ? content : content.replace(/\r?\n$/, '');
}

const readUtf8 = (path: string) => readFileSync(path, 'utf8');

/**
 * Resolves every `ALERTFENCE_X_FILE` into `ALERTFENCE_X` (OpenFaaS mounts secrets under
 * `/var/openfaas/secrets/`, Kubernetes wherever the pod says) and drops the `_FILE` names, so resolving twice
 * changes nothing. A list variable's file holds one item a line; any other file is the value itself.
 */
export function resolveSecretFiles(env: Env, readFile: (path: string) => string = readUtf8): Env {
  const resolved: Env = { ...env };
  for (const [key, path] of Object.entries(env)) {
    if (!key.endsWith('_FILE') || !key.startsWith('ALERTFENCE_')) continue;
    delete resolved[key];
    if (!path) continue;
    const name = key.slice(0, -'_FILE'.length);
    if (env[name] !== undefined && env[name] !== '') {
      throw new ConfigError(`set either ${name} or ${key}, not both`);
    }
    let content: string;
    try {
      content = readFile(path);
    } catch (error) {
      throw new ConfigError(
        `${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          cause: error,
        },
      );
    }
    resolved[name] = valueFromSecret(name, content);
  }
  return resolved;
}

/**
 * Reads and checks the configuration. Throws `ConfigError` listing every bad variable, so a misconfigured
 * function refuses to start with one message that says what to fix. Secrets never appear in the message.
 *
 * @example
 * const config = loadConfig(process.env);
 */
export function loadConfig(env: Env, readFile: (path: string) => string = readUtf8): Config {
  const raw = resolveSecretFiles(env, readFile);
  const present = Object.fromEntries(
    Object.entries(raw).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const c = parsed.data;
  if (!c.ALERTFENCE_DRY_RUN && c.ALERTFENCE_JOURNAL_KEY.length === 0) {
    throw new ConfigError(
      'invalid configuration:\n  ALERTFENCE_JOURNAL_KEY: required when ALERTFENCE_DRY_RUN=false: an armed alertfence seals its journals so that nobody else can write one it would obey (e.g. ALERTFENCE_JOURNAL_KEY=$(openssl rand -hex 32), or ALERTFENCE_JOURNAL_KEY_FILE)',
    );
  }
  return {
    port: c.PORT,
    tokens: c.ALERTFENCE_TOKENS,
    dryRun: c.ALERTFENCE_DRY_RUN,
    journalKeys: c.ALERTFENCE_JOURNAL_KEY,
    resumeWithinMs: c.ALERTFENCE_RESUME_WITHIN,
    tickIntervalMs: c.ALERTFENCE_TICK_INTERVAL,
    detectAfterMs: c.ALERTFENCE_DETECT_AFTER,
    maxFencesPerNode: c.ALERTFENCE_MAX_FENCES_PER_NODE,
    fenceWindowMs: c.ALERTFENCE_FENCE_WINDOW,
    historyLength: c.ALERTFENCE_HISTORY,
    namespace: c.ALERTFENCE_NAMESPACE,
    nodeLabels: c.ALERTFENCE_NODE_LABELS,
    // `*` accepts any alert that names a node (the route decides what is sent).
    alertNames: c.ALERTFENCE_ALERT_NAMES.includes('*') ? [] : c.ALERTFENCE_ALERT_NAMES,
    nodeSelector: c.ALERTFENCE_NODE_SELECTOR,
    excludeLabel: c.ALERTFENCE_EXCLUDE_LABEL,
    allowControlPlane: c.ALERTFENCE_ALLOW_CONTROL_PLANE,
    unhealthyForMs: c.ALERTFENCE_UNHEALTHY_FOR,
    maxUnhealthy: c.ALERTFENCE_MAX_UNHEALTHY,
    maxUnhealthyPerZone: c.ALERTFENCE_MAX_UNHEALTHY_PER_ZONE,
    maxConcurrentFences: c.ALERTFENCE_MAX_CONCURRENT_FENCES,
    cooldownMs: c.ALERTFENCE_COOLDOWN,
    powerOn: c.ALERTFENCE_POWER_ON,
    powerTimeoutMs: c.ALERTFENCE_POWER_TIMEOUT,
    releaseTimeoutMs: c.ALERTFENCE_RELEASE_TIMEOUT,
    lockDurationMs: c.ALERTFENCE_LOCK_DURATION,
    runBudgetMs: c.ALERTFENCE_RUN_BUDGET,
    maxBodyBytes: c.ALERTFENCE_MAX_BODY_BYTES,
    drivers: c.ALERTFENCE_DRIVERS,
    logLevel: c.ALERTFENCE_LOG_LEVEL,
    clusterName: c.ALERTFENCE_CLUSTER_NAME,
    notify: {
      destinations: notifyDestinations(c.ALERTFENCE_NOTIFY_URL, c.ALERTFENCE_NOTIFY_FORMAT),
      secret: c.ALERTFENCE_NOTIFY_SECRET,
      events: c.ALERTFENCE_NOTIFY_EVENTS,
      timeoutMs: c.ALERTFENCE_NOTIFY_TIMEOUT,
      repeatIntervalMs: c.ALERTFENCE_NOTIFY_REPEAT_INTERVAL,
    },
  };
}
