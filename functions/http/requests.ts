/** Reading what a request sends, and the status of what it gets: shared by the routes. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { NodeResult } from '../fence/api.js';
import { isValidNodeName } from '../kube/node-facts.js';
import { invalidInput } from './errors.js';

/** Status of a response that carries per-node results: 5xx only when a retry is wanted. */
export function resultsStatus(results: NodeResult[], accepted: ContentfulStatusCode): ContentfulStatusCode {
  if (results.some((result) => result.outcome === 'failed' && result.retryable)) return 503;
  return accepted;
}

/** A manual fence's status: handed on, unknown node, a failure a retry may fix or not, else done or refused. */
export function manualFenceStatus(result: NodeResult, wait: boolean): ContentfulStatusCode {
  if (result.outcome === 'accepted' && !wait) return 202;
  if (result.outcome === 'not-found') return 404;
  if (result.outcome === 'failed') return result.retryable ? 503 : 500;
  return 200;
}

export function nodeParam(value: string): string {
  if (!isValidNodeName(value))
    throw invalidInput('not a valid node name (RFC 1123 subdomain, at most 253 characters)');
  return value;
}

/** Reads the JSON body; an empty body is `{}` where every field is optional. */
export async function readJson(c: Context, required: boolean): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (required) throw invalidInput('empty body; expected JSON');
    return {};
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidInput('body is not valid JSON');
  }
}
