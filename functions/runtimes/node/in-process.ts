import { randomUUID } from 'node:crypto';
import type { FenceService } from '../../fence/api.js';
import type { Handoff } from '../../fence/handoff.js';
import type { Continuation } from '../../http/continuation.js';
import { deadlineFrom } from '../../lib/deadline.js';
import type { Logger } from '../../log.js';

/**
 * Continues fences inside this process (the Node server, OpenFaaS without a gateway): each hand-over runs in
 * the background with a fresh run budget, and hands itself over again when that runs out. `drain` stops new
 * work and waits for the running phases to be journaled.
 */
export class InProcessContinuation implements Continuation {
  private readonly running = new Set<Promise<void>>();
  private draining = false;

  constructor(
    private readonly service: FenceService,
    private readonly runBudgetMs: number,
    private readonly log: Logger,
  ) {}

  /** True once `drain` was called: the process is shutting down and running fences save their phase and stop. */
  get stopping(): boolean {
    return this.draining;
  }

  /** While draining, a hand-over would never run here: the fence keeps its Lease free instead. */
  accepting(): boolean {
    return !this.draining;
  }

  async continue(handoffs: readonly Handoff[]): Promise<void> {
    for (const handoff of handoffs) if (!this.draining) this.track(this.run(handoff));
  }

  private async run(handoff: Handoff): Promise<void> {
    const requestId = `continue-${randomUUID()}`;
    // Let the request that handed the fence over answer first.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      const { handoffs } = await this.service.continueFence(handoff, {
        requestId,
        deadline: deadlineFrom(Date.now(), this.runBudgetMs),
        shouldStop: () => this.draining,
        canHandOver: () => this.accepting(),
      });
      await this.continue(handoffs);
    } catch (error) {
      this.log.error('fence continuation failed', {
        requestId,
        node: handoff.node,
        fence: handoff.fenceId,
        reason: String(error),
      });
    }
  }

  private track(run: Promise<void>): void {
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Number of fences running in this process. */
  get active(): number {
    return this.running.size;
  }

  /** Asks running fences to save their current phase and stop, and waits (at most `timeoutMs`) for them. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    const all = Promise.allSettled([...this.running]).then(() => true);
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    return Promise.race([all, timeout]);
  }
}
