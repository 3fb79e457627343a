/**
 * A small client of alertfence's HTTP API: one method per route the CLI uses, typed answers, and one error
 * type per way a call can fail ({@link ApiError} with method, URL, status and the API's message;
 * {@link UnreachableError} when there is no usable answer). It injects `fetch`, so the tests point it at a
 * stub server, and bounds every request by the command's deadline. It never retries: a POST may have been
 * acted on even when its answer was lost.
 */
import type {
  FenceAnswer,
  FenceRequest,
  FencesAnswer,
  JournalAnswer,
  NodeHistory,
  PauseAnswer,
  PauseRequest,
  ReadyAnswer,
} from './api-types.js';
import { ApiError, type ApiErrorBody, UnreachableError } from './errors.js';

export interface ClientOptions {
  /** alertfence's base URL, without a trailing slash (see `baseUrl` in `input.ts`). */
  baseUrl: string;
  /** The bearer token; undefined sends none (only `/readyz` answers then, with less detail). */
  token?: string | undefined;
  fetch: typeof globalThis.fetch;
  now: () => number;
  /** Epoch ms by which the whole command must be done: no request outlives it. */
  deadline: number;
  /** The longest one request may take, within the deadline. */
  requestTimeoutMs: number;
  userAgent: string;
}

/** An answer alertfence gave: its status and JSON body. */
export interface Answer<T> {
  status: number;
  body: T;
}

interface CallOptions {
  body?: unknown;
  /** Statuses besides 2xx whose body is an answer, not an error (e.g. `/readyz`'s 503). */
  answers?: (status: number, body: unknown) => boolean;
}

/** The route's path with each dynamic segment encoded. */
const nodePath = (node: string, tail: string) => `/v1/nodes/${encodeURIComponent(node)}/${tail}`;

/** A manual fence answers 404 (unknown Node) and 5xx (failed) with the node's result: an answer, not an error. */
const isNodeResult = (_status: number, body: unknown) =>
  typeof (body as { outcome?: unknown } | null)?.outcome === 'string';

export class AlertfenceClient {
  constructor(private readonly options: ClientOptions) {}

  /** The URL of a path, as messages show it. */
  url(path: string): string {
    return `${this.options.baseUrl}${path}`;
  }

  /** `GET /readyz`; 503 (not ready) is an answer too. */
  readyz(): Promise<Answer<ReadyAnswer | ApiErrorBody>> {
    return this.call('GET', '/readyz', { answers: (status) => status === 503 });
  }

  /** `GET /v1/fences`: the pause, the fences that are not over, the rejected journals, the last success. */
  fences(): Promise<Answer<FencesAnswer>> {
    return this.call('GET', '/v1/fences');
  }

  /** `POST /v1/nodes/{node}/fence`, without `wait`: the CLI follows the journal itself. */
  fence(node: string, request: FenceRequest): Promise<Answer<FenceAnswer>> {
    return this.call('POST', nodePath(node, 'fence'), { body: request, answers: isNodeResult });
  }

  /** `GET /v1/nodes/{node}/fence`: the journal of the node's current or last fence. */
  journal(node: string): Promise<Answer<JournalAnswer>> {
    return this.call('GET', nodePath(node, 'fence'));
  }

  /** `GET /v1/nodes/{node}/fences[?limit=N]`: the node's fences, the newest first. */
  history(node: string, limit?: number): Promise<Answer<NodeHistory>> {
    const query = limit === undefined ? '' : `?limit=${limit}`;
    return this.call('GET', `${nodePath(node, 'fences')}${query}`);
  }

  /** `POST /v1/pause`. */
  pause(request: PauseRequest): Promise<Answer<PauseAnswer>> {
    return this.call('POST', '/v1/pause', { body: request });
  }

  /** `DELETE /v1/pause`. */
  resume(): Promise<Answer<PauseAnswer>> {
    return this.call('DELETE', '/v1/pause');
  }

  private async call<T>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
    const url = this.url(path);
    const left = this.options.deadline - this.options.now();
    if (left <= 0) throw new UnreachableError(`${method} ${url}: no time left (--timeout)`);
    const timeoutMs = Math.min(this.options.requestTimeoutMs, left);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.options.userAgent,
    };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await this.options.fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new UnreachableError(`cannot reach alertfence: ${method} ${url}: ${why(error, timeoutMs)}`, {
        cause: error,
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new UnreachableError(
        `${method} ${url} answered ${response.status} with something that is not alertfence's JSON API (is --url / ALERTFENCE_URL right?)${excerpt(text)}`,
      );
    }
    if (response.ok || options.answers?.(response.status, body)) {
      return { status: response.status, body: body as T };
    }
    throw new ApiError(method, url, response.status, body);
  }
}

/** Why a request got no answer, in the words of the layer that failed (`connect ECONNREFUSED …`). */
function why(error: unknown, timeoutMs: number): string {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${seconds(timeoutMs)}`;
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause instanceof Error && cause.message === 'bad port') {
    return 'bad port: fetch never connects to this port (the Fetch standard blocks it); serve alertfence on another';
  }
  if (cause instanceof Error) {
    // undici wraps several attempts (IPv4 and IPv6) in an AggregateError without a message of its own.
    const inner = cause instanceof AggregateError ? cause.errors[0] : undefined;
    return (inner instanceof Error ? inner.message : '') || cause.message || String(cause);
  }
  return error instanceof Error ? error.message : String(error);
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

function excerpt(text: string): string {
  const head = text.trim().replace(/\s+/g, ' ').slice(0, 120);
  return head ? `: ${head}` : ' (empty)';
}
