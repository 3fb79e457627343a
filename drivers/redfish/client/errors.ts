/**
 * The one error type of the Redfish client: an `HttpError` that names the BMC and the path, with the Redfish
 * messages of the error body.
 */

import { HttpError, type HttpErrorDetails, jsonBody } from '../../http-error.js';

/** What a `RedfishError` says about the call that failed. */
export interface RedfishErrorDetails extends HttpErrorDetails {
  /** The BMC's configured name. */
  bmc: string;
  /** Path and query on the BMC, e.g. `/redfish/v1/Systems/1`. */
  path: string;
}

/**
 * A failed call to a BMC: an HTTP error status, no response at all (`status` undefined), or an answer the
 * client cannot use (`reason` set: not the Redfish schema, or a certificate it does not trust). Classify it
 * by `status`, never by message.
 */
export class RedfishError extends HttpError {
  override name = 'RedfishError';
  readonly bmc: string;
  readonly path: string;

  constructor(details: RedfishErrorDetails) {
    super(details, {
      where: `${details.method} ${details.path} on BMC ${details.bmc}`,
      bodyMessage: redfishMessage,
    });
    this.bmc = details.bmc;
    this.path = details.path;
  }
}

/**
 * The human message of a Redfish error body (DSP0266 §9.6 "Error responses"): `error.message`, then the
 * `Message` of each `@Message.ExtendedInfo` entry, which is where BMCs put the useful part
 * (`"The requested resource is already powered off."`, `"Insufficient privilege"`).
 */
export function redfishMessage(body: string | undefined): string | undefined {
  const parsed = jsonBody(body);
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
