/**
 * Where a journal lives: the node's Lease in the alertfence namespace, sealed with an HMAC so that whoever can
 * patch Leases there cannot write a journal that alertfence would obey (skip the power-off, name another
 * instance). The Lease is also the lock: `holderIdentity` and `renewTime` say who works on the fence until when.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';
import { KUBE_NAMES } from '../kube/names.js';
import { type Lease, microTime } from '../kube/objects.js';
import { ownedLease } from '../kube/owned-lease.js';
import { type KubeCallOptions, KubeConflictError, type KubePort } from '../kube/port.js';
import { type FenceJournal, journalLeaseName, journalProblems, upgradeJournal } from './journal.js';

export interface JournalStoreDeps {
  kube: KubePort;
  config: Pick<Config, 'namespace' | 'lockDurationMs' | 'journalKeys'>;
  now: () => number;
}

/** A journal as read from its Lease: none, one alertfence wrote and may obey, or one it must not. */
export type JournalRead =
  | { kind: 'none'; lease: Lease | undefined }
  | { kind: 'trusted'; journal: FenceJournal; lease: Lease; handoffDigest: string | undefined }
  | { kind: 'rejected'; lease: Lease; reason: string; id?: string; status?: string };

const SEAL_PREFIX = 'hmac-sha256:';

/** The bytes the seal covers: where the journal lives, the journal, and the current hand-over's digest. */
function sealed(namespace: string, name: string, journalText: string, handoffDigest: string | undefined) {
  return JSON.stringify(['alertfence-journal', namespace, name, journalText, handoffDigest ?? '']);
}

function seal(key: string, payload: string): string {
  return `${SEAL_PREFIX}${createHmac('sha256', key).update(payload).digest('base64url')}`;
}

/** Constant-time comparison of two strings of any length. */
function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Reads and checks the journal of a Lease: its seal (any of the configured keys), then its consistency. A
 * rejected journal carries the reason, for the answer, the log and the Event; it is never executed.
 */
export function readJournal(lease: Lease | undefined, keys: readonly string[]): JournalRead {
  const annotations = lease?.metadata?.annotations ?? {};
  const text = annotations[KUBE_NAMES.journalAnnotation];
  if (!lease || text === undefined) return { kind: 'none', lease };
  const name = lease.metadata?.name ?? '';
  const namespace = lease.metadata?.namespace ?? '';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'rejected', lease, reason: 'the journal is not JSON' };
  }
  const shown = value as Partial<FenceJournal> | null;
  const summary = {
    ...(typeof shown?.id === 'string' ? { id: shown.id } : {}),
    ...(typeof shown?.status === 'string' ? { status: shown.status } : {}),
  };
  if (keys.length === 0) {
    return { kind: 'rejected', lease, reason: 'no ALERTFENCE_JOURNAL_KEY to check its seal', ...summary };
  }
  const handoffDigest = annotations[KUBE_NAMES.handoffAnnotation] || undefined;
  const payload = sealed(namespace, name, text, handoffDigest);
  const presented = annotations[KUBE_NAMES.sealAnnotation] ?? '';
  if (!keys.some((key) => sameText(seal(key, payload), presented))) {
    return {
      kind: 'rejected',
      lease,
      reason: presented
        ? 'its seal does not match: the journal was edited outside alertfence, or sealed with another key'
        : 'it carries no seal (written by hand, or by an older alertfence)',
      ...summary,
    };
  }
  // Sealed by this deployment's key, possibly by the version before this one: read it in today's format.
  const journal = upgradeJournal(value);
  const problems = journalProblems(journal, name);
  if (problems.length > 0) {
    return { kind: 'rejected', lease, reason: `it is inconsistent: ${problems.join('; ')}`, ...summary };
  }
  return { kind: 'trusted', journal: journal as FenceJournal, lease, handoffDigest };
}

/** Who holds the fence after a write, and the digest of the hand-over that may take it next. */
export interface JournalHold {
  /** `undefined` or empty releases the lock; the fence stays resumable from its journal. */
  holder: string | undefined;
  /** SHA-256 of the nonce of the continuation allowed to take the fence over; none when absent. */
  handoffDigest?: string | undefined;
}

/**
 * The Lease that carries a journal. The Lease counts as held until `renewTime + leaseDurationSeconds`, after
 * which another invocation may take over and resume.
 */
function journalLease(
  deps: JournalStoreDeps,
  journal: FenceJournal,
  hold: JournalHold,
  previous: Lease | undefined,
): Lease {
  const { namespace, lockDurationMs, journalKeys } = deps.config;
  const [signingKey] = journalKeys;
  if (!signingKey) throw new Error('no ALERTFENCE_JOURNAL_KEY: an armed alertfence must seal its journals');
  const name = journalLeaseName(journal.node);
  const text = JSON.stringify(journal);
  const renewTime = microTime(deps.now());
  const holder = hold.holder ?? '';
  const annotations: Record<string, string> = {
    ...(previous?.metadata?.annotations ?? {}),
    [KUBE_NAMES.journalAnnotation]: text,
    [KUBE_NAMES.sealAnnotation]: seal(signingKey, sealed(namespace, name, text, hold.handoffDigest)),
  };
  if (hold.handoffDigest) annotations[KUBE_NAMES.handoffAnnotation] = hold.handoffDigest;
  else delete annotations[KUBE_NAMES.handoffAnnotation];
  return ownedLease({
    name,
    namespace,
    kind: 'journal',
    previous,
    labels: { [KUBE_NAMES.statusLabel]: journal.status },
    annotations,
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: Math.max(1, Math.ceil(lockDurationMs / 1000)),
      acquireTime: (previous?.spec?.holderIdentity === holder && previous?.spec?.acquireTime) || renewTime,
      renewTime,
    },
  });
}

/**
 * Writes a journal to its Lease with compare-and-swap (safety invariant 3): a create when there is no Lease
 * yet, else a replace at the version `previous` was read at. `'conflict'` when another writer got there first;
 * each caller knows what that means for it (lock taken, lock lost, resume taken).
 */
export async function writeJournal(
  deps: JournalStoreDeps,
  journal: FenceJournal,
  hold: JournalHold,
  previous: Lease | undefined,
  options?: KubeCallOptions,
): Promise<Lease | 'conflict'> {
  const { kube, config } = deps;
  const body = journalLease(deps, journal, hold, previous);
  try {
    return previous
      ? await kube.replaceLease(config.namespace, body, options)
      : await kube.createLease(config.namespace, body, options);
  } catch (error) {
    if (error instanceof KubeConflictError) return 'conflict';
    throw error;
  }
}

/** A fresh hand-over secret: the nonce travels with the continuation, only its digest is stored. */
export function newHandoffNonce(): { nonce: string; digest: string } {
  const nonce = randomBytes(32).toString('base64url');
  return { nonce, digest: handoffDigestOf(nonce) };
}

export function handoffDigestOf(nonce: string): string {
  return createHash('sha256').update(nonce).digest('hex');
}

/** Whether a continuation's nonce is the one the Lease expects (constant time). */
export function nonceMatches(nonce: string, digest: string | undefined): boolean {
  return digest !== undefined && sameText(handoffDigestOf(nonce), digest);
}
