/**
 * A hand-over of a fence to a later invocation (a continuation): which fence, and the nonce that proves the
 * continuation is the one the fence's Lease expects. The nonce is never stored (the Lease keeps its SHA-256),
 * never logged, never shown in a journal; a continuation without it is refused.
 */
import * as z from 'zod';
import { isValidNodeName } from '../kube/node-facts.js';

export interface Handoff {
  node: string;
  fenceId: string;
  nonce: string;
}

const handoffSchema = z
  .object({
    node: z.string().refine(isValidNodeName, 'not a valid node name'),
    fenceId: z.string().min(1).max(200),
    nonce: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'not a hand-over nonce'),
  })
  .strict();

/** The hand-over in a continuation's payload, or the reasons it is not one. */
export function parseHandoff(value: unknown): { handoff: Handoff } | { problems: string[] } {
  const parsed = handoffSchema.safeParse(value);
  if (parsed.success) return { handoff: parsed.data };
  return {
    problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
  };
}
