/**
 * A `fetch` for unit tests of outbound requests: it answers from a script, one entry per request (the last
 * entry repeats), and records what was sent. No network.
 */

/** How the fake receiver answers one request. */
export type ScriptedAnswer =
  | number
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Never answers: the request ends only when the caller aborts it. */
  | 'hang'
  /** The connection is refused. */
  | 'refused';

export interface SentRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  redirect: RequestInit['redirect'];
}

export interface ScriptedFetch {
  fetch: typeof fetch;
  sent: SentRequest[];
}

/** A connection refused, shaped as undici shapes it (`TypeError: fetch failed`, cause `ECONNREFUSED`). */
function refused(): TypeError {
  return new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
  });
}

export function scriptedFetch(script: readonly ScriptedAnswer[]): ScriptedFetch {
  const sent: SentRequest[] = [];
  const fake = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const answer = script[Math.min(sent.length, script.length - 1)] ?? 200;
    sent.push({
      url: String(input),
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: String(init.body ?? ''),
      redirect: init.redirect,
    });
    if (answer === 'refused') throw refused();
    if (answer === 'hang') {
      return new Promise<Response>((_, reject) => {
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    }
    const { status, headers, body } = typeof answer === 'number' ? { status: answer } : answer;
    // 204 and 205 carry no body (the Fetch standard's null body statuses).
    const text = status === 204 || status === 205 ? null : (body ?? (status < 300 ? 'ok' : 'error'));
    return new Response(text, { status, headers: headers ?? {} });
  };
  return { fetch: fake as typeof fetch, sent };
}
