/**
 * The routes the runtimes use: a fence's continuation (OpenFaaS' queue replays it here), the scheduled tick
 * (by hand, or from a scheduler that can send a token), and the cron-connector's tick without a token.
 */
import type { Hono } from 'hono';
import { parseHandoff } from '../fence/handoff.js';
import type { AppContext, AppEnv } from './app-context.js';
import { errorBody, invalidInput } from './errors.js';
import { readJson, resultsStatus } from './requests.js';

export function runtimeRoutes(app: Hono<AppEnv>, context: AppContext): void {
  const { config, service, continuation } = context;

  app.post('/v1/tick', async (c) => {
    const { answer, handoffs } = await service.tick(context.invocation(c));
    await continuation.continue(handoffs);
    return c.json({ dryRun: config.dryRun, results: answer }, resultsStatus(answer, 200));
  });

  app.post('/v1/fences/continue', async (c) => {
    const parsed = parseHandoff(await readJson(c, true));
    if ('problems' in parsed) throw invalidInput('invalid continuation', parsed.problems);
    const { answer, handoffs } = await service.continueFence(parsed.handoff, context.invocation(c));
    await continuation.continue(handoffs);
    if ('journal' in answer) {
      const { status, journal } = answer;
      return c.json({ status, fence: { id: journal.id, phase: journal.phase, status: journal.status } });
    }
    // Refused: nothing ran. 409, so a queue does not retry what only an operator or a re-arm can change.
    return c.json(errorBody(answer.status, answer.message, { reason: answer.reason }), 409);
  });
}

/**
 * The scheduled tick on `POST /` without a token, for a scheduler that cannot send one (OpenFaaS'
 * cron-connector posts an empty body to the function's root). It answers counts only, and runs at most once per
 * `minIntervalMs` whoever posts.
 */
export function cronTickRoute(app: Hono<AppEnv>, context: AppContext, minIntervalMs: number): void {
  let lastTick = Number.NEGATIVE_INFINITY;
  app.post('/', async (c) => {
    if (context.now() - lastTick < minIntervalMs) return c.json({ status: 'skipped' }, 202);
    lastTick = context.now();
    const { answer, handoffs } = await context.service.tick(context.invocation(c));
    await context.continuation.continue(handoffs);
    return c.json({ status: 'ok', fences: answer.length }, 202);
  });
}
