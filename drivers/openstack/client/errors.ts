/**
 * The one error type of the OpenStack client: an `HttpError` that names the URL and the request id, to grep
 * the service's logs.
 */

import { HttpError, type HttpErrorDetails, jsonBody } from '../../http-error.js';

/** What an `OpenStackError` says about the call that failed. */
export interface OpenStackErrorDetails extends HttpErrorDetails {
  url: string;
  /** `x-openstack-request-id` or `x-compute-request-id`, to grep the service's logs. */
  requestId?: string;
}

/**
 * A failed call to an OpenStack service: an HTTP error status, no response at all (`status` undefined), or
 * a 2xx answer whose body does not match the API reference (`reason` set). Classify it by `status`, never by
 * message.
 */
export class OpenStackError extends HttpError {
  override name = 'OpenStackError';
  readonly url: string;
  readonly requestId: string | undefined;

  constructor(details: OpenStackErrorDetails) {
    super(details, {
      where: `${details.method} ${details.url}`,
      bodyMessage: faultMessage,
      suffix: details.requestId ? ` [${details.requestId}]` : '',
    });
    this.url = details.url;
    this.requestId = details.requestId;
  }
}

/**
 * The human message inside an OpenStack error body. Nova and Cinder wrap it in an object named after the
 * fault (`{"itemNotFound": {"message": …, "code": 404}}`), Keystone in `{"error": {"message": …}}`.
 */
export function faultMessage(body: string | undefined): string | undefined {
  const parsed = jsonBody(body);
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  for (const value of Object.values(parsed)) {
    if (typeof value === 'object' && value !== null && 'message' in value) {
      const message = (value as { message: unknown }).message;
      if (typeof message === 'string') return message;
    }
  }
  return undefined;
}
