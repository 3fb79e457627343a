/** The notify section: outbound webhooks about fences (issue #14, docs/notifications.md). */
import * as z from 'zod';
import { duration, durationAtLeast, list } from './fields.js';

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

/** `ALERTFENCE_NOTIFY_*`: the receivers, their formats, the signing key, the events and the limits. */
export const notifySection = z
  .object({
    // The URLs are secrets (a Slack webhook URL is its own credential): no message here ever repeats one.
    ALERTFENCE_NOTIFY_URL: z.string().transform(list).pipe(z.array(notifyUrl)).default([]),
    ALERTFENCE_NOTIFY_FORMAT: z
      .string()
      .transform(list)
      .pipe(
        z.array(z.enum(NOTIFY_FORMATS, { message: `each format must be ${NOTIFY_FORMATS.join(' or ')}` })),
      )
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
  })
  // One format for all receivers, or one per URL in the same order; checked even when other variables are bad.
  .check((ctx) => {
    const { ALERTFENCE_NOTIFY_URL: urls, ALERTFENCE_NOTIFY_FORMAT: formats } = ctx.value;
    if (!Array.isArray(urls) || !Array.isArray(formats)) return;
    if (formats.length !== 1 && formats.length !== urls.length) {
      ctx.issues.push({
        code: 'custom',
        input: formats,
        path: ['ALERTFENCE_NOTIFY_FORMAT'],
        message: `give one format for every URL, or ${urls.length} formats (one per URL of ALERTFENCE_NOTIFY_URL, in order), not ${formats.length}`,
      });
    }
  })
  .transform((c): NotifySettings => {
    const urls = c.ALERTFENCE_NOTIFY_URL;
    const formats = c.ALERTFENCE_NOTIFY_FORMAT;
    return {
      destinations: urls.map((url, index) => ({ url, format: formats[index] ?? formats[0] ?? 'json' })),
      secret: c.ALERTFENCE_NOTIFY_SECRET,
      events: c.ALERTFENCE_NOTIFY_EVENTS,
      timeoutMs: c.ALERTFENCE_NOTIFY_TIMEOUT,
      repeatIntervalMs: c.ALERTFENCE_NOTIFY_REPEAT_INTERVAL,
    };
  });
