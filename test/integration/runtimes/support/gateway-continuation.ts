import { expect } from 'vitest';
import { waitUntil } from '../../../peers/process.js';
import { TOKEN } from './env.js';
import type { GatewayStandIn } from './openfaas-gateway.js';

export interface GatewayContinuationCheck {
  gateway: GatewayStandIn;
  /** Where the queue worker replays calls: the watchdog, or the function itself. */
  url: string;
  fenceId: string | undefined;
  execTimeoutMs: number;
  logs: () => string;
}

/**
 * Assesses an OpenFaaS fence continued through the gateway's `/async-function/` queue, the same whether
 * the function runs behind the real of-watchdog or as its `fprocess`: one call queued with a bearer token,
 * every replay answered before `exec_timeout`, the last one done, and the journal at Done.
 */
export async function assessGatewayContinuation(check: GatewayContinuationCheck): Promise<void> {
  const { gateway, url, fenceId, execTimeoutMs, logs } = check;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  expect(gateway.calls).toHaveLength(1);
  expect(gateway.calls[0]).toMatchObject({
    functionName: 'alertfence',
    path: '/v1/fences/continue',
    headers,
  });
  expect(JSON.parse(gateway.calls[0]?.body ?? '{}')).toMatchObject({ node: 'worker-1', fenceId });

  // The queue worker replays each queued call, including those the function queues itself.
  const replays = await gateway.deliver(url);

  expect(replays.length, logs()).toBeGreaterThanOrEqual(2);
  for (const replay of replays) {
    expect(replay.status).toBe(200);
    expect(replay.durationMs).toBeLessThan(execTimeoutMs);
  }
  expect(replays.map((replay) => (replay.json as { status: string }).status).at(-1)).toBe('succeeded');
  const journal = await waitUntil(
    async () => {
      const response = await fetch(`${url}/v1/nodes/worker-1/fence`, { headers });
      const body = (await response.json()) as { status: string };
      return body.status === 'succeeded' ? body : undefined;
    },
    { timeoutMs: 5_000, what: 'the fence journal to say succeeded' },
  );
  expect(journal).toMatchObject({ id: fenceId, phase: 'Done', attempt: replays.length + 1 });
}
