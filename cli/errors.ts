/**
 * The CLI's errors. Each carries the exit code it ends the command with; an error from alertfence's API keeps
 * the method, URL, status and the API's own `{error: {code, message, details}}` so the message says all three.
 */
import { EXIT, type ExitCode } from './exit-codes.js';

/** Bad input, found before any request is made (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode: ExitCode = EXIT.usage;
}

/** The API's error body, `{error: {code, message, details?}}`. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function isApiErrorBody(body: unknown): body is ApiErrorBody {
  const error = (body as { error?: unknown } | null)?.error as
    | { code?: unknown; message?: unknown }
    | undefined;
  return typeof error?.code === 'string' && typeof error.message === 'string';
}

/** The exit code of an HTTP status alertfence answered with an error. */
export function exitCodeOfStatus(status: number): ExitCode {
  if (status === 400 || status === 413 || status === 415) return EXIT.usage;
  if (status === 401 || status === 403) return EXIT.unreachable;
  if (status === 404) return EXIT.notFound;
  return EXIT.refused;
}

/** alertfence answered with an error status (4xx/5xx). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly exitCode: ExitCode;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    /** The parsed body: the API's error body, or whatever JSON it sent. */
    readonly body: unknown,
  ) {
    super(describeApiError(method, url, status, body));
    this.exitCode = exitCodeOfStatus(status);
  }
}

function describeApiError(method: string, url: string, status: number, body: unknown): string {
  const head = `${method} ${url} answered ${status}`;
  if (!isApiErrorBody(body)) return head;
  const { code, message, details } = body.error;
  const lines = [`${head} ${code}: ${message}`];
  if (Array.isArray(details)) for (const detail of details) lines.push(`  - ${String(detail)}`);
  else if (details !== undefined) lines.push(`  ${JSON.stringify(details)}`);
  if (status === 401) lines.push('  (check ALERTFENCE_TOKEN, ALERTFENCE_TOKEN_FILE or --token-file)');
  return lines.join('\n');
}

/** No answer from alertfence: refused, reset, timed out, or an answer that is not its API (exit 3). */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
  readonly exitCode: ExitCode = EXIT.unreachable;
}

/** The exit code an error ends the command with. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof UsageError || error instanceof ApiError || error instanceof UnreachableError) {
    return error.exitCode;
  }
  return EXIT.refused;
}
