/**
 * What alertfence's HTTP API answers, as the CLI reads it. The shapes come from the server's own types
 * (imported as types only: the CLI is a client and runs none of the server's code), wrapped the way the routes
 * put them on the wire (`functions/http/*-routes.ts`).
 */
import type { FenceListing, NodeHistory, NodeResult, Overview } from '../functions/fence/api.js';
import type { FenceJournal, FenceRecord } from '../functions/fence/journal.js';
import type { Pause } from '../functions/fence/pause.js';

export type { FenceJournal, FenceListing, FenceRecord, NodeHistory, Pause };

/** `GET /readyz`: 200 ready, 503 not ready (with a token, the API's error body names the problem). */
export interface ReadyAnswer {
  status: 'ready' | 'not_ready';
  /**
   * The pause in force; `true` only to a caller without a token; `'unknown'` when alertfence could not read the
   * pause Lease. Absent when not ready: then it is not known either.
   */
  paused?: false | true | Pause | 'unknown';
  /** Why the pause is unknown (only to a caller with a token). */
  pauseError?: string;
}

/** `GET /v1/fences`. */
export interface FencesAnswer {
  paused: false | Pause;
  fences: FenceListing[];
  rejected: Overview['rejected'];
  lastSucceeded?: Overview['lastSucceeded'];
}

/** `POST /v1/nodes/{node}/fence`: the node's result, and whether it was only a plan. */
export type FenceAnswer = NodeResult & { dryRun: boolean };

/** One action of a dry-run's plan. */
export type PlannedAction = NonNullable<NodeResult['plan']>[number];

/** `GET /v1/nodes/{node}/fence`: the journal, or why alertfence refuses to trust it. */
export type JournalAnswer = FenceJournal | { rejected: string; id?: string; status?: string };

/** `POST /v1/pause`, `GET /v1/pause`, `DELETE /v1/pause`. */
export type PauseAnswer = ({ paused: true } & Pause) | { paused: false; lifted?: Pause };

/** The body of `POST /v1/nodes/{node}/fence` (the route is strict: nothing else may be sent). */
export interface FenceRequest {
  dryRun?: boolean;
  force?: boolean;
  reason?: string;
}

/** The body of `POST /v1/pause` (strict too). */
export interface PauseRequest {
  reason: string;
  for?: string;
  until?: string;
  by?: string;
}

export function isRejectedJournal(
  answer: JournalAnswer,
): answer is Extract<JournalAnswer, { rejected: string }> {
  return typeof (answer as { rejected?: unknown }).rejected === 'string';
}
