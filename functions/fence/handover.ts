/**
 * The end of an invocation's work on a fence: it either hands the fence over (a fresh nonce whose digest only
 * the Lease keeps, and a `Handoff` for the runtime to continue) or, when nothing would run a continuation,
 * leaves it free in its journal for the next invocation.
 */

import { KUBE_NAMES } from '../kube/names.js';
import type { Lease } from '../kube/objects.js';
import type { InvocationOptions, RequestOptions } from './api.js';
import type { FenceContext } from './context.js';
import { runFence } from './executor.js';
import type { Handoff } from './handoff.js';
import type { FenceJournal } from './journal.js';
import { newHandoffNonce, writeJournal } from './journal-store.js';

/** Writes a hand-over to the Lease and adds it to `handoffs`; nothing when the runtime cannot continue. */
export async function handOver(
  context: FenceContext,
  journal: FenceJournal,
  lease: Lease,
  options: Pick<InvocationOptions, 'canHandOver'>,
  handoffs: Handoff[],
): Promise<void> {
  const at = new Date(context.now()).toISOString();
  if (options.canHandOver?.() === false) {
    // Nobody would run it: leave the fence free (no holder, no nonce) so the next invocation resumes at once.
    await writeJournal(context, { ...journal, updatedAt: at }, { holder: undefined }, lease).catch(() => {});
    return;
  }
  const { nonce, digest } = newHandoffNonce();
  const written = await writeJournal(
    context,
    { ...journal, updatedAt: at },
    { holder: KUBE_NAMES.handoffHolder, handoffDigest: digest },
    lease,
  );
  if (written === 'conflict') {
    context.log.warn('fence taken over before it could be handed on', {
      node: journal.node,
      fence: journal.id,
    });
    return;
  }
  handoffs.push({ node: journal.node, fenceId: journal.id, nonce });
}

/** Runs a fence in this invocation (manual `wait`) or hands it over at once; this invocation holds the Lease. */
export async function runOrHandOver(
  context: FenceContext,
  start: { journal: FenceJournal; lease: Lease },
  holder: string,
  options: RequestOptions,
  handoffs: Handoff[],
): Promise<FenceJournal> {
  if (!options.wait) {
    await handOver(context, start.journal, start.lease, options, handoffs);
    return start.journal;
  }
  const result = await runFence(context, start, {
    holder,
    deadline: options.deadline,
    requestId: options.requestId,
    force: start.journal.force,
    shouldStop: options.shouldStop,
  });
  if (result.status === 'continue') await handOver(context, result.journal, result.lease, options, handoffs);
  return result.journal;
}
