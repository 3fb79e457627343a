/** The fence routes: the Alertmanager webhook, a manual fence, a node's journal. */
import type { Hono } from 'hono';
import * as z from 'zod';
import { alertTargets, parsePayload } from './alertmanager.js';
import type { AppContext, AppEnv } from './app-context.js';
import { HttpError, invalidInput } from './errors.js';
import { manualFenceStatus, nodeParam, readJson, resultsStatus } from './requests.js';

const manualFenceSchema = z
  .object({
    dryRun: z.boolean().optional(),
    force: z.boolean().optional(),
    reason: z.string().max(1000).optional(),
    wait: z.boolean().optional(),
  })
  // Strict: a typo such as "dryrun" must not silently arm a fence.
  .strict();

export function fenceRoutes(app: Hono<AppEnv>, context: AppContext): void {
  const { config, service, log, continuation } = context;

  app.post('/v1/alerts', async (c) => {
    const payload = parsePayload(await readJson(c, true));
    const { targets, verdicts, truncatedAlerts } = alertTargets(payload, config);
    if (truncatedAlerts > 0) {
      log.warn('Alertmanager truncated the payload; the rest comes with the next notification', {
        requestId: c.get('requestId'),
        truncatedAlerts,
      });
    }
    const { answer, handoffs } = await service.request(targets, {
      ...context.invocation(c),
      dryRun: config.dryRun,
    });
    await continuation.continue(handoffs);
    return c.json({ dryRun: config.dryRun, results: [...answer, ...verdicts] }, resultsStatus(answer, 202));
  });

  app.post('/v1/nodes/:node/fence', async (c) => {
    const node = nodeParam(c.req.param('node'));
    const body = manualFenceSchema.safeParse(await readJson(c, false));
    if (!body.success) {
      throw invalidInput(
        'invalid fence request',
        body.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
      );
    }
    const request = body.data;
    // Disarmed means disarmed: a request can ask for a dry-run, never for a real fence.
    const dryRun = config.dryRun || request.dryRun === true;
    const trigger = {
      kind: 'manual' as const,
      reason: request.reason ?? 'manual request',
      force: request.force === true,
    };
    const { answer, handoffs } = await service.request([{ node, trigger }], {
      ...context.invocation(c),
      dryRun,
      wait: request.wait === true,
    });
    await continuation.continue(handoffs);
    const [result] = answer;
    if (!result) throw new Error('fence service returned no result');
    return c.json({ dryRun, ...result }, manualFenceStatus(result, request.wait === true));
  });

  app.get('/v1/nodes/:node/fence', async (c) => {
    const node = nodeParam(c.req.param('node'));
    const view = await service.view(node);
    if (!view) throw new HttpError(404, 'not_found', `no fence recorded for node ${node}`);
    if (view.kind === 'rejected') {
      const { reason, id, status } = view;
      return c.json({ rejected: reason, ...(id ? { id } : {}), ...(status ? { status } : {}) });
    }
    return c.json(view.journal);
  });
}
