/**
 * The one error type of the Redfish client. Like the OpenStack client's, it carries what an operator needs to
 * find the failed call in the BMC's logs: BMC, method, path, HTTP status and the Redfish messages.
 */

/** What a `RedfishError` says about the call that failed. */
export interface RedfishErrorDetails {
  /** The BMC's configured name. */
  bmc: string;
  method: string;
  /** Path and query on the BMC, e.g. `/redfish/v1/Systems/1`. */
  path: string;
  /** HTTP status; absent when no response arrived (refused, reset, TLS failure, timed out). */
  status?: number;
  /** The response body as text, truncated. */
  body?: string;
  /** The wait a 429 or 503 asked for in `Retry-After` (RFC 9110 §10.2.3). */
  retryAfterMs?: number;
  /**
   * Why the call failed when the status does not say: a 2xx answer that is not the Redfish schema, or a
   * certificate the client does not trust. Such a failure is never transient.
   */
  reason?: string;
  cause?: unknown;
}

const MAX_BODY = 2000;

/**
 * A failed call to a BMC: an HTTP error status, no response at all (`status` undefined), or a 2xx answer that
 * does not match the schema (`reason` set). Classify it by `status`, never by message.
 */
export class RedfishError extends Error {
  override name = 'RedfishError';
  readonly bmc: string;
  readonly method: string;
  readonly path: string;
  readonly status: number | undefined;
  readonly body: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly reason: string | undefined;

  constructor(details: RedfishErrorDetails) {
    super(describe(details), { cause: details.cause });
    this.bmc = details.bmc;
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.body = details.body === undefined ? undefined : details.body.slice(0, MAX_BODY);
    this.retryAfterMs = details.retryAfterMs;
    this.reason = details.reason;
  }

  /**
   * Whether a later identical request can succeed: no response, 429, or a 5xx that is not "not implemented".
   * Whether it is *safe* to repeat is the caller's business.
   */
  get transient(): boolean {
    if (this.reason !== undefined) return false;
    if (this.status === undefined) return true;
    if (this.status === 429) return true;
    return this.status >= 500 && this.status !== 501 && this.status !== 505;
  }
}

/**
 * The human message of a Redfish error body (DSP0266 §9.6 "Error responses"): `error.message`, then the
 * `Message` of each `@Message.ExtendedInfo` entry, which is where BMCs put the useful part
 * (`"The requested resource is already powered off."`, `"Insufficient privilege"`).
 */
export function redfishMessage(body: string | undefined): string | undefined {
  if (!body) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || !isRecord(parsed.error)) return undefined;
  const error = parsed.error;
  const parts: string[] = [];
  if (typeof error.message === 'string' && error.message) parts.push(error.message);
  const extended = error['@Message.ExtendedInfo'];
  if (Array.isArray(extended)) {
    for (const info of extended) {
      if (!isRecord(info)) continue;
      const text = typeof info.Message === 'string' ? info.Message : undefined;
      const id = typeof info.MessageId === 'string' ? info.MessageId : undefined;
      const line = text ?? id;
      if (line && !parts.includes(line)) parts.push(line);
    }
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

function describe(details: RedfishErrorDetails): string {
  const where = `${details.method} ${details.path} on BMC ${details.bmc}`;
  if (details.status === undefined && details.reason !== undefined)
    return `${where} failed: ${details.reason}`;
  if (details.status === undefined) {
    const reason =
      details.cause instanceof Error ? details.cause.message : String(details.cause ?? 'no response');
    return `${where} failed without a response: ${reason}`;
  }
  const message = details.reason ?? redfishMessage(details.body);
  return `${where} answered ${details.status}${message ? `: ${message}` : ''}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
