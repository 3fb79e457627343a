/** Helpers for the notification tests: a sample notification, and what a receiver checks. */
import type { Notification } from '../../functions/observability/notification.js';

/** A notification as the notifier makes one, for tests of what is sent. */
export const sampleNotification: Notification = {
  version: '1',
  event: 'fence.started',
  id: '6f1c2d9e-0000-4000-8000-000000000001',
  at: '2026-11-22T10:00:00.000Z',
  node: 'worker-1',
  fence: 'f-1',
  trigger: { kind: 'alert', reason: 'KubeNodeNotReady', alertname: 'KubeNodeNotReady', forced: false },
  phase: 'Lock',
  outcome: 'accepted',
  reason: 'FenceStarted',
  message: 'fencing worker-1',
  startedAt: '2026-11-22T10:00:00.000Z',
  dryRun: false,
};

/**
 * What Slack's incoming webhook checks in a message with blocks, written from its Block Kit reference ("Section
 * block", "Context block", "Text object", "Formatting text for app surfaces"): `text` is required (Mattermost
 * shows only it), at most 50 blocks, a section's text 1–3000 characters or up to 10 fields of 1–2000, a
 * context's 1–10 elements, and mrkdwn with `&`, `<` and `>` escaped. The problems found; none for a good one.
 */
export function slackProblems(message: unknown): string[] {
  const problems: string[] = [];
  const m = message as { text?: unknown; blocks?: unknown };
  const checkText = (where: string, value: unknown, max: number) => {
    const t = value as { type?: unknown; text?: unknown };
    if (t?.type !== 'mrkdwn' && t?.type !== 'plain_text')
      problems.push(`${where}: type must be mrkdwn or plain_text`);
    if (typeof t?.text !== 'string' || t.text.length < 1 || t.text.length > max) {
      problems.push(`${where}: text must be 1..${max} characters`);
      return;
    }
    if (/[<>]/.test(t.text)) problems.push(`${where}: unescaped < or >`);
    if (/&(?!(amp|lt|gt);)/.test(t.text)) problems.push(`${where}: unescaped &`);
  };
  if (typeof m.text !== 'string' || m.text.trim() === '') problems.push('text: required');
  if (!Array.isArray(m.blocks)) return [...problems, 'blocks: must be an array'];
  if (m.blocks.length < 1 || m.blocks.length > 50) problems.push('blocks: 1..50');
  m.blocks.forEach((block: { type?: unknown; text?: unknown; fields?: unknown; elements?: unknown }, i) => {
    const where = `blocks[${i}]`;
    if (block.type === 'section') {
      if (block.text === undefined && block.fields === undefined) problems.push(`${where}: text or fields`);
      if (block.text !== undefined) checkText(`${where}.text`, block.text, 3000);
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields) || block.fields.length < 1 || block.fields.length > 10) {
          problems.push(`${where}.fields: 1..10`);
        } else {
          for (const [f, field] of block.fields.entries()) checkText(`${where}.fields[${f}]`, field, 2000);
        }
      }
    } else if (block.type === 'context') {
      if (!Array.isArray(block.elements) || block.elements.length < 1 || block.elements.length > 10) {
        problems.push(`${where}.elements: 1..10`);
      } else {
        for (const [e, element] of block.elements.entries())
          checkText(`${where}.elements[${e}]`, element, 3000);
      }
    } else problems.push(`${where}: unexpected type ${String(block.type)}`);
  });
  return problems;
}
