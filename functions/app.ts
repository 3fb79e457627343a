import { randomUUID } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import * as z from 'zod';
import { alertTargets, InvalidPayloadError, parsePayload } from './alertmanager/webhook.js';
import type { Config } from './config.js';
import type { FenceService, NodeResult } from './fence/fence-service.js';
import { parseHandoff } from './fence/handoff.js';
import { bearerAuth, bearerChecker } from './http/bearer-auth.js';
import { errorBody, HttpError, invalidInput } from './http/errors.js';
import { isValidNodeName } from './kube/node-facts.js';
import { KubeUnavailableError } from './kube/port.js';
import type { Logger } from './log.js';

export interface AppDeps {
  config: Pick<Config, 'tokens' | 'dryRun' | 'maxBodyBytes' | 'nodeLabels' | 'alertNames' | 'runBudgetMs'>;
  service: FenceService;
  /** Throws when alertfence cannot work: the API server is unreachable or the configuration is unusable. */
  ready: () => Promise<void>;
  log: Logger;
  now?: () => number;
  /** Epoch ms by which this invocation must answer; Lambda passes its remaining time. */
  deadlineOf?: (c: Context) => number;
  /** True once the process is shutting down: fences run by a request save their step and stop. */
  stopping?: () => boolean;
  /**
   * Serve the scheduled tick on `POST /` without a token, for a scheduler that cannot send one (OpenFaaS'
   * cron-connector posts an empty body to the function's root). It answers counts only, and runs at most once
   * per `minIntervalMs`.
   */
  cronTick?: { minIntervalMs: number };
}

type Env = { Variables: { requestId: string } };

const manualFenceSchema = z
  .object({
    dryRun: z.boolean().optional(),
    force: z.boolean().optional(),
    reason: z.string().max(1000).optional(),
    wait: z.boolean().optional(),
  })
  // Strict: a typo such as "dryrun" must not silently arm a fence.
  .strict();

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Status of a response that carries per-node results: 5xx only when a retry is wanted. */
function resultsStatus(results: NodeResult[], accepted: ContentfulStatusCode): ContentfulStatusCode {
  if (results.some((result) => result.outcome === 'failed' && result.retryable)) return 503;
  return accepted;
}

/** A manual fence's status: handed on, unknown node, a failure a retry may fix or not, else done or refused. */
function manualFenceStatus(result: NodeResult, wait: boolean): ContentfulStatusCode {
  if (result.outcome === 'accepted' && !wait) return 202;
  if (result.outcome === 'not-found') return 404;
  if (result.outcome === 'failed') return result.retryable ? 503 : 500;
  return 200;
}

/**
 * The alertfence HTTP API, the same for every runtime: Lambda, OpenFaaS and the Node server only adapt
 * their events to `app.fetch`.
 *
 * @example
 * const app = createApp({ config, service, ready, log });
 * serve({ fetch: app.fetch, port: config.port });
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const { config, service, log } = deps;
  const now = deps.now ?? Date.now;
  const deadlineOf = deps.deadlineOf ?? (() => now() + config.runBudgetMs);
  const app = new Hono<Env>();

  app.use(async (c, next) => {
    const offered = c.req.header('x-request-id');
    c.set('requestId', offered && REQUEST_ID.test(offered) ? offered : randomUUID());
    c.header('x-request-id', c.get('requestId'));
    const started = now();
    await next();
    log.info('request', {
      requestId: c.get('requestId'),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: now() - started,
    });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  const isOperator = bearerChecker(config.tokens);
  app.get('/readyz', async (c) => {
    try {
      await deps.ready();
      return c.json({ status: 'ready' });
    } catch (error) {
      // The Function URL is public: hosts, instance ids and missing IAM actions are for the log and for a
      // caller with a token, not for anyone who asks.
      const message = error instanceof Error ? error.message : String(error);
      log.warn('not ready', { requestId: c.get('requestId'), reason: message });
      return isOperator(c.req.header('authorization')) === 'ok'
        ? c.json(errorBody('not_ready', message), 503)
        : c.json({ status: 'not_ready' }, 503);
    }
  });
  if (deps.cronTick) {
    const { minIntervalMs } = deps.cronTick;
    let lastTick = Number.NEGATIVE_INFINITY;
    app.post('/', async (c) => {
      if (now() - lastTick < minIntervalMs) return c.json({ status: 'skipped' }, 202);
      lastTick = now();
      const results = await service.tick({ requestId: c.get('requestId'), deadline: deadlineOf(c) });
      return c.json({ status: 'ok', fences: results.length }, 202);
    });
  }

  app.use('/v1/*', bearerAuth(config.tokens));
  app.on(['POST', 'PUT', 'PATCH'], '/v1/*', async (c, next) => {
    const type = c.req.header('content-type') ?? '';
    const empty =
      c.req.header('content-length') === '0' ||
      (!c.req.header('content-length') && !c.req.header('transfer-encoding'));
    // `curl -X POST …/fence` with no body is fine: every field of a manual fence is optional.
    if (!(empty && type === '') && !/^application\/json\s*(;|$)/i.test(type)) {
      throw new HttpError(415, 'unsupported_media_type', 'send Content-Type: application/json');
    }
    await next();
  });
  app.on(
    ['POST', 'PUT', 'PATCH'],
    '/v1/*',
    bodyLimit({
      maxSize: config.maxBodyBytes,
      onError: () => {
        throw new HttpError(413, 'payload_too_large', `body over ${config.maxBodyBytes} bytes`);
      },
    }),
  );

  app.post('/v1/alerts', async (c) => {
    const payload = parsePayload(await readJson(c, true));
    const { targets, verdicts, truncatedAlerts } = alertTargets(payload, config);
    if (truncatedAlerts > 0) {
      log.warn('Alertmanager truncated the payload; the rest comes with the next notification', {
        requestId: c.get('requestId'),
        truncatedAlerts,
      });
    }
    const results = await service.request(targets, {
      requestId: c.get('requestId'),
      dryRun: config.dryRun,
      deadline: deadlineOf(c),
    });
    const all = [...results, ...verdicts];
    return c.json({ dryRun: config.dryRun, results: all }, resultsStatus(results, 202));
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
    const options = body.data;
    // Disarmed means disarmed: a request can ask for a dry-run, never for a real fence.
    const dryRun = config.dryRun || options.dryRun === true;
    const [result] = await service.request(
      [
        {
          node,
          trigger: {
            kind: 'manual',
            reason: options.reason ?? 'manual request',
            force: options.force === true,
          },
        },
      ],
      {
        requestId: c.get('requestId'),
        dryRun,
        deadline: deadlineOf(c),
        wait: options.wait === true,
        shouldStop: deps.stopping,
      },
    );
    if (!result) throw new Error('fence service returned no result');
    return c.json({ dryRun, ...result }, manualFenceStatus(result, options.wait === true));
  });

  app.get('/v1/nodes/:node/fence', async (c) => {
    const node = nodeParam(c.req.param('node'));
    const view = await service.view(node);
    if (!view) throw new HttpError(404, 'not_found', `no fence recorded for node ${node}`);
    if (view.kind === 'rejected') {
      return c.json({
        rejected: view.reason,
        ...(view.id ? { id: view.id } : {}),
        ...(view.status ? { status: view.status } : {}),
      });
    }
    return c.json(view.journal);
  });

  // The scheduled tick, by hand or from a scheduler that can send a token.
  app.post('/v1/tick', async (c) => {
    const results = await service.tick({
      requestId: c.get('requestId'),
      deadline: deadlineOf(c),
      shouldStop: deps.stopping,
    });
    return c.json({ dryRun: config.dryRun, results }, resultsStatus(results, 200));
  });

  // Continuations of long fences, for runtimes that continue over HTTP (OpenFaaS /async-function/).
  app.post('/v1/fences/continue', async (c) => {
    const parsed = parseHandoff(await readJson(c, true));
    if ('problems' in parsed) throw invalidInput('invalid continuation', parsed.problems);
    const answer = await service.continueFence(parsed.handoff, {
      requestId: c.get('requestId'),
      deadline: deadlineOf(c),
      shouldStop: deps.stopping,
    });
    if ('journal' in answer) {
      const { status, journal } = answer;
      return c.json({ status, fence: { id: journal.id, phase: journal.phase, status: journal.status } });
    }
    // Refused: nothing ran. 409, so a queue does not retry what only an operator or a re-arm can change.
    return c.json(
      errorBody(answer.status === 'disarmed' ? 'disarmed' : answer.status, answer.message, {
        reason: answer.reason,
      }),
      409,
    );
  });

  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.onError((error, c) => {
    if (error instanceof HttpError)
      return c.json(errorBody(error.code, error.message, error.details), error.status);
    if (error instanceof KubeUnavailableError) {
      // Typed and retryable: the API server is down or overloaded; a retry may succeed.
      log.warn('API server unavailable', { requestId: c.get('requestId'), reason: error.message });
      return c.json(errorBody('unavailable', error.message), 503);
    }
    if (error instanceof InvalidPayloadError)
      return c.json(errorBody('invalid_input', error.message, error.details), 400);
    log.error('unhandled error', { requestId: c.get('requestId'), reason: error.message, name: error.name });
    return c.json(
      errorBody('internal', 'internal error; see the logs', { requestId: c.get('requestId') }),
      500,
    );
  });

  return app;
}

function nodeParam(value: string): string {
  if (!isValidNodeName(value))
    throw invalidInput('not a valid node name (RFC 1123 subdomain, at most 253 characters)');
  return value;
}

/** Reads the JSON body; an empty body is `{}` where every field is optional. */
async function readJson(c: Context, required: boolean): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (required) throw invalidInput('empty body; expected JSON');
    return {};
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidInput('body is not valid JSON');
  }
}
