/**
 * Alertmanager's side of the scale runs: webhook payloads (version 4) as it sends them, one per alert group,
 * posted to the function over HTTP and timed from the first byte sent to the last byte of the answer.
 */
import { performance } from 'node:perf_hooks';
import { alertPayload } from '../../support/world.js';

/** One node's result in the webhook's answer. */
export interface AlertResult {
  node: string;
  outcome: string;
  reason: string;
  message: string;
}

export interface AlertAnswer {
  status: number;
  /** From sending the request to reading the whole answer, ms. */
  ms: number;
  results: AlertResult[];
}

/** A firing `KubeNodeNotReady` group naming `nodes`, posted to `POST /v1/alerts`. */
export async function postAlert(
  fn: { url: string; token: string },
  nodes: readonly string[],
): Promise<AlertAnswer> {
  const body = JSON.stringify(alertPayload(nodes.map((node) => ({ node }))));
  const started = performance.now();
  const response = await fetch(`${fn.url}/v1/alerts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fn.token}`, 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(600_000),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  const parsed = JSON.parse(text) as { results?: AlertResult[] };
  return { status: response.status, ms, results: parsed.results ?? [] };
}

/** `POST /v1/tick`: resumes fences whose continuation was lost, detects, reports; timed as an alert is. */
export async function postTick(fn: { url: string; token: string }): Promise<AlertAnswer> {
  const started = performance.now();
  const response = await fetch(`${fn.url}/v1/tick`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fn.token}` },
    signal: AbortSignal.timeout(600_000),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  const parsed = JSON.parse(text) as { results?: AlertResult[] };
  return { status: response.status, ms, results: parsed.results ?? [] };
}
