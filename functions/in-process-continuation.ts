import { randomUUID } from 'node:crypto';
import type { Continuation, FenceService, Handoff } from './fence/fence-service.js';
import type { Logger } from './log.js';

/**
 * Continues fences inside this process (the Node server and OpenFaaS): each handoff runs in the background
 * with a fresh run budget. `drain` stops new work and waits for the running steps to be journaled.
 */
export class InProcessContinuation implements Continuation {
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private service: FenceService | undefined;

  constructor(
    private readonly runBudgetMs: () => number,
    private readonly log: Logger,
  ) {}

  /** The service is built after the continuation it uses; bind it once both exist. */
  bind(service: FenceService): void {
    this.service = service;
  }

  async schedule(handoff: Handoff): Promise<void> {
    if (this.stopping || !this.service) return;
    const service = this.service;
    const requestId = `continue-${randomUUID()}`;
    const run = (async () => {
      // Let the request that accepted the fence answer first.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        await service.continueFence(handoff, {
          requestId,
          deadline: Date.now() + this.runBudgetMs(),
          shouldStop: () => this.stopping,
        });
      } catch (error) {
        this.log.error('fence continuation failed', {
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
    this.stopping = true;
    const all = Promise.allSettled([...this.running]).then(() => true);
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    return Promise.race([all, timeout]);
  }
}
