import type { Phase } from '../../functions/fence/vocabulary.js';
import type { Lease } from '../../functions/kube/objects.js';
import { peekJournal as readJournal } from '../support/peek-journal.js';
import { FakeKube } from './kube.js';

/** The process died: thrown at the crash point and by every later call of the same "process". */
export class CrashError extends Error {
  override name = 'CrashError';
}

/**
 * A FakeKube whose caller "crashes" right after the journal records a given phase: the write lands, then
 * this and every later call fail until `restart()`, as when a function instance dies mid-fence and its
 * Lease stays held by a dead holder.
 */
export class CrashingKube extends FakeKube {
  crashAfter: Phase | undefined;
  crashed = false;
  private dead = false;

  constructor() {
    super();
    this.beforeCall = () => {
      if (this.dead) throw new CrashError('process is dead');
    };
  }

  restart(): void {
    this.dead = false;
  }

  /** The process dies now, wherever it is (e.g. right after a cloud call): every later call fails until `restart()`. */
  die(): void {
    this.crashed = true;
    this.dead = true;
  }

  private maybeCrash(lease: Lease): void {
    if (!this.crashed && this.crashAfter && readJournal(lease)?.phase === this.crashAfter) {
      this.crashed = true;
      this.dead = true;
      throw new CrashError(`crashed after ${this.crashAfter}`);
    }
  }

  override async createLease(namespace: string, lease: Lease) {
    const stored = await super.createLease(namespace, lease);
    this.maybeCrash(stored);
    return stored;
  }

  override async replaceLease(namespace: string, lease: Lease) {
    const stored = await super.replaceLease(namespace, lease);
    this.maybeCrash(stored);
    return stored;
  }
}
