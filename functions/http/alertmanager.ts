import * as z from 'zod';
import type { FenceTarget } from '../fence/api.js';
import { REASONS } from '../fence/vocabulary.js';
import { isValidNodeName } from '../kube/node-facts.js';

/** At most this many alerts are read from one payload (Alertmanager's `max_alerts` is unbounded by default). */
export const MAX_ALERTS = 1000;

const labels = z.record(z.string(), z.string());

/**
 * Alertmanager webhook payload, version 4. Unknown fields are tolerated (newer Alertmanagers add some);
 * alerts are checked one by one, so one bad alert does not spoil the others.
 */
const payloadSchema = z.object({
  version: z.literal('4'),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().min(0).optional(),
  groupLabels: labels.optional(),
  commonLabels: labels.optional(),
  commonAnnotations: labels.optional(),
  externalURL: z.string().optional(),
  alerts: z.array(z.unknown()).max(MAX_ALERTS),
});

const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels,
  annotations: labels.optional(),
  startsAt: z.string().optional(),
  // While firing, Alertmanager sends the zero time 0001-01-01T00:00:00Z: not a resolution.
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().optional(),
});

export type AlertmanagerPayload = z.infer<typeof payloadSchema>;

/** A node or alert that was not turned into a fence request, with why. */
export interface AlertVerdict {
  node: string;
  outcome: 'refused' | 'skipped';
  reason: string;
  message: string;
}

export interface AlertTargets {
  targets: FenceTarget[];
  verdicts: AlertVerdict[];
  truncatedAlerts: number;
}

/** The payload is not an Alertmanager webhook: a 400, and nothing else happens. */
export class InvalidPayloadError extends Error {
  override name = 'InvalidPayloadError';
  readonly details: string[];
  constructor(message: string, details: string[]) {
    super(message);
    this.details = details;
  }
}

function describeIssues(error: z.ZodError): string[] {
  return error.issues.slice(0, 10).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

export function parsePayload(body: unknown): AlertmanagerPayload {
  const parsed = payloadSchema.safeParse(body);
  if (!parsed.success) {
    throw new InvalidPayloadError(
      'not an Alertmanager webhook payload (version 4)',
      describeIssues(parsed.error),
    );
  }
  return parsed.data;
}

/**
 * Turns a payload into one fence request per firing node, de-duplicated. A resolved alert never starts a
 * fence (safety invariant 8); an alert without a usable node label is refused on its own.
 */
export function alertTargets(
  payload: AlertmanagerPayload,
  options: { nodeLabels: readonly string[]; alertNames: readonly string[] },
): AlertTargets {
  const firing = new Map<string, FenceTarget>();
  const verdicts = new Map<string, AlertVerdict>();
  payload.alerts.forEach((raw, index) => {
    const parsed = alertSchema.safeParse(raw);
    const where = `alerts[${index}]`;
    if (!parsed.success) {
      verdicts.set(where, {
        node: where,
        outcome: 'refused',
        reason: REASONS.invalidAlert,
        message: `malformed alert: ${describeIssues(parsed.error).join('; ')}`,
      });
      return;
    }
    const alert = parsed.data;
    const alertname = alert.labels.alertname ?? '';
    const label = options.nodeLabels.find((name) => alert.labels[name]);
    const node = label ? (alert.labels[label] ?? '') : '';
    const key = node || where;
    if (!label) {
      verdicts.set(key, {
        node: where,
        outcome: 'refused',
        reason: REASONS.invalidAlert,
        message: `alert ${alertname || '(unnamed)'} has none of the node labels ${options.nodeLabels.join(', ')}`,
      });
      return;
    }
    if (!isValidNodeName(node)) {
      verdicts.set(where, {
        node: where,
        outcome: 'refused',
        reason: REASONS.invalidAlert,
        message: `label ${label} is not a valid node name`,
      });
      return;
    }
    if (options.alertNames.length > 0 && !options.alertNames.includes(alertname)) {
      if (!firing.has(node)) {
        verdicts.set(node, {
          node,
          outcome: 'skipped',
          reason: REASONS.notAFenceAlert,
          message: `alert ${alertname || '(unnamed)'} is not in ALERTFENCE_ALERT_NAMES`,
        });
      }
      return;
    }
    if (alert.status === 'resolved') {
      if (!firing.has(node)) {
        verdicts.set(node, {
          node,
          outcome: 'skipped',
          reason: REASONS.alertResolved,
          message: `${alertname} resolved`,
        });
      }
      return;
    }
    verdicts.delete(node);
    if (!firing.has(node)) {
      firing.set(node, {
        node,
        trigger: {
          kind: 'alert',
          reason: `${alertname} firing since ${alert.startsAt ?? 'unknown'}`,
          alertname,
          ...(alert.fingerprint ? { fingerprint: alert.fingerprint } : {}),
          force: false,
        },
      });
    }
  });
  return {
    targets: [...firing.values()],
    verdicts: [...verdicts.values()],
    truncatedAlerts: payload.truncatedAlerts ?? 0,
  };
}
