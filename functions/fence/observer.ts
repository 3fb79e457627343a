/**
 * What the fence lets the world know, as it happens: metrics, notifications and logs subscribe here. An
 * observer is told, never asked: it must not throw and must not wait (a notification endpoint that is down
 * never delays or fails a fence).
 */
import type { FenceJournal } from './journal.js';
import type { FenceStatus, Outcome, Phase, TriggerKind } from './vocabulary.js';

export type FenceEvent =
  /** A node of a request was decided on (accepted, refused, planned, …). */
  | {
      kind: 'decided';
      node: string;
      outcome: Outcome;
      reason: string;
      message: string;
      trigger: TriggerKind;
      dryRun: boolean;
    }
  /** A new fence took its node's lock. */
  | { kind: 'started'; journal: FenceJournal }
  /** A phase completed, after `durationMs` (across invocations, for a phase that waited). */
  | { kind: 'phase-completed'; journal: FenceJournal; phase: Phase; durationMs: number }
  /** A fence ended: done, aborted (nothing powered off), or failed for a reason a retry cannot fix. */
  | {
      kind: 'finished';
      journal: FenceJournal;
      status: Exclude<FenceStatus, 'running'>;
      durationMs: number;
      /** Why an aborted or failed fence ended: where, a stable word, and one sentence for a person. */
      why?: FenceEndCause;
    }
  /** A fence waits for an operator (failed for good, stale, or its journal rejected). */
  | { kind: 'waiting-for-operator'; node: string; fence?: string; reason: string; message: string };

/** Why a fence ended without succeeding. */
export interface FenceEndCause {
  /** The phase it was running when it ended. */
  phase: Phase;
  /** A word of `REASONS`: why it was aborted (`NodeReady`, `PlannedRemoval`, …), or `NeedsOperator`. */
  reason: string;
  /** What happened, as the journal's Event says it. */
  message: string;
}

export interface FenceObserver {
  notice(event: FenceEvent): void;
}

/** Tells several observers, each on its own: one that throws does not keep the others from hearing. */
export function observers(...list: FenceObserver[]): FenceObserver {
  return {
    notice(event) {
      for (const observer of list) {
        try {
          observer.notice(event);
        } catch {
          // An observer's failure is its own; the fence goes on.
        }
      }
    },
  };
}

/** Tells the deps' observer, if any; never throws. */
export function tell(deps: { observer?: FenceObserver | undefined }, event: FenceEvent): void {
  try {
    deps.observer?.notice(event);
  } catch {
    // An observer's failure is its own; the fence goes on.
  }
}

/** Nobody listening. */
export const NO_OBSERVER: FenceObserver = { notice: () => {} };
