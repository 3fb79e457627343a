import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Accepts `Authorization: Bearer <token>` for any of several tokens (so they can be rotated). Tokens are
 * compared as SHA-256 digests with `timingSafeEqual`: equal lengths, and no early exit that would leak how
 * much of a guess was right. Every token is checked, also after a match, to keep the timing flat.
 */
export function bearerAuth(tokens: readonly string[]): MiddlewareHandler {
  if (tokens.length === 0 || tokens.some((token) => token.length === 0)) {
    throw new Error('bearerAuth needs at least one non-empty token');
  }
  const accepted = tokens.map(digest);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
    if (!match?.[1]) {
      c.header('WWW-Authenticate', 'Bearer realm="alertfence"');
      throw new HttpError(401, 'unauthorized', 'missing bearer token');
    }
    const offered = digest(match[1]);
    let ok = false;
    for (const token of accepted) ok = timingSafeEqual(token, offered) || ok;
    if (!ok) {
      c.header('WWW-Authenticate', 'Bearer realm="alertfence", error="invalid_token"');
      throw new HttpError(401, 'unauthorized', 'invalid bearer token');
    }
    await next();
  };
}
