/**
 * The one error type of the OpenStack client. Like ofetch's `FetchError`, it carries everything an
 * operator needs to find the failed call in the cloud's logs: method, URL, HTTP status, body and request id.
 */

/** What an `OpenStackError` says about the call that failed. */
export interface OpenStackErrorDetails {
  method: string;
  url: string;
  /** HTTP status; absent when no response arrived (connection refused, reset, timed out). */
  status?: number;
  /** The response body as text, truncated; OpenStack services put the reason there. */
  body?: string;
  /** `x-openstack-request-id` or `x-compute-request-id`, to grep the service's logs. */
  requestId?: string;
  /** The wait a 429 or 503 asked for in `Retry-After` (RFC 9110 §10.2.3). */
  retryAfterMs?: number;
  /** Why the call failed when the body does not say: an answer that does not match the API reference. */
  reason?: string;
  cause?: unknown;
}

const MAX_BODY = 2000;

/**
 * A failed call to an OpenStack service: an HTTP error status, no response at all (`status` undefined), or
 * a 2xx answer whose body does not match the API reference (`reason` set). Classify it by `status`, never by
 * message.
 */
export class OpenStackError extends Error {
  override name = 'OpenStackError';
  readonly method: string;
  readonly url: string;
  readonly status: number | undefined;
  readonly body: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly reason: string | undefined;

  constructor(details: OpenStackErrorDetails) {
    super(describe(details), { cause: details.cause });
    this.method = details.method;
    this.url = details.url;
    this.status = details.status;
    this.body = details.body === undefined ? undefined : details.body.slice(0, MAX_BODY);
    this.requestId = details.requestId;
    this.retryAfterMs = details.retryAfterMs;
    this.reason = details.reason;
  }

  /**
   * Whether a later identical request can succeed: no response, 429, or a 5xx that is not "not
   * implemented". Whether it is *safe* to repeat is the caller's business (idempotent methods only).
   */
  get transient(): boolean {
    if (this.reason !== undefined) return false;
    if (this.status === undefined) return true;
    if (this.status === 429) return true;
    return this.status >= 500 && this.status !== 501 && this.status !== 505;
  }
}

/**
 * The human message inside an OpenStack error body. Nova and Cinder wrap it in an object named after the
 * fault (`{"itemNotFound": {"message": …, "code": 404}}`), Keystone in `{"error": {"message": …}}`.
 */
export function faultMessage(body: string | undefined): string | undefined {
  if (!body) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  for (const value of Object.values(parsed)) {
    if (typeof value === 'object' && value !== null && 'message' in value) {
      const message = (value as { message: unknown }).message;
      if (typeof message === 'string') return message;
    }
  }
  return undefined;
}

function describe(details: OpenStackErrorDetails): string {
  const where = `${details.method} ${details.url}`;
  const id = details.requestId ? ` [${details.requestId}]` : '';
  if (details.status === undefined) {
    const reason =
      details.cause instanceof Error ? details.cause.message : String(details.cause ?? 'no response');
    return `${where} failed without a response: ${reason}${id}`;
  }
  const message = details.reason ?? faultMessage(details.body);
  return `${where} answered ${details.status}${message ? `: ${message}` : ''}${id}`;
}
