/**
 * Classification of AWS SDK failures by code (`error.name`, `$metadata.httpStatusCode`, Node's `code` for
 * socket errors), never by message, and their translation into the driver's error types.
 */
import { DeadlineExceededError, DriverAuthError, DriverError, InstanceNotFoundError } from '../driver.js';

/** How the driver treats a failed call. */
export type Ec2ErrorKind =
  /** Rate limited: back off and retry within the deadline. */
  | 'throttled'
  /** A server or network fault that a later attempt can survive. */
  | 'transient'
  /** Credentials or permissions: configuration to fix, never retried. */
  | 'auth'
  /** A `DryRun` call that would have succeeded. */
  | 'dry-run-ok'
  /** The instance does not exist (any more). */
  | 'instance-not-found'
  /** The instance id is not an instance id. */
  | 'instance-malformed'
  /** The instance is in a state that forbids the call (e.g. stopping a `pending` instance): re-read. */
  | 'incorrect-instance-state'
  /** The volume does not exist, or is not attached where the call says: nothing to detach. */
  | 'volume-not-attached'
  /** The request was aborted (deadline or caller). */
  | 'aborted'
  | 'other';

// Codes from the EC2 API reference ("Error codes for the Amazon EC2 API") and the SDK's own throttling list
// (@smithy/service-error-classification THROTTLING_ERROR_CODES).
const THROTTLING_CODES = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'EC2ThrottledException',
  'BandwidthLimitExceeded',
  'SlowDown',
  'PriorRequestNotComplete',
]);
const TRANSIENT_CODES = new Set([
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  // Clock skew: the SDK corrects its clock offset from the failed response, so the next attempt is signed
  // with the right time.
  'RequestExpired',
  'RequestTimeTooSkewed',
]);
const TRANSIENT_SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);
const AUTH_CODES = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'Blocked',
  'OptInRequired',
  'PendingVerification',
  'AccessDenied',
  'AccessDeniedException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'MissingAuthenticationToken',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidAccessKeyId',
  // Raised by the credential provider chain when it finds no credentials at all.
  'CredentialsProviderError',
]);
const VOLUME_NOT_ATTACHED_CODES = new Set([
  'InvalidVolume.NotFound',
  'InvalidAttachment.NotFound',
  'IncorrectState',
]);

interface ErrorFields {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function fields(error: unknown): ErrorFields {
  return typeof error === 'object' && error !== null ? (error as ErrorFields) : {};
}

/** The AWS error code of an SDK error (`error.name`), or `undefined` for anything else. */
export function awsErrorCode(error: unknown): string | undefined {
  const name = fields(error).name;
  return typeof name === 'string' ? name : undefined;
}

/** The HTTP status of the failed response, when there was one. */
export function awsHttpStatus(error: unknown): number | undefined {
  const status = fields(error).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Classifies a failure of an EC2 call. */
export function classifyEc2Error(error: unknown): Ec2ErrorKind {
  const code = awsErrorCode(error);
  const status = awsHttpStatus(error);
  const socketCode = fields(error).code;
  if (code === 'DryRunOperation') return 'dry-run-ok';
  if (code === 'AbortError') return 'aborted';
  if (code !== undefined && THROTTLING_CODES.has(code)) return 'throttled';
  if (code !== undefined && AUTH_CODES.has(code)) return 'auth';
  if (code === 'InvalidInstanceID.NotFound') return 'instance-not-found';
  if (code === 'InvalidInstanceID.Malformed') return 'instance-malformed';
  if (code === 'IncorrectInstanceState') return 'incorrect-instance-state';
  if (code !== undefined && VOLUME_NOT_ATTACHED_CODES.has(code)) return 'volume-not-attached';
  if (status === 429) return 'throttled';
  if (status === 401 || status === 403) return 'auth';
  if (status !== undefined && status >= 500) return 'transient';
  if (code !== undefined && TRANSIENT_CODES.has(code)) return 'transient';
  if (typeof socketCode === 'string' && TRANSIENT_SOCKET_CODES.has(socketCode)) return 'transient';
  return 'other';
}

/** True when a later attempt of the same call can succeed. */
export function isRetryableKind(kind: Ec2ErrorKind): boolean {
  return kind === 'throttled' || kind === 'transient';
}

/** An EC2 call failed with a code the driver does not handle itself; carries the AWS code and status. */
export class Ec2ApiError extends DriverError {
  override name = 'Ec2ApiError';
  /** The AWS error code (`IncorrectInstanceState`, `RequestLimitExceeded`, …), when AWS answered. */
  readonly code: string | undefined;
  readonly httpStatusCode: number | undefined;
  constructor(message: string, options: { retryable: boolean; cause: unknown }) {
    super(message, options);
    this.code = awsErrorCode(options.cause);
    this.httpStatusCode = awsHttpStatus(options.cause);
  }
}

/**
 * Turns any failure of an EC2 call into a driver error: `DriverAuthError` for credentials and permissions,
 * `InstanceNotFoundError` for an unknown or malformed instance id, `Ec2ApiError` otherwise (retryable for
 * throttling and server faults). Driver errors pass through unchanged.
 *
 * @param action the IAM action of the call (`ec2:StopInstances`), named in the message.
 */
export function toDriverError(
  error: unknown,
  action: string,
  instanceId?: string,
): DriverError | DeadlineExceededError {
  // Already classified, or the deadline (retryable, shared with every layer): unchanged.
  if (error instanceof DriverError || error instanceof DeadlineExceededError) return error;
  const kind = classifyEc2Error(error);
  const code = awsErrorCode(error) ?? 'unknown error';
  const subject = instanceId ? ` for ${instanceId}` : '';
  switch (kind) {
    case 'auth':
      return new DriverAuthError(
        `${action}${subject} was refused (${code}): check the credentials and IAM policy`,
        {
          cause: error,
        },
      );
    case 'instance-not-found':
    case 'instance-malformed':
      return new InstanceNotFoundError(`${action}: instance ${instanceId ?? ''} not found (${code})`.trim(), {
        cause: error,
      });
    case 'aborted':
      return new DeadlineExceededError(`${action}${subject} was aborted`, { cause: error });
    default:
      return new Ec2ApiError(`${action}${subject} failed (${code})`, {
        retryable: isRetryableKind(kind),
        cause: error,
      });
  }
}
