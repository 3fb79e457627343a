/**
 * The scheduled tick: every journal, looked at. A fence whose continuation was lost (its hold ran out) is
 * resumed under every guard a resume runs; one that waits for an operator, or a journal alertfence will not
 * obey, is reported. Disarmed, it only reports what it would do.
 */
import { KUBE_NAMES } from '../kube/names.js';
import { journalRejected } from './answers.js';
import type { Answered, FenceTarget, InvocationOptions, NodeResult } from './api.js';
import type { FenceContext } from './context.js';
import type { Handoff } from './handoff.js';
import type { FenceTrigger } from './journal.js';
import { isActive } from './journal.js';
import { readJournal } from './journal-store.js';
import { requestFences } from './request.js';

const TICK_TRIGGER: FenceTrigger = { kind: 'tick', reason: 'scheduled tick', force: false };

export async function tick(
  context: FenceContext,
  options: InvocationOptions,
): Promise<Answered<NodeResult[]>> {
  const { kube, config, keys, log } = context;
  const leases = await kube.listLeases(config.namespace, `${KUBE_NAMES.kindLabel}=journal`, {
    deadline: options.deadline,
  });
  const targets: FenceTarget[] = [];
  const results: NodeResult[] = [];
  for (const lease of leases) {
    const read = readJournal(lease, keys);
    const node = lease.metadata?.name ?? '';
    if (read.kind === 'rejected')
      results.push(await journalRejected(context, node, read, options.requestId, config.dryRun));
    else if (read.kind === 'trusted' && isActive(read.journal)) targets.push({ node, trigger: TICK_TRIGGER });
  }
  const handoffs: Handoff[] = [];
  results.push(...(await requestFences(context, targets, { ...options, dryRun: config.dryRun }, handoffs)));
  log.info('tick', { requestId: options.requestId, fences: targets.length, outcome: 'ok' });
  return { answer: results, handoffs };
}
