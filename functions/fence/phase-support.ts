/**
 * What every phase handler shares: what it is given and what it concludes, and the looks at the world it takes
 * before acting (the instance off by the cloud's own record, the Node still the fence's own).
 */
import type { InstanceDescription, InstanceRef, PowerDriver } from '../../drivers/driver.js';
import type { Logger } from '../log.js';
import type { ExecutorDeps } from './deps.js';
import { SafetyViolationError } from './errors.js';
import { identityProblem } from './guards.js';
import type { FenceJournal } from './journal.js';
import type { Reason } from './vocabulary.js';

/** What a phase handler concluded. `pending` means "not yet; run me again", after a bounded wait. */
export type PhaseResult =
  | { kind: 'done'; journal: FenceJournal; detail: string }
  | { kind: 'pending'; journal: FenceJournal; detail: string }
  /** The fence ends before any power-off; `reason` is a word of `REASONS` saying why. */
  | { kind: 'abort'; reason: Reason; detail: string };

export interface PhaseInput {
  journal: FenceJournal;
  /** Deadline of this phase's run: never past the invocation's, and short enough to renew the Lease in time. */
  deadline: number;
  driver: PowerDriver;
  instance: InstanceRef;
  /** The force of the request this run belongs to (a manual fence's own chain), never an older request's. */
  force: boolean;
  /**
   * Saves the journal now, while the phase runs, with the hold kept: for a record that must be in the journal
   * before an action that cannot be taken back (the power-off request), so that a crash right after it is
   * known to whoever resumes the fence. Throws `LockLostError` when another invocation took the fence over.
   */
  writeAhead: (journal: FenceJournal) => Promise<void>;
}

export type Handler = (deps: ExecutorDeps, input: PhaseInput, log: Logger) => Promise<PhaseResult>;

/**
 * Reads the instance now and insists it is off by the cloud's own record: stopped, terminated, or "not found"
 * after this fence saw it terminated (`instanceEnded`). A machine on again means someone powered it on since it
 * was verified off; one not found after any other state may be a credentials change while it runs. Either
 * way: stop releasing, an operator must look.
 */
export async function requireOffNow(input: PhaseInput, action: string): Promise<InstanceDescription> {
  const { driver, instance, deadline, journal } = input;
  const description = await driver.describe(instance, { deadline });
  if (description.power === 'off') return description;
  if (description.missing && journal.instanceEnded) return description;
  throw new SafetyViolationError(
    description.missing
      ? `instance ${instance.id} is not found before ${action}, and this fence never saw it terminated: the credentials, role or region may have changed while it runs; nothing more is released`
      : `instance ${instance.id} is ${description.cloudState}, not off, before ${action}: someone powered it on after it was verified off; nothing more is released`,
  );
}

/** The journal with the cloud's record that the instance ended, when this description shows it. */
export function noteEnded(journal: FenceJournal, description: InstanceDescription, at: number): FenceJournal {
  if (!description.gone || journal.instanceEnded) return journal;
  return {
    ...journal,
    instanceEnded: { at: new Date(at).toISOString(), cloudState: description.cloudState },
  };
}

/**
 * The live Node, checked to be the fence's own. Undefined when it is gone; a SafetyViolation when another
 * Node of that name stands in its place (never release what a new Node holds).
 */
export async function ownNode(deps: ExecutorDeps, input: PhaseInput) {
  const node = await deps.kube.getNode(input.journal.node, { deadline: input.deadline });
  if (!node) return undefined;
  const problem = identityProblem(input.journal, node);
  if (problem) throw new SafetyViolationError(`${problem}; nothing of the new Node is touched`);
  return node;
}
