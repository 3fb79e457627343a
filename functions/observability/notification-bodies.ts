/**
 * The bodies a notification is sent as: alertfence's versioned JSON, and a Slack-compatible message (`text`
 * plus Block Kit `blocks`) that Slack incoming webhooks and Mattermost both accept. Pure.
 */
import type { NotifyEvent, NotifyFormat } from '../config.js';
import { humanDuration, type Notification } from './notification.js';

/** The generic body: the notification itself (`{"version":"1","event":"fence.started",…}`). */
export function jsonBody(notification: Notification): string {
  return JSON.stringify(notification);
}

/** Block Kit's limits (docs.slack.dev, "Section block"): past them Slack answers 400 `invalid_blocks`. */
const SECTION_TEXT_MAX = 3000;
const FIELD_TEXT_MAX = 2000;
const FIELDS_MAX = 10;

const ICONS: Readonly<Record<NotifyEvent, string>> = {
  'fence.started': ':hourglass_flowing_sand:',
  'fence.succeeded': ':white_check_mark:',
  'fence.failed': ':x:',
  'fence.aborted': ':leftwards_arrow_with_hook:',
  'fence.refused.storm-guard': ':no_entry:',
  'fence.refused.cap': ':no_entry:',
  'fence.waiting-for-operator': ':rotating_light:',
};

const TITLES: Readonly<Record<NotifyEvent, string>> = {
  'fence.started': 'Fence started',
  'fence.succeeded': 'Fence succeeded',
  'fence.failed': 'Fence failed',
  'fence.aborted': 'Fence aborted',
  'fence.refused.storm-guard': 'Fence refused by the storm guard',
  'fence.refused.cap': 'Fence refused: the node reached its cap',
  'fence.waiting-for-operator': 'A fence waits for an operator',
};

/**
 * Text that came from outside (an error message, a manual request's reason) made inert: Slack's mrkdwn needs
 * `&`, `<` and `>` escaped (its "Escaping text" rules; `<!channel>` would otherwise ping), and a word joiner
 * after `@` keeps Mattermost from reading `@channel` or `@someone` as a mention.
 */
export function inert(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/@/g, '@\u2060');
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

interface SlackText {
  type: 'mrkdwn';
  text: string;
}

/** The Slack-compatible body: what an incoming webhook of Slack or Mattermost takes. */
export interface SlackMessage {
  /** Required by both: Slack shows it in notifications, Mattermost shows only it (it ignores `blocks`). */
  text: string;
  blocks: Array<
    | { type: 'section'; text: SlackText }
    | { type: 'section'; fields: SlackText[] }
    | { type: 'context'; elements: SlackText[] }
  >;
}

function field(label: string, value: string): SlackText {
  return { type: 'mrkdwn', text: cut(`*${label}*\n${value}`, FIELD_TEXT_MAX) };
}

/** The message of a notification for Slack and Mattermost. */
export function slackMessage(notification: Notification): SlackMessage {
  const n = notification;
  const icon = ICONS[n.event];
  const where = n.cluster ? ` (${inert(n.cluster)})` : '';
  const message = inert(n.message);
  const fields = [
    field('Node', `\`${inert(n.node)}\``),
    ...(n.cluster ? [field('Cluster', inert(n.cluster))] : []),
    field('Outcome', `${n.outcome} (${inert(n.reason)})`),
    ...(n.trigger
      ? [
          field(
            'Trigger',
            `${n.trigger.alertname ? inert(n.trigger.alertname) : n.trigger.kind}${n.trigger.forced ? ' (forced)' : ''}`,
          ),
        ]
      : []),
    ...(n.phase ? [field('Last phase', n.phase)] : []),
    ...(n.durationMs !== undefined ? [field('Duration', humanDuration(n.durationMs))] : []),
    ...(n.fence ? [field('Fence', `\`${inert(n.fence)}\``)] : []),
    // Why it ended, beside the sentence: the first thing a person asks of a fence that did not succeed.
    ...(n.error ? [field('Why', inert(`${n.error.phase}: ${n.error.message}`))] : []),
    ...(n.abort ? [field('Why', inert(`${n.abort.reason}: ${n.abort.message}`))] : []),
  ].slice(0, FIELDS_MAX);
  return {
    text: cut(`${icon} alertfence${where}: ${message}`, SECTION_TEXT_MAX),
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cut(`${icon} *${TITLES[n.event]}*${where}\n${message}`, SECTION_TEXT_MAX),
        },
      },
      { type: 'section', fields },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `alertfence · \`${n.event}\` · ${n.at}` }] },
    ],
  };
}

/** The body of a notification in a receiver's format. */
export function bodyOf(notification: Notification, format: NotifyFormat): string {
  return format === 'slack' ? JSON.stringify(slackMessage(notification)) : jsonBody(notification);
}
