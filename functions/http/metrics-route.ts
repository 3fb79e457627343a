/**
 * `GET /metrics`: the Prometheus exposition the runtime renders. It needs a bearer token like `/v1`, since it
 * names nodes, their fences and the pause, and a Function URL or an ingress may be public; Prometheus sends
 * one with `authorization: { credentials_file: … }` in its scrape config. ALERTFENCE_METRICS_PUBLIC=true
 * opens it, for a private network where the scraper cannot hold a secret.
 */
import type { Hono } from 'hono';
import type { AppContext, AppEnv } from './app-context.js';
import { bearerAuth } from './bearer-auth.js';

export function metricsRoute(app: Hono<AppEnv>, context: AppContext): void {
  const { metrics } = context;
  if (!metrics) return;
  if (!context.metricsPublic) app.use('/metrics', bearerAuth(context.config.tokens));
  app.get('/metrics', async (c) => {
    const { contentType, body } = await metrics();
    return c.body(body, 200, { 'content-type': contentType, 'cache-control': 'no-store' });
  });
}
