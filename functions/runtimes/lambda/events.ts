/**
 * The events the Lambda function receives: a Function URL request (payload 2.0), a continuation it sent itself,
 * the scheduled tick of its EventBridge schedule. Told apart by shape.
 */
import type { LambdaEvent } from 'hono/aws-lambda';
import type { Handoff } from '../../fence/handoff.js';

/**
 * The event a worker invocation receives. A Function URL can never deliver this shape: Lambda wraps every
 * HTTP request in its own envelope (`version`, `rawPath`, `requestContext`, …), so only a caller with
 * `lambda:InvokeFunction` on the function can send it.
 */
export interface ContinuationEvent {
  alertfence: 'continue';
  handoff: Handoff;
}

/** Wraps a handoff into the worker event. */
export function continuationEvent(handoff: Handoff): ContinuationEvent {
  return { alertfence: 'continue', handoff };
}

/** True for an event sent by {@link LambdaContinuation}; the handoff inside is checked by the handler. */
export function isContinuationEvent(event: unknown): event is ContinuationEvent {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as { alertfence?: unknown }).alertfence === 'continue' &&
    typeof (event as { handoff?: unknown }).handoff === 'object'
  );
}

/** The event an EventBridge schedule sends for the scheduled tick (the template's `Input`). */
export interface TickEvent {
  alertfence: 'tick';
}

/** True for the scheduled tick's event. */
export function isTickEvent(event: unknown): event is TickEvent {
  return (
    typeof event === 'object' && event !== null && (event as { alertfence?: unknown }).alertfence === 'tick'
  );
}

/** A Function URL request: Lambda's envelope around an HTTP request. */
export function isHttpEvent(event: unknown): event is LambdaEvent {
  return typeof event === 'object' && event !== null && 'requestContext' in event;
}
