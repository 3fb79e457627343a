/**
 * What the fence service offers the HTTP layer and the runtimes, and what it answers. The service never calls
 * a runtime back: every call returns the hand-overs it made, and the runtime continues them its own way.
 */

import type { RunResult } from './executor.js';
import type { Handoff } from './handoff.js';
import type { FenceJournal, FenceRecord, FenceTrigger } from './journal.js';
import type { Pause } from './pause.js';
import type { PlannedAction } from './plan.js';
import type { ContinuationRefusal, FenceStatus, Outcome, Phase, Reason, TriggerKind } from './vocabulary.js';

/** A request to fence one node, from an alert or by hand. */
export interface FenceTarget {
  node: string;
  trigger: FenceTrigger;
}

/** Per-node answer of the HTTP API. */
export interface NodeResult {
  node: string;
  outcome: Outcome;
  reason: string;
  message: string;
  fence?: { id: string; phase: string; status: string };
  plan?: PlannedAction[];
  journal?: FenceJournal;
  /** True when the outcome is `failed` and a retry may succeed (the HTTP layer answers 503). */
  retryable?: boolean;
}

/** What one invocation may do: until when, and whether its runtime can continue a fence after it. */
export interface InvocationOptions {
  requestId: string;
  /** Epoch ms by which the invocation must have saved its work and answered. */
  deadline: number;
  /** True once the process is shutting down: a running fence saves its phase and stops. */
  shouldStop?: () => boolean;
  /**
   * False when nothing would run a hand-over made now (an in-process runtime shutting down): the fence is then
   * left free in its journal, for the next invocation to resume at once. Asked at the moment of the hand-over,
   * since a run that began while the process was serving may end because it is shutting down. True by default.
   */
  canHandOver?: () => boolean;
}

export interface RequestOptions extends InvocationOptions {
  dryRun: boolean;
  /** Run the fence in this invocation until done (manual `wait`) instead of handing it over. */
  wait?: boolean;
}

/** Results, and the fences handed over for the runtime to continue. */
export interface Answered<T> {
  answer: T;
  handoffs: Handoff[];
}

/** What a continuation came to: a run of the fence, or a refusal that says why nothing ran. */
export type ContinueAnswer = RunResult | { status: ContinuationRefusal; reason: Reason; message: string };

/** A node's journal as `GET /v1/nodes/{node}/fence` shows it; a rejected one says why. */
export type JournalView =
  | { kind: 'trusted'; journal: FenceJournal }
  | { kind: 'rejected'; reason: string; id?: string; status?: string };

/** A fence that is not over, as `GET /v1/fences` lists it. */
export interface FenceListing {
  node: string;
  id: string;
  status: FenceStatus;
  /** The last phase it completed. */
  phase: Phase;
  trigger: TriggerKind;
  startedAt: string;
  updatedAt: string;
  /** An invocation works on it now. */
  held: boolean;
  /** Since when and why it waits for an operator (failed for good, or stopped too long ago). */
  waiting?: { since: string; reason: string };
  lastError?: string;
}

/** alertfence as a whole: the pause, the fences not over, the journals it refuses, the last success. */
export interface Overview {
  pause: Pause | undefined;
  fences: FenceListing[];
  rejected: Array<{ node: string; reason: string }>;
  lastSucceeded?: { node: string; id: string; finishedAt: string };
}

/** A node's fences, the newest first (its journal's fence, then its history). */
export interface NodeHistory {
  node: string;
  fences: FenceRecord[];
  /** Why its journal is refused, when it is (then no history can be trusted). */
  rejected?: string;
}

export interface FenceService {
  /** Confirms, guards and starts (or plans, or resumes) fences; answers without waiting for the long phases. */
  request(targets: FenceTarget[], options: RequestOptions): Promise<Answered<NodeResult[]>>;
  /** Continues a fence handed over by an earlier invocation, if its nonce is the one the fence expects. */
  continueFence(handoff: Handoff, options: InvocationOptions): Promise<Answered<ContinueAnswer>>;
  /**
   * The scheduled tick: resumes fences whose continuation was lost (under every guard a resume runs) and
   * reports the ones that wait for an operator. Single-flight within a process.
   */
  tick(options: InvocationOptions): Promise<Answered<NodeResult[]>>;
  /** The pause, the fences running, failed or waiting for an operator, cluster-wide. */
  overview(options: { deadline: number }): Promise<Overview>;
  /** A node's fence history; undefined when neither the Node nor a fence of it is known. */
  history(node: string, options: { deadline: number }): Promise<NodeHistory | undefined>;
  /** The pause in force, if any (one read of its Lease). */
  paused(options: { deadline: number }): Promise<Pause | undefined>;
  /** Pauses alertfence cluster-wide (every instance and runtime), until `until` or until lifted. */
  pause(
    request: { reason: string; by: string; until?: number },
    options: { deadline: number },
  ): Promise<Pause>;
  /** Lifts the pause; answers the pause that was in force, if any. */
  liftPause(by: string, options: { deadline: number }): Promise<Pause | undefined>;
  /** The node's journal when alertfence trusts it (sealed, consistent); undefined otherwise. */
  journal(node: string): Promise<FenceJournal | undefined>;
  /** The node's journal for `GET /v1/nodes/{node}/fence`: trusted, or rejected with the reason. */
  view(node: string): Promise<JournalView | undefined>;
}
