/**
 * Bearer tokens, with hono's own middleware: several tokens accepted (rotation), compared in constant time.
 * The answers keep alertfence's error body and its documented statuses: 401 for a missing, malformed or
 * unknown token.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bearerAuth as honoBearerAuth } from 'hono/bearer-auth';
import { timingSafeEqual } from 'hono/utils/buffer';
import { errorBody } from './errors.js';

const REALM = 'alertfence';

const unauthorized = (message: string, challenge: string) => (c: Context) =>
  c.json(errorBody('unauthorized', message), 401, { 'WWW-Authenticate': challenge });

/** Middleware answering 401 unless the request carries one of the accepted bearer tokens. */
export function bearerAuth(tokens: readonly string[]): MiddlewareHandler {
  if (tokens.length === 0 || tokens.some((token) => token.length === 0)) {
    throw new Error('bearerAuth needs at least one non-empty token');
  }
  return honoBearerAuth({
    token: [...tokens],
    realm: REALM,
    noAuthenticationHeader: { message: unauthorized('missing bearer token', `Bearer realm="${REALM}"`) },
    invalidAuthenticationHeader: {
      message: unauthorized('missing bearer token', `Bearer realm="${REALM}", error="invalid_request"`),
    },
    invalidToken: {
      message: unauthorized('invalid bearer token', `Bearer realm="${REALM}", error="invalid_token"`),
    },
  });
}

/** Whether an `Authorization` header carries one of the tokens, without answering (for `/readyz`'s details). */
export function hasBearerToken(tokens: readonly string[]): (header: string | undefined) => Promise<boolean> {
  return async (header) => {
    const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
    if (!match?.[1]) return false;
    let accepted = false;
    for (const token of tokens) accepted = (await timingSafeEqual(token, match[1])) || accepted;
    return accepted;
  };
}
