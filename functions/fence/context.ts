import { randomUUID } from 'node:crypto';
import type { ExecutorDeps } from './deps.js';

/** What the fence service is built from: the executor's ports, and ids (injectable for tests). */
export interface FenceDeps extends ExecutorDeps {
  newId?: () => string;
}

/** The fence service's dependencies as its modules share them. */
export interface FenceContext extends ExecutorDeps {
  newId: () => string;
  /** The keys that verify journal seals (ALERTFENCE_JOURNAL_KEY). */
  keys: readonly string[];
}

export function fenceContext(deps: FenceDeps): FenceContext {
  return { ...deps, newId: deps.newId ?? randomUUID, keys: deps.config.journalKeys };
}

/** A fresh holder identity of one invocation's hold on a fence. */
export const holderOf = (context: FenceContext, requestId: string) => `${requestId}/${context.newId()}`;
