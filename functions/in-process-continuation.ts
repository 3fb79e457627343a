import { randomUUID } from 'node:crypto';
import type { FenceService } from './fence/fence-service.js';
import type { Continuation, Handoff } from './fence/handoff.js';
import type { Logger } from './log.js';

/** What a continuation needs from the runtime it belongs to. */
export interface InProcessBinding {
  service: FenceService;
  /** Each continued run gets this much time. */
  runBudgetMs: number;
  log: Logger;
}

/**
 * Continues fences inside this process (the Node server and OpenFaaS): each handoff runs in the background
 * with a fresh run budget. `drain` stops new work and waits for the running steps to be journaled.
 */
export class InProcessContinuation implements Continuation {
  private readonly running = new Set<Promise<void>>();
  private draining = false;
  private binding: InProcessBinding | undefined;

  /** The service and its configuration are built after the continuation they use; bind them once they exist. */
  bind(binding: InProcessBinding): void {
    this.binding = binding;
  }

  /** True once `drain` was called: the process is shutting down and running fences save their step and stop. */
  get stopping(): boolean {
    return this.draining;
  }

  /** While draining, a hand-over would never run here: the fence keeps its Lease free instead. */
  accepting(): boolean {
    return !this.draining && this.binding !== undefined;
  }

  async schedule(handoff: Handoff): Promise<void> {
    if (this.draining || !this.binding) return;
    const { service, runBudgetMs, log } = this.binding;
    const requestId = `continue-${randomUUID()}`;
    const run = (async () => {
      // Let the request that accepted the fence answer first.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        await service.continueFence(handoff, {
          requestId,
          deadline: Date.now() + runBudgetMs,
          shouldStop: () => this.draining,
        });
      } catch (error) {
        log.error('fence continuation failed', {
          requestId,
          node: handoff.node,
          fence: handoff.fenceId,
          reason: String(error),
        });
      }
    })();
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Number of fences running in this process. */
  get active(): number {
    return this.running.size;
  }

  /** Asks running fences to save their current step and stop, and waits (at most `timeoutMs`) for them. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    const all = Promise.allSettled([...this.running]).then(() => true);
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    return Promise.race([all, timeout]);
  }
}
