/**
 * The root of the hand-written HTTP clients' errors (OpenStack's, Redfish's), and how a failed call becomes a
 * driver error. Like ofetch's `FetchError`, one error carries what an operator needs to find the call in the
 * remote's logs (method, where, status, body) and says whether a later identical request can succeed.
 */

import { DeadlineExceededError, DriverAuthError, DriverError } from './driver.js';

/** What an `HttpError` says about the call that failed. */
export interface HttpErrorDetails {
  method: string;
  /** HTTP status; absent when no response arrived (refused, reset, TLS failure, timed out). */
  status?: number;
  /** The response body as text, truncated; services put the reason there. */
  body?: string;
  /** The wait a 429 or 503 asked for in `Retry-After` (RFC 9110 §10.2.3). */
  retryAfterMs?: number;
  /**
   * Why the call failed when the status does not say: a 2xx answer that does not match the API reference, or
   * a certificate the client does not trust. Such a failure is never transient.
   */
  reason?: string;
  cause?: unknown;
}

/** How a subclass words its message: where the call went, how to read a body, what to append (a request id). */
export interface HttpErrorWording {
  /** `GET https://nova/v2.1/servers/1`, `POST /redfish/v1/… on BMC rack1`. */
  where: string;
  /** The human message inside an error body of this API. */
  bodyMessage: (body: string | undefined) => string | undefined;
  suffix?: string;
}

const MAX_BODY = 2000;

/**
 * A failed HTTP call: an error status, no response at all (`status` undefined), or an answer the client could
 * not use (`reason` set). Classify it by `status`, never by message.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly method: string;
  readonly status: number | undefined;
  readonly body: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly reason: string | undefined;

  constructor(details: HttpErrorDetails, wording: HttpErrorWording) {
    super(describe(details, wording), { cause: details.cause });
    this.method = details.method;
    this.status = details.status;
    this.body = details.body?.slice(0, MAX_BODY);
    this.retryAfterMs = details.retryAfterMs;
    this.reason = details.reason;
  }

  /**
   * Whether a later identical request can succeed: no response, 429, or a 5xx that is not "not implemented".
   * Whether it is *safe* to repeat is the caller's business (idempotent methods only).
   */
  get transient(): boolean {
    if (this.reason !== undefined) return false;
    if (this.status === undefined) return true;
    if (this.status === 429) return true;
    return this.status >= 500 && this.status !== 501 && this.status !== 505;
  }
}

function describe(details: HttpErrorDetails, wording: HttpErrorWording): string {
  const { where, suffix = '' } = wording;
  if (details.status === undefined && details.reason !== undefined) {
    return `${where} failed: ${details.reason}${suffix}`;
  }
  if (details.status === undefined) {
    const reason =
      details.cause instanceof Error ? details.cause.message : String(details.cause ?? 'no response');
    return `${where} failed without a response: ${reason}${suffix}`;
  }
  const message = details.reason ?? wording.bodyMessage(details.body);
  return `${where} answered ${details.status}${message ? `: ${message}` : ''}${suffix}`;
}

/** An error body parsed as JSON, for its message; undefined when there is none or it is not JSON. */
export function jsonBody(body: string | undefined): unknown {
  if (!body) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** A `Retry-After` value (seconds, or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * Turns the failure of a driver call into the driver's error classes, by HTTP status, never by message:
 * 401/403 are configuration (`DriverAuthError`, never retried, worded by `refusal`), 429/5xx/no answer are
 * retryable, any other status or failure is a `DriverError` to look at. Driver errors and the deadline pass
 * through unchanged.
 */
export function httpDriverError(
  what: string,
  error: unknown,
  refusal: (error: HttpError & { status: 401 | 403 }) => string,
): DriverError | DeadlineExceededError {
  if (error instanceof DriverError || error instanceof DeadlineExceededError) return error;
  if (error instanceof HttpError) {
    if (error.status === 401 || error.status === 403) {
      return new DriverAuthError(`${what}: ${refusal(error as HttpError & { status: 401 | 403 })}`, {
        cause: error,
      });
    }
    return new DriverError(`${what}: ${error.message}`, { retryable: error.transient, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DriverError(`${what}: ${message}`, { retryable: false, cause: error });
}
