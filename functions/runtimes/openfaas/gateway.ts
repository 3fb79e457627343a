import type { OpenFaasSettings } from '../../config.js';
import type { Handoff } from '../../fence/handoff.js';
import type { Continuation } from '../../http/continuation.js';
import { type RetryPolicy, retryWithin, sleep } from '../../lib/wait.js';
import type { Logger } from '../../log.js';

export interface OpenFaasContinuationOptions {
  /** The gateway's base URL, e.g. `http://gateway.openfaas:8080`. */
  gateway: string;
  /** The function's name as the gateway knows it, `name` or `name.namespace`. */
  functionName: string;
  /** A bearer token the function accepts: the queued request comes back to it through the gateway. */
  token: string;
  log: Logger;
}

/** Attempts at enqueueing; a duplicate continuation is harmless (only the nonce the Lease expects runs). */
const ATTEMPTS = 3;
/** Per attempt; the gateway only enqueues, so it answers in milliseconds. */
const ATTEMPT_TIMEOUT_MS = 5_000;
/** Backoff between attempts: 200 ms, then 400 ms (jittered). */
const ENQUEUE_RETRY: RetryPolicy = {
  maxAttempts: ATTEMPTS,
  baseDelayMs: 400,
  maxDelayMs: 800,
  random: Math.random,
  now: Date.now,
  sleep,
};

/**
 * Continues a fence through the OpenFaaS gateway's asynchronous path: `POST /async-function/<fn>/v1/fences/continue`
 * answers 202 once the request is queued (NATS), and the queue worker later replays it, headers included,
 * to the function's `POST /v1/fences/continue`, which runs the next phases with a fresh `exec_timeout`.
 */
export class OpenFaasContinuation implements Continuation {
  private readonly url: string;

  constructor(private readonly options: OpenFaasContinuationOptions) {
    this.url = `${options.gateway.replace(/\/+$/, '')}/async-function/${encodeURIComponent(options.functionName)}/v1/fences/continue`;
  }

  /** The queue keeps what it accepted: a continuation may always be sent. */
  accepting(): boolean {
    return true;
  }

  async continue(handoffs: readonly Handoff[]): Promise<void> {
    for (const handoff of handoffs) await this.enqueue(handoff);
  }

  private async enqueue(handoff: Handoff): Promise<void> {
    const { log, token } = this.options;
    const fields = { node: handoff.node, fence: handoff.fenceId };
    try {
      const status = await retryWithin(
        async () => {
          const response = await fetch(this.url, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(handoff),
            signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
          });
          await response.body?.cancel();
          if (!response.ok) throw new GatewayAnswerError(response.status);
          return response.status;
        },
        {
          deadline: Date.now() + ATTEMPTS * ATTEMPT_TIMEOUT_MS,
          policy: ENQUEUE_RETRY,
          // 4xx is configuration (wrong function name, gateway auth): asking again will not help.
          retryable: (error) =>
            !(error instanceof GatewayAnswerError) || error.status >= 500 || error.status === 429,
        },
      );
      log.info('fence handed to the gateway queue', { ...fields, status });
    } catch (error) {
      // Not rethrown: the fence is journaled; once its Lease hold expires the next alert repeat resumes it.
      log.error('could not hand the fence to the gateway queue; the next alert repeat resumes it', {
        ...fields,
        url: this.url,
        reason: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  }
}

/** The gateway answered, but not with 2xx. */
class GatewayAnswerError extends Error {
  override name = 'GatewayAnswerError';
  constructor(readonly status: number) {
    super(`gateway answered ${status}`);
  }
}

/**
 * The OpenFaaS continuation when `ALERTFENCE_OPENFAAS_GATEWAY` is set, else undefined (continue in process).
 * `ALERTFENCE_OPENFAAS_FUNCTION` names the function (default `alertfence`; add `.namespace` when the function
 * is not in the gateway's default namespace).
 */
export function openFaasContinuationFromConfig(
  settings: OpenFaasSettings,
  token: string,
  log: Logger,
): OpenFaasContinuation | undefined {
  const { gateway, functionName } = settings;
  return gateway ? new OpenFaasContinuation({ gateway, functionName, token, log }) : undefined;
}
