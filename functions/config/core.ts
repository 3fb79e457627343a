/**
 * The core section: what every runtime reads, the fence's guards and limits, and the Node server's address.
 * The README's configuration table is written from this list.
 */
import * as z from 'zod';
import { bool, duration, durationAtLeast, type Limit, limit, list, positiveInt } from './fields.js';

// Every form `matchesSelector` understands: `key`, `!key`, `key=value`, `key==value`, `key!=value`.
const LABEL_SELECTOR =
  /^(![A-Za-z0-9./_-]+|[A-Za-z0-9./_-]+((!=|==?)[A-Za-z0-9._-]*)?)(,(![A-Za-z0-9./_-]+|[A-Za-z0-9./_-]+((!=|==?)[A-Za-z0-9._-]*)?))*$/;

/** The power drivers alertfence has (`ALERTFENCE_DRIVERS`). */
export const DRIVER_NAMES = ['aws', 'openstack', 'redfish', 'simulated'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

/** The core settings. */
export interface CoreConfig {
  port: number;
  /** Address the Node server listens on (`HOST`); OpenFaaS listens where its watchdog proxies to. */
  host: string;
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
  drivers: DriverName[];
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The cluster's name in notifications (`ALERTFENCE_CLUSTER_NAME`); unset: not shown. */
  clusterName: string | undefined;
}

const tokens = z
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
  );

const journalKeys = z
  .string()
  .transform(list)
  .pipe(
    z.array(
      z
        .string()
        .min(32, 'each journal key must be at least 32 characters (e.g. openssl rand -hex 32)')
        .regex(/^[\x21-\x7e]+$/, 'each journal key must be printable ASCII without spaces'),
    ),
  );

// `off` (or 0) leaves detection to Alertmanager alone; otherwise a tick fences a node NotReady this long.
const detectAfter = z
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
  );

/** `ALERTFENCE_DRIVERS`: which drivers are enabled, and so which driver sections are read. */
export const driversField = z
  .string()
  .transform(list)
  .pipe(z.array(z.enum(DRIVER_NAMES)).min(1))
  .default(['aws']);

/** `PORT`, `HOST` and the core `ALERTFENCE_*` variables, with their defaults. */
export const coreSection = z
  .object({
    PORT: positiveInt.pipe(z.number().max(65535)).default(8080),
    HOST: z.string().default('0.0.0.0'),
    ALERTFENCE_TOKENS: tokens,
    ALERTFENCE_DRY_RUN: bool('ALERTFENCE_DRY_RUN').default(true),
    ALERTFENCE_JOURNAL_KEY: journalKeys.default([]),
    ALERTFENCE_RESUME_WITHIN: durationAtLeast(60_000, 'a fence must be able to outlive one retry').default(
      60 * 60_000,
    ),
    ALERTFENCE_TICK_INTERVAL: durationAtLeast(10_000, 'each tick reads every journal Lease').default(
      2 * 60_000,
    ),
    ALERTFENCE_DETECT_AFTER: detectAfter.default(20 * 60_000),
    ALERTFENCE_MAX_FENCES_PER_NODE: positiveInt.default(3),
    ALERTFENCE_FENCE_WINDOW: durationAtLeast(60_000, 'the cap counts fences within it').default(
      24 * 3_600_000,
    ),
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
    ALERTFENCE_UNHEALTHY_FOR: durationAtLeast(10_000, 'below it a live kubelet may look dead').default(
      120_000,
    ),
    ALERTFENCE_MAX_UNHEALTHY: limit.default({ kind: 'percent', value: 30 }),
    ALERTFENCE_MAX_UNHEALTHY_PER_ZONE: limit.default({ kind: 'percent', value: 30 }),
    ALERTFENCE_MAX_CONCURRENT_FENCES: positiveInt.default(1),
    ALERTFENCE_COOLDOWN: duration.default(30 * 60_000),
    ALERTFENCE_POWER_ON: z.enum(['on', 'off']).default('on'),
    ALERTFENCE_POWER_TIMEOUT: durationAtLeast(10_000, 'clouds take seconds to stop a machine').default(
      5 * 60_000,
    ),
    ALERTFENCE_RELEASE_TIMEOUT: duration.default(2 * 60_000),
    ALERTFENCE_LOCK_DURATION: durationAtLeast(10_000, 'each phase renews the Lock within half of it').default(
      60_000,
    ),
    ALERTFENCE_RUN_BUDGET: durationAtLeast(
      10_000,
      'an invocation needs time to run a phase and save it',
    ).default(14 * 60_000),
    ALERTFENCE_MAX_BODY_BYTES: positiveInt.default(1024 * 1024),
    ALERTFENCE_DRIVERS: driversField,
    ALERTFENCE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    ALERTFENCE_CLUSTER_NAME: z
      .string()
      .max(100, 'must be at most 100 characters')
      .regex(/^\P{Cc}+$/u, 'must be printable text on one line')
      .optional(),
  })
  .refine(
    // Strict comparisons: this check runs even when other variables are bad (`when`), on what parsed.
    (c) => !(c.ALERTFENCE_DRY_RUN === false && c.ALERTFENCE_JOURNAL_KEY?.length === 0),
    {
      path: ['ALERTFENCE_JOURNAL_KEY'],
      message:
        'required when ALERTFENCE_DRY_RUN=false: an armed alertfence seals its journals so that nobody else can write one it would obey (e.g. ALERTFENCE_JOURNAL_KEY=$(openssl rand -hex 32), or ALERTFENCE_JOURNAL_KEY_FILE)',
      when: () => true,
    },
  )
  .transform(
    (c): CoreConfig => ({
      port: c.PORT,
      host: c.HOST,
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
    }),
  );
