import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** An error the API answers with a status and the JSON error body `{error: {code, message, details?}}`. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly details: unknown;
  constructor(status: ContentfulStatusCode, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const invalidInput = (message: string, details?: unknown) =>
  new HttpError(400, 'invalid_input', message, details);

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}
