/**
 * The redfish section: the `ALERTFENCE_REDFISH_*` variables. `drivers/redfish/config.ts` reads the mapping
 * file and the credential and CA files they name.
 */
import * as z from 'zod';
import { bool, duration } from './fields.js';

/** The label key prefix a node's `<prefix>bmc` and `<prefix>system` are read under, unless turned off. */
export const DEFAULT_REDFISH_NODE_KEY_PREFIX = 'redfish.alertfence.io/';

/** The variables, for messages and the README. */
export const REDFISH_ENV = {
  mapping: 'ALERTFENCE_REDFISH_MAPPING',
  credentials: 'ALERTFENCE_REDFISH_CREDENTIALS',
  caBundle: 'ALERTFENCE_REDFISH_CA_BUNDLE',
  insecure: 'ALERTFENCE_REDFISH_INSECURE',
  auth: 'ALERTFENCE_REDFISH_AUTH',
  nodeKeys: 'ALERTFENCE_REDFISH_NODE_KEYS',
  requestTimeout: 'ALERTFENCE_REDFISH_REQUEST_TIMEOUT',
} as const;

export interface RedfishSettings {
  /** Path of the mapping file of BMCs and nodes; required when the driver is enabled. */
  mapping: string | undefined;
  /** Directory with `username` and `password` files, for BMCs without their own. */
  credentials: string | undefined;
  /** PEM file trusted for BMCs without their own `caBundle`. */
  caBundle: string | undefined;
  insecure: boolean;
  auth: 'basic' | 'session';
  /** `null`: node labels and annotations are not read (`off`). */
  nodeKeyPrefix: string | null;
  requestTimeoutMs: number | undefined;
}

export const redfishSection = z
  .object({
    [REDFISH_ENV.mapping]: z.string().optional(),
    [REDFISH_ENV.credentials]: z.string().optional(),
    [REDFISH_ENV.caBundle]: z.string().optional(),
    [REDFISH_ENV.insecure]: bool(REDFISH_ENV.insecure).default(false),
    [REDFISH_ENV.auth]: z
      .string()
      .transform((text) => text.trim().toLowerCase())
      .pipe(z.enum(['basic', 'session'], { message: 'must be basic or session' }))
      .default('basic'),
    // A label key prefix: a DNS subdomain and a slash, optionally followed by the start of a name.
    [REDFISH_ENV.nodeKeys]: z
      .string()
      .regex(
        /^(off|[a-z0-9]([a-z0-9.-]*[a-z0-9])?\/[A-Za-z0-9._-]*)$/,
        `must be a label key prefix like ${DEFAULT_REDFISH_NODE_KEY_PREFIX}, or off`,
      )
      .default(DEFAULT_REDFISH_NODE_KEY_PREFIX),
    [REDFISH_ENV.requestTimeout]: duration
      .pipe(z.number().min(1000, 'must be at least 1s: BMCs take longer to answer'))
      .optional(),
  })
  .transform(
    (c): RedfishSettings => ({
      mapping: c[REDFISH_ENV.mapping],
      credentials: c[REDFISH_ENV.credentials],
      caBundle: c[REDFISH_ENV.caBundle],
      insecure: c[REDFISH_ENV.insecure],
      auth: c[REDFISH_ENV.auth],
      nodeKeyPrefix: c[REDFISH_ENV.nodeKeys] === 'off' ? null : c[REDFISH_ENV.nodeKeys],
      requestTimeoutMs: c[REDFISH_ENV.requestTimeout],
    }),
  );
