/**
 * The fence service: the workflow's front door for the HTTP layer and the runtimes. It decides, runs and
 * hands over fences; it never calls a runtime back (every method returns the hand-overs it made).
 */
import type { Answered, FenceService, NodeResult } from './api.js';
import { type FenceDeps, fenceContext } from './context.js';
import { continueFence } from './continue.js';
import type { Handoff } from './handoff.js';
import { journalLeaseName } from './journal.js';
import { readJournal } from './journal-store.js';
import { readHistory, readOverview } from './overview.js';
import { liftPause, readPause, setPause } from './pause.js';
import { requestFences } from './request.js';
import { tick } from './tick.js';

export type { FenceDeps } from './context.js';

/**
 * @example
 * const service = createFenceService({ kube, drivers, config, log, now: Date.now, sleep });
 * const { answer, handoffs } = await service.request(targets, { requestId, dryRun, deadline });
 */
export function createFenceService(deps: FenceDeps): FenceService {
  const context = fenceContext(deps);
  const { kube, config, keys } = context;
  let tickInFlight: Promise<Answered<NodeResult[]>> | undefined;
  const read = async (node: string) =>
    readJournal(await kube.getLease(config.namespace, journalLeaseName(node)), keys);

  return {
    async request(targets, options) {
      const handoffs: Handoff[] = [];
      const answer = await requestFences(context, targets, options, handoffs);
      return { answer, handoffs };
    },

    continueFence: (handoff, options) => continueFence(context, handoff, options),

    overview: (options) => readOverview(context, options),
    paused: (options) => readPause(context, options),
    history: (node, options) => readHistory(context, node, options),

    async pause(request, options) {
      const pause = await setPause(context, request, options);
      context.log.warn('paused', { by: pause.by, reason: pause.reason, until: pause.until });
      return pause;
    },

    async liftPause(by, options) {
      const lifted = await liftPause(context, by, options);
      context.log.warn('pause lifted', { by, reason: lifted?.reason });
      return lifted;
    },

    tick(options) {
      // Single-flight: a tick asked for while one runs gets that one's answer.
      tickInFlight ??= tick(context, options).finally(() => {
        tickInFlight = undefined;
      });
      return tickInFlight;
    },

    async journal(node) {
      const journal = await read(node);
      return journal.kind === 'trusted' ? journal.journal : undefined;
    },

    async view(node) {
      const journal = await read(node);
      if (journal.kind === 'none') return undefined;
      if (journal.kind === 'trusted') return { kind: 'trusted', journal: journal.journal };
      return {
        kind: 'rejected',
        reason: journal.reason,
        ...(journal.id ? { id: journal.id } : {}),
        ...(journal.status ? { status: journal.status } : {}),
      };
    },
  };
}
