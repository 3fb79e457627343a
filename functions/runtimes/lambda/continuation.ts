import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ConfigError, type LambdaSettings } from '../../config.js';
import type { Handoff } from '../../fence/handoff.js';
import type { Continuation } from '../../http/continuation.js';
import type { Logger } from '../../log.js';
import { continuationEvent } from './events.js';

/** The part of the Lambda client this module uses; tests pass a client pointed at a local endpoint. */
export type InvokeClient = Pick<LambdaClient, 'send'>;

export interface LambdaContinuationOptions {
  /** Name (optionally `name:qualifier`) or ARN of the function that runs the worker: usually this one. */
  functionName: string;
  client: InvokeClient;
  log: Logger;
}

/**
 * Continues a fence in a fresh invocation of the function: an asynchronous (`InvocationType: Event`)
 * self-invoke with a {@link ContinuationEvent}. Lambda queues the event and answers 202 at once, so the
 * request that accepted the fence answers fast, and the worker gets a full timeout of its own.
 */
export class LambdaContinuation implements Continuation {
  constructor(private readonly options: LambdaContinuationOptions) {}

  /** Lambda's asynchronous queue keeps what it accepted: a continuation may always be sent. */
  accepting(): boolean {
    return true;
  }

  async continue(handoffs: readonly Handoff[]): Promise<void> {
    for (const handoff of handoffs) await this.invoke(handoff);
  }

  private async invoke(handoff: Handoff): Promise<void> {
    const { functionName, client, log } = this.options;
    const fields = { node: handoff.node, fence: handoff.fenceId };
    try {
      const output = await client.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(continuationEvent(handoff))),
        }),
      );
      log.info('fence handed to a worker invocation', {
        ...fields,
        function: functionName,
        status: output.StatusCode,
      });
    } catch (error) {
      // Not rethrown: the fence is journaled and its Lease hold expires after ALERTFENCE_LOCK_DURATION, so
      // the next alert repeat resumes it. Failing the request would instead report a started fence as failed.
      log.error('could not hand the fence to a worker invocation; the next alert repeat resumes it', {
        ...fields,
        function: functionName,
        reason: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  }
}

/**
 * The function to invoke for continuations: `ALERTFENCE_WORKER_FUNCTION` when set (the template sets the
 * `live` alias: a continuation then runs the deployment that is current, so one disarmed meanwhile refuses
 * it), else this very function at the version that is running.
 */
export function workerFunctionName(settings: LambdaSettings): string {
  const name = settings.workerFunction ?? settings.functionName;
  if (!name) {
    throw new ConfigError(
      'no function to continue fences in: AWS_LAMBDA_FUNCTION_NAME is unset (not on Lambda?); set ALERTFENCE_WORKER_FUNCTION',
    );
  }
  const version = settings.functionVersion;
  if (settings.workerFunction || !version || version === '$LATEST') return name;
  return `${name}:${version}`;
}

/**
 * Builds the continuation from the lambda section. `ALERTFENCE_LAMBDA_ENDPOINT` points the client at another
 * Lambda API (LocalStack, or the tests' stand-in for the emulator, which has no Invoke API).
 */
export function lambdaContinuationFromConfig(settings: LambdaSettings, log: Logger): LambdaContinuation {
  const { endpoint, region } = settings;
  const client = new LambdaClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    // The SDK retries throttling and 5xx with backoff; an Event invoke is queued once Lambda answers 202.
    maxAttempts: 3,
  });
  return new LambdaContinuation({ functionName: workerFunctionName(settings), client, log });
}
