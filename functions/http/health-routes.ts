/** Health: the process is alive (`/healthz`), and alertfence can fence (`/readyz`). */
import type { Hono } from 'hono';
import type { AppContext, AppEnv } from './app-context.js';
import { hasBearerToken } from './bearer-auth.js';
import { errorBody } from './errors.js';

export function healthRoutes(app: Hono<AppEnv>, context: AppContext): void {
  const { log, config } = context;
  const isOperator = hasBearerToken(config.tokens);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await context.ready();
      return c.json({ status: 'ready' });
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
