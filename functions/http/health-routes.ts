/** Health: the process is alive (`/healthz`), and alertfence can fence (`/readyz`). */
import type { Hono } from 'hono';
import type { AppContext, AppEnv } from './app-context.js';
import { hasBearerToken } from './bearer-auth.js';
import { errorBody } from './errors.js';

/** How long `/readyz` waits for the pause Lease; the API server answered the readiness check just before. */
const PAUSE_READ_TIMEOUT_MS = 2_000;

export function healthRoutes(app: Hono<AppEnv>, context: AppContext): void {
  const { log, config, service } = context;
  const isOperator = hasBearerToken(config.tokens);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await context.ready();
      // Paused is ready (it is what the operator asked for), and says so: details only to a caller with a token.
      const pause = await service
        .paused({ deadline: context.now() + PAUSE_READ_TIMEOUT_MS })
        .catch(() => undefined);
      if (!pause) return c.json({ status: 'ready', paused: false });
      const shown = (await isOperator(c.req.header('authorization'))) ? pause : true;
      return c.json({ status: 'ready', paused: shown });
    } catch (error) {
      // The Function URL is public: hosts, instance ids and missing IAM actions are for the log and for a
      // caller with a token, not for anyone who asks.
      const message = error instanceof Error ? error.message : String(error);
      log.warn('not ready', { requestId: c.get('requestId'), reason: message });
      return (await isOperator(c.req.header('authorization')))
        ? c.json(errorBody('not_ready', message), 503)
        : c.json({ status: 'not_ready' }, 503);
    }
  });
}
