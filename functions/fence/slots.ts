/**
 * The cluster-wide fence slots behind ALERTFENCE_MAX_CONCURRENT_FENCES: one Lease whose entries name the fences
 * that hold a slot, taken and given back with compare-and-swap on its `resourceVersion`, so the limit holds
 * whatever the number of concurrent invocations, runtimes or nodes (safety invariant 4).
 *
 * An entry counts only while its fence does: the node's journal is that fence, sealed, still active and not
 * stale. So a fence that ended without giving its slot back (a crash), or an entry written by hand, frees
 * itself; a journal that cannot be trusted keeps its slot until an operator looks.
 */
import type { Config } from '../config.js';
import { KUBE_NAMES } from '../kube/names.js';
import { isLeaseHeld } from '../kube/node-facts.js';
import type { Lease } from '../kube/objects.js';
import { ownedLease } from '../kube/owned-lease.js';
import { type KubeCallOptions, KubeConflictError } from '../kube/port.js';
import { isActive, isStale, journalLeaseName } from './journal.js';
import { type JournalStoreDeps, readJournal } from './journal-store.js';

export interface SlotEntry {
  node: string;
  fence: string;
  /** When the slot was taken. */
  since: string;
}

export interface SlotDeps extends JournalStoreDeps {
  config: JournalStoreDeps['config'] & Pick<Config, 'maxConcurrentFences' | 'resumeWithinMs'>;
}

/** A slot taken (or already held), refused with the fences that hold them all, or busy with this node. */
export type SlotAnswer =
  | { taken: true }
  | { taken: false; running: SlotEntry[] }
  | { taken: false; sameNode: SlotEntry };

/** Attempts at a compare-and-swap before giving up as a conflict (a retry later decides). */
const CAS_ATTEMPTS = 8;

function entriesOf(lease: Lease | undefined): SlotEntry[] {
  const text = lease?.metadata?.annotations?.[KUBE_NAMES.slotsAnnotation];
  if (!text) return [];
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) return [];
    return value.filter(
      (entry): entry is SlotEntry =>
        typeof entry?.node === 'string' &&
        typeof entry?.fence === 'string' &&
        typeof entry?.since === 'string',
    );
  } catch {
    return [];
  }
}

function slotsLease(namespace: string, entries: SlotEntry[], previous: Lease | undefined): Lease {
  return ownedLease({
    name: KUBE_NAMES.slotsLease,
    namespace,
    kind: 'slots',
    previous,
    annotations: {
      ...previous?.metadata?.annotations,
      [KUBE_NAMES.slotsAnnotation]: JSON.stringify(entries),
    },
  });
}

/** The entries whose fences still run, by a look at each node's journal (at most the limit's worth of reads). */
async function liveEntries(
  deps: SlotDeps,
  entries: SlotEntry[],
  options?: KubeCallOptions,
): Promise<SlotEntry[]> {
  const { kube, config, now } = deps;
  const at = now();
  const live: SlotEntry[] = [];
  for (const entry of entries) {
    const lease = await kube.getLease(config.namespace, journalLeaseName(entry.node), options);
    const read = readJournal(lease, config.journalKeys);
    if (read.kind === 'rejected') {
      live.push(entry);
    } else if (read.kind === 'none') {
      // Taken a moment ago by a request that has not written its journal yet.
      if (at - Date.parse(entry.since) < config.lockDurationMs) live.push(entry);
    } else if (
      read.journal.id === entry.fence &&
      isActive(read.journal) &&
      !isStale(read.journal, isLeaseHeld(read.lease, at), config.resumeWithinMs, at)
    ) {
      live.push(entry);
    }
  }
  return live;
}

/** Writes the slots Lease at the version read; false when another writer won. */
async function writeSlots(
  deps: SlotDeps,
  entries: SlotEntry[],
  previous: Lease | undefined,
  options?: KubeCallOptions,
): Promise<boolean> {
  const { kube, config } = deps;
  const body = slotsLease(config.namespace, entries, previous);
  try {
    if (previous) await kube.replaceLease(config.namespace, body, options);
    else await kube.createLease(config.namespace, body, options);
    return true;
  } catch (error) {
    if (error instanceof KubeConflictError) return false;
    throw error;
  }
}

/**
 * Takes a slot for a fence, or finds it already has one. Refused, with the fences that hold the slots, when
 * ALERTFENCE_MAX_CONCURRENT_FENCES of them are running.
 */
export async function takeSlot(
  deps: SlotDeps,
  node: string,
  fenceId: string,
  options?: KubeCallOptions,
): Promise<SlotAnswer> {
  const { kube, config, now } = deps;
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const lease = await kube.getLease(config.namespace, KUBE_NAMES.slotsLease, options);
    const entries = entriesOf(lease);
    if (entries.some((entry) => entry.fence === fenceId && entry.node === node)) return { taken: true };
    const live = await liveEntries(deps, entries, options);
    // Another request is starting a fence of this very node: its lock decides, this one stands back.
    const sameNode = live.find((entry) => entry.node === node);
    if (sameNode) return { taken: false, sameNode };
    if (live.length >= config.maxConcurrentFences) return { taken: false, running: live };
    const next = [...live, { node, fence: fenceId, since: new Date(now()).toISOString() }];
    if (await writeSlots(deps, next, lease, options)) return { taken: true };
  }
  throw new KubeConflictError('the fence slots changed under every attempt; try again');
}

/** Gives a fence's slot back; best effort (an entry left behind frees itself once its fence ends). */
export async function releaseSlot(deps: SlotDeps, node: string, fenceId: string): Promise<void> {
  const { kube, config } = deps;
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const lease = await kube.getLease(config.namespace, KUBE_NAMES.slotsLease);
    const entries = entriesOf(lease);
    if (!entries.some((entry) => entry.fence === fenceId && entry.node === node)) return;
    const next = entries.filter((entry) => !(entry.fence === fenceId && entry.node === node));
    if (await writeSlots(deps, next, lease)) return;
  }
}
