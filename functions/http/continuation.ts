import type { Handoff } from '../fence/handoff.js';

/**
 * How a runtime continues the fences a request handed over, its own way: in this process (the Node server,
 * OpenFaaS without a gateway), by an asynchronous Lambda invocation, or through the OpenFaaS queue. The HTTP
 * layer gives it the hand-overs before it answers; the fence core never calls it.
 */
export interface Continuation {
  /** Starts the continuations; resolves once they are on their way (scheduled, invoked, queued). */
  continue(handoffs: readonly Handoff[]): Promise<void>;
  /**
   * False when nothing would run a continuation started now (an in-process runtime shutting down): the fence
   * is then left free in its journal for the next invocation. Runtimes whose continuations outlive the process
   * are always accepting.
   */
  accepting(): boolean;
}
