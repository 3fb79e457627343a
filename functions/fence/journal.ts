import type { InstanceRef } from '../../drivers/driver.js';
import { type Lease, microTime } from '../kube/objects.js';
import { type FenceStatus, KUBE_NAMES, PHASES, type Phase, phaseIndex } from './vocabulary.js';

/** One completed phase. Each phase appears once in a journal, whatever the number of attempts. */
export interface JournalStep {
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
  retryable: boolean;
}

/** Progress inside Release, which spans several waits and may span several invocations. */
export interface ReleaseProgress {
  outOfServiceTaintAt?: string;
  forcedAt?: string;
  detachRequested: string[];
}

export interface FenceTrigger {
  kind: 'alert' | 'manual';
  reason: string;
  alertname?: string;
  fingerprint?: string;
  force: boolean;
}

/**
 * The record of one fence, kept in the node's Lease in the alertfence namespace: the only shared state
 * between stateless invocations, and the audit trail.
 */
export interface FenceJournal {
  version: 1;
  id: string;
  node: string;
  nodeUid?: string;
  trigger: FenceTrigger;
  status: FenceStatus;
  /** Last phase completed; `Confirm` when only the decision was made. */
  phase: Phase;
  instance?: InstanceRef;
  /** Invocations that worked on this fence. */
  attempt: number;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Set by VerifyOff: nothing is released before this (safety invariant 1). */
  verifiedOffAt?: string;
  powerOn: 'on' | 'off';
  release: ReleaseProgress;
  steps: JournalStep[];
  lastError?: JournalError;
  /** The phase that is waiting, and since when: its step's start once it completes. */
  pendingSince?: { phase: Phase; at: string };
}

export function hasCompleted(journal: FenceJournal, phase: Phase): boolean {
  return phaseIndex(journal.phase) >= phaseIndex(phase);
}

/** The phase this fence runs next, or undefined when done. */
export function nextPhase(journal: FenceJournal): Phase | undefined {
  if (journal.status !== 'running' && journal.status !== 'failed') return undefined;
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
  const step: JournalStep = {
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
    steps: [...journal.steps.filter((existing) => existing.phase !== phase), step],
    updatedAt: step.finishedAt,
    ...(done ? { finishedAt: step.finishedAt } : {}),
    lastError: undefined,
    pendingSince: undefined,
  };
}

/** Lease name of a node's journal: the node's name (both are DNS subdomains). */
export function journalLeaseName(node: string): string {
  return node;
}

export function readJournal(lease: Lease | undefined): FenceJournal | undefined {
  const text = lease?.metadata?.annotations?.[KUBE_NAMES.journalAnnotation];
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as FenceJournal;
    return parsed && parsed.version === 1 && typeof parsed.id === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Lease that carries a journal. `holder` names the invocation working on it; the Lease counts as held
 * until `renewTime + leaseDurationSeconds`, after which another invocation may take over and resume.
 */
export function journalLease(
  namespace: string,
  journal: FenceJournal,
  holder: string | undefined,
  lockDurationMs: number,
  now: number,
  previous?: Lease,
): Lease {
  const renewTime = microTime(now);
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: journalLeaseName(journal.node),
      namespace,
      ...(previous?.metadata?.resourceVersion ? { resourceVersion: previous.metadata.resourceVersion } : {}),
      labels: {
        ...(previous?.metadata?.labels ?? {}),
        'app.kubernetes.io/managed-by': KUBE_NAMES.component,
        [KUBE_NAMES.statusLabel]: journal.status,
      },
      annotations: {
        ...(previous?.metadata?.annotations ?? {}),
        [KUBE_NAMES.journalAnnotation]: JSON.stringify(journal),
      },
    },
    spec: {
      // An empty holder releases the lock; the fence stays resumable from its journal.
      holderIdentity: holder ?? '',
      leaseDurationSeconds: Math.max(1, Math.ceil(lockDurationMs / 1000)),
      acquireTime: (previous?.spec?.holderIdentity === holder && previous?.spec?.acquireTime) || renewTime,
      renewTime,
    },
  };
}
