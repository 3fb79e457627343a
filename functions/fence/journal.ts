import type { InstanceRef } from '../../drivers/driver.js';
import {
  FENCE_STATUSES,
  type FenceStatus,
  PHASES,
  type Phase,
  phaseIndex,
  TRIGGER_KINDS,
  type TriggerKind,
} from './vocabulary.js';

/** One completed phase. Each phase appears once in a journal, whatever the number of attempts. */
export interface PhaseRecord {
  phase: Phase;
  startedAt: string;
  finishedAt: string;
  attempt: number;
  detail?: string;
}

export interface JournalError {
  phase: Phase;
  message: string;
  at: string;
  /** False when a retry cannot help: the fence then waits for an operator's manual request. */
  retryable: boolean;
  /**
   * Since when 401/403 answers have stopped every attempt: a refusal is retried for a while (a restarted API
   * server refuses everyone until it has read its RBAC), then handed to a person (the RBAC needs fixing).
   */
  forbiddenSince?: string;
}

/** Progress inside Release, which spans several waits and may span several invocations. */
export interface ReleaseProgress {
  outOfServiceTaintAt?: string;
  forcedAt?: string;
  detachRequested: string[];
}

/** Who asked for the fence. `force` is a record of that request: it never carries over to another one. */
export interface FenceTrigger {
  kind: TriggerKind;
  reason: string;
  alertname?: string;
  fingerprint?: string;
  force: boolean;
}

/** One fence as the node's history keeps it once a newer fence replaces it in the journal. */
export interface FenceRecord {
  id: string;
  trigger: FenceTrigger;
  forced: boolean;
  status: FenceStatus;
  /** The last phase it completed. */
  phase: Phase;
  startedAt: string;
  finishedAt?: string;
  /** When each phase it completed started and finished. */
  phases: Array<{ phase: Phase; startedAt: string; finishedAt: string }>;
  /** Whether it got past its power-off: what the cap counts. */
  poweredOff: boolean;
  volumesDetached: string[];
  lastError?: string;
}

/**
 * The journal's format. Version 3 calls its record of completed phases `phases`; version 2 called it `steps`
 * and is still read (see {@link upgradeJournal}), so an upgrade in the middle of a fence carries it on.
 */
export const JOURNAL_VERSION = 3;

/**
 * The record of one fence, kept in the node's Lease in the alertfence namespace: the only shared state
 * between stateless invocations, and the audit trail. It is sealed (see `journal-store.ts`) and checked
 * against the live world before it is obeyed.
 */
export interface FenceJournal {
  version: typeof JOURNAL_VERSION;
  id: string;
  node: string;
  /** The Node this fence is about: a Node recreated under the same name is another Node, never touched. */
  nodeUid: string;
  providerID?: string;
  /** The request that started the fence (for the record). */
  trigger: FenceTrigger;
  /**
   * Whether the request now driving the fence forced it: the one that started it, or the one that resumed it
   * last (a tick never forces). Its continuations inherit it; no other request does.
   */
  force: boolean;
  status: FenceStatus;
  /** Last phase completed; `Confirm` when only the decision was made. */
  phase: Phase;
  instance: InstanceRef;
  /**
   * What the cloud showed of the instance when this fence started: the proof that it existed for these
   * credentials. Only because of it may a later "not found" count as off (terminated and aged out).
   */
  instanceSeen: { at: string; cloudState: string };
  /**
   * When this fence saw the cloud's own record that the instance ended (terminated, deleted). Only then may a
   * later "not found" count as off: after any other state, it may just as well mean the credentials changed
   * (another account, role, region) while the machine runs.
   */
  instanceEnded?: { at: string; cloudState: string };
  /** The kubelet Lease's `renewTime` when the fence was confirmed: if it moves later, the kubelet is alive. */
  kubeletRenewTime?: string;
  /** Invocations that worked on this fence. */
  attempt: number;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /**
   * When this fence asked the cloud to power the instance off, written before the request leaves: a fence
   * resumed after a crash then knows it already asked, even once the machine has stopped and been started
   * again by someone, and never asks twice (invariant 3). Withdrawn only when the cloud shows the request did
   * not take.
   */
  powerOffRequestedAt?: string;
  /** Set by VerifyOff; Release and DeleteNode look at the cloud again anyway (safety invariant 1). */
  verifiedOffAt?: string;
  powerOn: 'on' | 'off';
  release: ReleaseProgress;
  /** Each completed phase, once, in the order of the sequence. */
  phases: PhaseRecord[];
  lastError?: JournalError;
  /**
   * Since when, and why, the fence waits for an operator (failed for good, or found stopped for longer than
   * ALERTFENCE_RESUME_WITHIN): recorded once, so the wait is announced once. A takeover clears it.
   */
  waiting?: { since: string; reason: string };
  /** The phase that is waiting, and since when: its record's start once it completes. */
  pendingSince?: { phase: Phase; at: string };
  /** The node's earlier fences, oldest first, at most ALERTFENCE_HISTORY of them (sealed with the journal). */
  history?: FenceRecord[];
}

/** A fence as the history keeps it. */
export function recordOf(journal: FenceJournal): FenceRecord {
  return {
    id: journal.id,
    trigger: journal.trigger,
    forced: journal.trigger.force || journal.force,
    status: journal.status,
    phase: journal.phase,
    startedAt: journal.startedAt,
    ...(journal.finishedAt ? { finishedAt: journal.finishedAt } : {}),
    phases: journal.phases.map(({ phase, startedAt, finishedAt }) => ({ phase, startedAt, finishedAt })),
    // A request sent counts even when a crash kept PowerOff from completing: the cap errs on the safe side.
    poweredOff: hasCompleted(journal, 'PowerOff') || journal.powerOffRequestedAt !== undefined,
    volumesDetached: journal.release.detachRequested,
    ...(journal.lastError ? { lastError: journal.lastError.message } : {}),
  };
}

/** The history a new fence of the node carries: the old journal's, then the old fence itself, the newest last. */
export function historyAfter(previous: FenceJournal | undefined, keep: number): FenceRecord[] {
  if (!previous) return [];
  return [...(previous.history ?? []), recordOf(previous)].slice(-keep);
}

/** The node's fences, the newest first: the journal's own, then its history. */
export function fenceRecords(journal: FenceJournal): FenceRecord[] {
  return [recordOf(journal), ...(journal.history ?? []).slice().reverse()];
}

/** How many of the node's fences powered its machine off since `since` (epoch ms): what the cap counts. */
export function powerOffsSince(journal: FenceJournal, since: number): number {
  return fenceRecords(journal).filter((record) => record.poweredOff && Date.parse(record.startedAt) >= since)
    .length;
}

export function hasCompleted(journal: FenceJournal, phase: Phase): boolean {
  return phaseIndex(journal.phase) >= phaseIndex(phase);
}

/** Whether a fence still has work to do (or waits for someone to let it). */
export function isActive(journal: FenceJournal): boolean {
  return journal.status === 'running' || journal.status === 'failed';
}

/** The phase this fence runs next, or undefined when done. */
export function nextPhase(journal: FenceJournal): Phase | undefined {
  if (!isActive(journal)) return undefined;
  return PHASES[phaseIndex(journal.phase) + 1];
}

/** The journal after `phase` completed: pure, so the executor and tests share it. */
export function completePhase(
  journal: FenceJournal,
  phase: Phase,
  startedAt: number,
  now: number,
  detail?: string,
): FenceJournal {
  const record: PhaseRecord = {
    phase,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(now).toISOString(),
    attempt: journal.attempt,
    ...(detail ? { detail } : {}),
  };
  const done = phase === 'Done';
  return {
    ...journal,
    phase,
    status: done ? 'succeeded' : 'running',
    phases: [...journal.phases.filter((existing) => existing.phase !== phase), record],
    updatedAt: record.finishedAt,
    ...(done ? { finishedAt: record.finishedAt } : {}),
    lastError: undefined,
    pendingSince: undefined,
  };
}

/** Lease name of a node's journal: the node's name (both are DNS subdomains). */
export function journalLeaseName(node: string): string {
  return node;
}

/**
 * A journal as an earlier alertfence wrote it, in this version's format: version 2's `steps` become
 * `phases`, nothing else changes. Applied only to a journal whose seal was verified (the seal covers the text
 * as it was written), before its consistency checks; anything else is returned as it is, for them to judge.
 */
export function upgradeJournal(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const { version, steps, ...rest } = value as Record<string, unknown>;
  if (version !== 2 || 'phases' in rest) return value;
  return { ...rest, version: JOURNAL_VERSION, phases: steps };
}

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isTime = (value: unknown) => isString(value) && Number.isFinite(Date.parse(value));

/**
 * What is wrong with a journal read from a Lease, as a list of reasons (empty when it is consistent): the
 * checks a sealed journal passes by construction, so a failure means a hand edit, a bug, or another writer.
 * A journal that fails any of them is never executed.
 */
export function journalProblems(value: unknown, leaseName: string): string[] {
  if (typeof value !== 'object' || value === null) return ['not a JSON object'];
  const journal = value as Partial<FenceJournal>;
  const problems: string[] = [];
  if (journal.version !== JOURNAL_VERSION)
    problems.push(`version ${journal.version} is not ${JOURNAL_VERSION}`);
  if (!isString(journal.id)) problems.push('no fence id');
  if (journal.node !== leaseName)
    problems.push(`names node ${journal.node}, but lives in Lease ${leaseName}`);
  if (!isString(journal.nodeUid)) problems.push('no Node UID');
  if (!isString(journal.instance?.provider) || !isString(journal.instance?.id)) problems.push('no instance');
  if (!isTime(journal.instanceSeen?.at)) problems.push('no record of the instance seen at the start');
  if (!FENCE_STATUSES.includes(journal.status as FenceStatus)) problems.push(`status ${journal.status}`);
  if (!TRIGGER_KINDS.includes(journal.trigger?.kind as TriggerKind)) problems.push('no trigger');
  if (typeof journal.force !== 'boolean') problems.push('no force flag');
  if (!PHASES.includes(journal.phase as Phase)) return [...problems, `phase ${journal.phase}`];
  const reached = PHASES.slice(0, phaseIndex(journal.phase as Phase) + 1);
  const recorded = (journal.phases ?? []).map((record) => record.phase);
  // Every phase up to the last one completed, once each, in the order of the runbook: no phase skipped.
  if (recorded.join() !== reached.join()) {
    problems.push(`phases ${recorded.join(', ') || '(none)'} are not the phases up to ${journal.phase}`);
  }
  const verified = phaseIndex(journal.phase as Phase) >= phaseIndex('VerifyOff');
  if (verified !== isTime(journal.verifiedOffAt)) {
    problems.push(verified ? 'VerifyOff completed without verifiedOffAt' : 'verifiedOffAt before VerifyOff');
  }
  if (journal.powerOffRequestedAt !== undefined && !isTime(journal.powerOffRequestedAt))
    problems.push('powerOffRequestedAt is not a time');
  if (journal.release?.outOfServiceTaintAt && !verified) problems.push('released before VerifyOff');
  if (journal.history !== undefined && !Array.isArray(journal.history))
    problems.push('history is not a list');
  if ((journal.status === 'succeeded') !== (journal.phase === 'Done')) {
    problems.push(`status ${journal.status} at phase ${journal.phase}`);
  }
  return problems;
}

/**
 * Whether a fence has stopped for longer than `resumeWithinMs` (failed, or running with nobody holding it):
 * it is then only reported, and resumed by nobody but an operator's manual request; nor does it count against
 * ALERTFENCE_MAX_CONCURRENT_FENCES any more.
 */
export function isStale(journal: FenceJournal, held: boolean, resumeWithinMs: number, now: number): boolean {
  if (!isActive(journal) || held) return false;
  return now - Date.parse(journal.updatedAt) > resumeWithinMs;
}
