import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** What an `Authorization` header carries: no bearer token, a token not accepted, or an accepted one. */
export type BearerVerdict = 'missing' | 'invalid' | 'ok';

/**
 * Checks `Authorization: Bearer <token>` against several tokens (so they can be rotated). Tokens are compared
 * as SHA-256 digests with `timingSafeEqual`: equal lengths, and no early exit that would leak how much of a
 * guess was right. Every token is checked, also after a match, to keep the timing flat.
 */
export function bearerChecker(tokens: readonly string[]): (header: string | undefined) => BearerVerdict {
  if (tokens.length === 0 || tokens.some((token) => token.length === 0)) {
    throw new Error('bearerAuth needs at least one non-empty token');
  }
  const accepted = tokens.map(digest);
  return (header) => {
    const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header ?? '');
    if (!match?.[1]) return 'missing';
    const offered = digest(match[1]);
    let ok = false;
    for (const token of accepted) ok = timingSafeEqual(token, offered) || ok;
    return ok ? 'ok' : 'invalid';
  };
}

/** Middleware answering 401 unless the request carries one of the accepted bearer tokens. */
export function bearerAuth(tokens: readonly string[]): MiddlewareHandler {
  const check = bearerChecker(tokens);
  return async (c, next) => {
    const verdict = check(c.req.header('authorization'));
    if (verdict === 'missing') {
      c.header('WWW-Authenticate', 'Bearer realm="alertfence"');
      throw new HttpError(401, 'unauthorized', 'missing bearer token');
    }
    if (verdict === 'invalid') {
      c.header('WWW-Authenticate', 'Bearer realm="alertfence", error="invalid_token"');
      throw new HttpError(401, 'unauthorized', 'invalid bearer token');
    }
    await next();
  };
}
