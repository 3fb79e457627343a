import { ConfigError } from './config.js';
import type { Continuation, Handoff } from './fence/handoff.js';
import type { Logger } from './log.js';

type Env = Record<string, string | undefined>;

export interface OpenFaasContinuationOptions {
  /** The gateway's base URL, e.g. `http://gateway.openfaas:8080`. */
  gateway: string;
  /** The function's name as the gateway knows it, `name` or `name.namespace`. */
  functionName: string;
  /** A bearer token the function accepts: the queued request comes back to it through the gateway. */
  token: string;
  log: Logger;
}

/** Attempts at enqueueing; a duplicate continuation is harmless (only the Lease's holder may resume). */
const ATTEMPTS = 3;
/** Per attempt; the gateway only enqueues, so it answers in milliseconds. */
const ATTEMPT_TIMEOUT_MS = 5_000;

/**
 * Continues a fence through the OpenFaaS gateway's asynchronous path: `POST /async-function/<fn>/v1/fences/continue`
 * answers 202 once the request is queued (NATS), and the queue worker later replays it, headers included,
 * to the function's `POST /v1/fences/continue`, which runs the next steps with a fresh `exec_timeout`.
 */
export class OpenFaasContinuation implements Continuation {
  private readonly url: string;

  constructor(private readonly options: OpenFaasContinuationOptions) {
    this.url = `${options.gateway.replace(/\/+$/, '')}/async-function/${encodeURIComponent(options.functionName)}/v1/fences/continue`;
  }

  async schedule(handoff: Handoff): Promise<void> {
    const { log, token } = this.options;
    const fields = { node: handoff.node, fence: handoff.fenceId };
    let reason = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      try {
        const response = await fetch(this.url, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(handoff),
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        await response.body?.cancel();
        if (response.ok) {
          log.info('fence handed to the gateway queue', { ...fields, status: response.status, attempt });
          return;
        }
        reason = `gateway answered ${response.status}`;
        // 4xx is configuration (wrong function name, gateway auth): asking again will not help.
        if (response.status < 500 && response.status !== 429) break;
      } catch (error) {
        reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      if (attempt < ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
    }
    // Not rethrown: the fence is journaled; once its Lease hold expires the next alert repeat resumes it.
    log.error('could not hand the fence to the gateway queue; the next alert repeat resumes it', {
      ...fields,
      url: this.url,
      reason,
    });
  }
}

/**
 * The OpenFaaS continuation when `ALERTFENCE_OPENFAAS_GATEWAY` is set, else undefined (continue in process).
 * `ALERTFENCE_OPENFAAS_FUNCTION` names the function (default `alertfence`; add `.namespace` when the function
 * is not in the gateway's default namespace).
 */
export function openFaasContinuationFromEnv(
  env: Env,
  token: string,
  log: Logger,
): OpenFaasContinuation | undefined {
  const gateway = env.ALERTFENCE_OPENFAAS_GATEWAY;
  if (!gateway) return undefined;
  if (!URL.canParse(gateway) || !/^https?:$/.test(new URL(gateway).protocol)) {
    throw new ConfigError(`ALERTFENCE_OPENFAAS_GATEWAY: "${gateway}" is not an http(s) URL`);
  }
  const functionName = env.ALERTFENCE_OPENFAAS_FUNCTION || 'alertfence';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/.test(functionName)) {
    throw new ConfigError(
      `ALERTFENCE_OPENFAAS_FUNCTION: "${functionName}" is not a function name (name or name.namespace)`,
    );
  }
  return new OpenFaasContinuation({ gateway, functionName, token, log });
}
