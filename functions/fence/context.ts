import { randomUUID } from 'node:crypto';
import type { NodeView } from '../kube/node-view.js';
import type { ExecutorDeps } from './deps.js';

/**
 * What a process follows of the Nodes (`NodeView`), for the storm guards' counts; `version` moves with every
 * change, so counts made at one version serve every alert until the next (absent: counted every time).
 */
export type FollowedNodes = Pick<NodeView, 'current'> & Partial<Pick<NodeView, 'version'>>;

/** What the fence service is built from: the executor's ports, and ids (injectable for tests). */
export interface FenceDeps extends ExecutorDeps {
  newId?: () => string;
  /** The Nodes a long-running process follows, for the storm guards' counts (`followNodes`); none on a Lambda. */
  nodeView?: FollowedNodes;
}

/** The fence service's dependencies as its modules share them. */
export interface FenceContext extends ExecutorDeps {
  newId: () => string;
  nodeView?: FollowedNodes;
  /** The keys that verify journal seals (ALERTFENCE_JOURNAL_KEY). */
  keys: readonly string[];
}

export function fenceContext(deps: FenceDeps): FenceContext {
  return { ...deps, newId: deps.newId ?? randomUUID, keys: deps.config.journalKeys };
}

/** A fresh holder identity of one invocation's hold on a fence. */
export const holderOf = (context: FenceContext, requestId: string) => `${requestId}/${context.newId()}`;
