/** The port's errors from what a call to the API server came to: its HTTP status, or no answer at all. */
import { KubeCredentialError } from './authenticators.js';
import {
  KubeConflictError,
  KubeDeadlineError,
  KubeError,
  KubeForbiddenError,
  KubeUnavailableError,
} from './port.js';
import { KubeStatusError, KubeTimeoutError } from './transport.js';

/**
 * Maps a failure to the port's errors by HTTP status; anything without a status is unreachable.
 * 422 (Invalid) is not a conflict: the API server refused the object itself, and a retry would be refused
 * again.
 */
export function classify(error: unknown, what: string): KubeError {
  if (error instanceof KubeError) return error;
  if (error instanceof KubeStatusError) {
    const { status } = error;
    const message = `${what}: ${error.message}`;
    if (status === 409) return new KubeConflictError(message, { status, cause: error });
    if (status === 401 || status === 403) return new KubeForbiddenError(message, { status, cause: error });
    if (status === 429 || status >= 500) return new KubeUnavailableError(message, { status, cause: error });
    return new KubeError(message, { status, cause: error });
  }
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof KubeTimeoutError) {
    return new KubeDeadlineError(`${what}: no answer in time (${reason})`, { cause: error });
  }
  // A credential that cannot be had is as temporary as the API server being away (a plugin's own network
  // call, a token file being rotated), and just as much a reason to do nothing destructive.
  if (error instanceof KubeCredentialError) {
    return new KubeUnavailableError(`${what}: no credentials (${reason})`, { cause: error });
  }
  return new KubeUnavailableError(`${what}: API server unreachable (${reason})`, { cause: error });
}

export const isNotFound = (error: unknown) => error instanceof KubeStatusError && error.status === 404;
