import type { FenceJournal } from '../../functions/fence/journal.js';
import { KUBE_NAMES } from '../../functions/kube/names.js';
import type { Lease } from '../../functions/kube/objects.js';

/** The journal a Lease carries, parsed as is: for tests that watch a fence, not for deciding anything. */
export function peekJournal(lease: Lease | undefined): FenceJournal | undefined {
  const text = lease?.metadata?.annotations?.[KUBE_NAMES.journalAnnotation];
  if (!text) return undefined;
  try {
    return JSON.parse(text) as FenceJournal;
  } catch {
    return undefined;
  }
}
