/** The per-node answers the service gives for refusals that several paths share. */
import type { NodeResult } from './api.js';
import type { FenceContext } from './context.js';
import { recordEvent } from './events.js';
import type { FenceJournal } from './journal.js';
import type { JournalRead } from './journal-store.js';
import type { SlotAnswer, SlotEntry } from './slots.js';
import { EVENT_REASONS, REASONS } from './vocabulary.js';

/** The short form of a fence in an answer. */
export const summary = (journal: FenceJournal) => ({
  id: journal.id,
  phase: journal.phase,
  status: journal.status,
});

/**
 * The answer for a journal alertfence will not obey; logged, and recorded as an Event for the operator
 * unless this is a dry run (which writes nothing, not even an Event).
 */
export async function journalRejected(
  context: FenceContext,
  node: string,
  read: Extract<JournalRead, { kind: 'rejected' }>,
  requestId: string,
  dryRun: boolean,
): Promise<NodeResult> {
  const { config, log } = context;
  const message = `the journal of node ${node} is refused: ${read.reason}; nothing is executed until an operator checks it (kubectl get lease -n ${config.namespace} ${node} -o yaml) and deletes the Lease`;
  log.error('journal rejected', { requestId, node, fence: read.id, outcome: 'refused', reason: read.reason });
  if (!dryRun) await recordEvent(context, { node }, 'Warning', EVENT_REASONS.journalRejected, message);
  return { node, outcome: 'refused', reason: REASONS.journalRejected, message };
}

/** The answer for a slot refused: the node is being fenced already, or the limit is reached. */
export function slotRefusal(
  context: FenceContext,
  answer: Exclude<SlotAnswer, { taken: true }>,
): Pick<NodeResult, 'outcome' | 'reason' | 'message'> {
  if ('sameNode' in answer) {
    return {
      outcome: 'in-progress',
      reason: REASONS.fenceInProgress,
      message: `fence ${answer.sameNode.fence} of this node is starting`,
    };
  }
  return tooMany(context, answer.running);
}

function tooMany(context: FenceContext, running: readonly SlotEntry[]) {
  return {
    outcome: 'refused' as const,
    reason: REASONS.tooManyFences,
    message: `${running.length} fence(s) already running (${running.map((entry) => entry.node).join(', ')}), ALERTFENCE_MAX_CONCURRENT_FENCES is ${context.config.maxConcurrentFences}`,
  };
}
