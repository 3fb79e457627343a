import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { KubeUnavailableError } from '../kube/port.js';
import { InvalidPayloadError } from './alertmanager.js';
import { type AppDeps, type AppEnv, appContext } from './app-context.js';
import { bearerAuth } from './bearer-auth.js';
import { errorBody, HttpError } from './errors.js';
import { fenceRoutes } from './fence-routes.js';
import { healthRoutes } from './health-routes.js';
import { metricsRoute } from './metrics-route.js';
import { operatorRoutes } from './operator-routes.js';
import { cronTickRoute, runtimeRoutes } from './runtime-routes.js';

export type { AppDeps } from './app-context.js';

/** `POST …/fence` with no body is fine: every field of a manual fence is optional. */
const isEmptyBody = (header: (name: string) => string | undefined) =>
  header('content-length') === '0' || (!header('content-length') && !header('transfer-encoding'));

/**
 * The alertfence HTTP API, the same for every runtime: Lambda, OpenFaaS and the Node server only adapt their
 * events to `app.fetch`, and continue the fences it hands over their own way.
 *
 * @example
 * const app = createApp({ config, service, continuation, ready, log });
 * serve({ fetch: app.fetch, port: config.port });
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const context = appContext(deps);
  const { config, log, now } = context;
  const app = new Hono<AppEnv>();

  app.use(requestId({ limitLength: 128 }));
  app.use(async (c, next) => {
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

  healthRoutes(app, context);
  metricsRoute(app, context);
  if (deps.cronTick) cronTickRoute(app, context, deps.cronTick.minIntervalMs);

  app.use('/v1/*', bearerAuth(config.tokens));
  app.on(['POST', 'PUT', 'PATCH'], '/v1/*', async (c, next) => {
    const type = c.req.header('content-type') ?? '';
    if (
      !(isEmptyBody((name) => c.req.header(name)) && type === '') &&
      !/^application\/json\s*(;|$)/i.test(type)
    ) {
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
  fenceRoutes(app, context);
  operatorRoutes(app, context);
  runtimeRoutes(app, context);

  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
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
