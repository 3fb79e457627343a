/**
 * The operator's routes: pause and resume alertfence cluster-wide, list the fences that are not over, read a
 * node's fence history. The command line (`npx alertfence`) is built on these.
 */
import type { Hono } from 'hono';
import * as z from 'zod';
import { parseDuration } from '../config.js';
import { FENCE_LIST_FILTERS } from '../fence/vocabulary.js';
import type { AppContext, AppEnv } from './app-context.js';
import { HttpError, invalidInput } from './errors.js';
import { nodeParam, readJson } from './requests.js';

/** The longest pause an expiry may ask for; an open-ended pause is asked for without one. */
const MAX_PAUSE_MS = 30 * 24 * 3_600_000;

const pauseSchema = z
  .object({
    reason: z.string().trim().min(1, 'say why (it is shown to everyone the pause refuses)').max(500),
    /** How long, as a duration (`2h`, `30m`); or `until`, an RFC 3339 time. Neither: until lifted. */
    for: z.string().optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    /** Who pauses, for the record (a name, a ticket); else the request id. */
    by: z.string().trim().min(1).max(200).optional(),
  })
  .strict()
  .refine((body) => !(body.for && body.until), { message: 'give "for" or "until", not both' });

const fencesQuery = z.object({ status: z.enum(FENCE_LIST_FILTERS).optional() }).strict();

const historyQuery = z.object({ limit: z.coerce.number().int().min(1).max(50).optional() }).strict();

const issuesOf = (error: z.ZodError) =>
  error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);

/** Epoch ms a pause ends, from `for` or `until`; it must lie ahead, and within MAX_PAUSE_MS. */
function pauseEnd(body: z.infer<typeof pauseSchema>, now: number): number | undefined {
  let until: number | undefined;
  if (body.for !== undefined) {
    try {
      until = now + parseDuration(body.for);
    } catch (error) {
      throw invalidInput('invalid pause request', [`for: ${(error as Error).message}`]);
    }
  } else if (body.until !== undefined) {
    until = Date.parse(body.until);
  }
  if (until === undefined) return undefined;
  if (until <= now) throw invalidInput('invalid pause request', ['the pause would end before it starts']);
  if (until - now > MAX_PAUSE_MS) {
    throw invalidInput('invalid pause request', [
      'at most 30 days; for longer, pause without an end and lift it by hand',
    ]);
  }
  return until;
}

export function operatorRoutes(app: Hono<AppEnv>, context: AppContext): void {
  const { service, now } = context;
  const callOptions = (c: Parameters<AppContext['invocation']>[0]) => ({
    deadline: context.invocation(c).deadline,
  });

  app.get('/v1/pause', async (c) => {
    const pause = await service.paused(callOptions(c));
    return c.json(pause ? { paused: true, ...pause } : { paused: false });
  });

  app.post('/v1/pause', async (c) => {
    const body = pauseSchema.safeParse(await readJson(c, true));
    if (!body.success) throw invalidInput('invalid pause request', issuesOf(body.error));
    const until = pauseEnd(body.data, now());
    const pause = await service.pause(
      {
        reason: body.data.reason,
        by: body.data.by ?? `request ${c.get('requestId')}`,
        ...(until !== undefined ? { until } : {}),
      },
      callOptions(c),
    );
    return c.json({ paused: true, ...pause });
  });

  app.delete('/v1/pause', async (c) => {
    const lifted = await service.liftPause(`request ${c.get('requestId')}`, callOptions(c));
    return c.json({ paused: false, ...(lifted ? { lifted } : {}) });
  });

  app.get('/v1/fences', async (c) => {
    const query = fencesQuery.safeParse(c.req.query());
    if (!query.success) throw invalidInput('invalid query', issuesOf(query.error));
    const overview = await service.overview(callOptions(c));
    const wanted = query.data.status;
    const fences = overview.fences.filter((fence) => {
      if (!wanted) return true;
      if (wanted === 'waiting') return fence.waiting !== undefined;
      return fence.status === wanted && (wanted !== 'running' || fence.waiting === undefined);
    });
    return c.json({
      paused: overview.pause ? { ...overview.pause } : false,
      fences,
      rejected: overview.rejected,
      ...(overview.lastSucceeded ? { lastSucceeded: overview.lastSucceeded } : {}),
    });
  });

  app.get('/v1/nodes/:node/fences', async (c) => {
    const node = nodeParam(c.req.param('node'));
    const query = historyQuery.safeParse(c.req.query());
    if (!query.success) throw invalidInput('invalid query', issuesOf(query.error));
    const history = await service.history(node, callOptions(c));
    if (!history) throw new HttpError(404, 'not_found', `no Node ${node} and no fence of it`);
    const limit = query.data.limit ?? history.fences.length;
    return c.json({ ...history, fences: history.fences.slice(0, limit) });
  });
}
