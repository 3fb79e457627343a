/**
 * The Function URL answers the Lambda bundle owes whatever runs it: the contract fake of the Runtime API
 * (`lambda-runtime-api.test.ts`) and the real emulator (`test/emulators/lambda-rie.test.ts`) assess them the
 * same way, from the invocation's payload.
 */
import { expect } from 'vitest';
import { alertPayload } from '../../../support/world.js';
import { WRONG_TOKEN } from './env.js';
import { type FunctionUrlEvent, functionUrlEvent, readFunctionUrlResult } from './lambda-events.js';

/** The body of a `POST /v1/alerts` answer, as the runtime tests read it: one result per node. */
export interface AlertsAnswer {
  dryRun: boolean;
  results: Array<{ node: string; outcome: string; reason: string; fence?: { id: string } }>;
}

/** The requests that must be refused with 401: `[case, token]`. */
export const UNAUTHORIZED_CASES: Array<[string, string | undefined]> = [
  ['no token', undefined],
  ['a wrong token', WRONG_TOKEN],
];

/** `POST /v1/alerts` for worker-1, with `token` as the bearer token when given. */
export function alertEvent(token?: string): FunctionUrlEvent {
  return functionUrlEvent('POST', '/v1/alerts', {
    body: alertPayload([{ node: 'worker-1' }]),
    ...(token ? { token } : {}),
  });
}

/** `GET /healthz` answered 200 with `{ status: 'ok' }` as JSON. */
export function expectHealthyAnswer(payload: unknown): void {
  const answer = readFunctionUrlResult(payload);
  expect(answer.statusCode).toBe(200);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.json).toEqual({ status: 'ok' });
}

/** 401 with the bearer challenge and the `unauthorized` error body. */
export function expectUnauthorizedAnswer(payload: unknown): void {
  const answer = readFunctionUrlResult(payload);
  expect(answer.statusCode).toBe(401);
  expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm="alertfence"/);
  expect(answer.json).toMatchObject({ error: { code: 'unauthorized' } });
}

/** 400 with the `invalid_input` error body. */
export function expectInvalidInputAnswer(payload: unknown): void {
  const answer = readFunctionUrlResult(payload);
  expect(answer.statusCode).toBe(400);
  expect(answer.json).toMatchObject({ error: { code: 'invalid_input' } });
}
