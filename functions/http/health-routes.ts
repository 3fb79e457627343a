/** Health: the process is alive (`/healthz`), and alertfence can fence (`/readyz`). */
import type { Hono } from 'hono';
import type { AppContext, AppEnv } from './app-context.js';
import { hasBearerToken } from './bearer-auth.js';
import { errorBody } from './errors.js';

/** How long `/readyz` waits for the pause Lease; the API server answered the readiness check just before. */
const PAUSE_READ_TIMEOUT_MS = 2_000;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * `GET /healthz` and `GET /readyz`. `/readyz` answers `{status: 'ready', paused}` where `paused` is `false`,
 * `true` (without a token) or the pause (with one), or `'unknown'` when the pause Lease could not be read (with
 * a token, `pauseError` says why); 503 when alertfence cannot fence.
 */
export function healthRoutes(app: Hono<AppEnv>, context: AppContext): void {
  const { log, config, service } = context;
  const isOperator = hasBearerToken(config.tokens);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await context.ready();
      // Paused is ready (it is what the operator asked for), and says so: details only to a caller with a token.
      const pause = await service.paused({ deadline: context.now() + PAUSE_READ_TIMEOUT_MS }).then(
        (value) => ({ value }),
        (error: unknown) => ({ error: messageOf(error) }),
      );
      if ('error' in pause) {
        // A pause not read is not "not paused". Still ready: the fence re-reads the pause right before each
        // power-off and stops when it cannot. Why it could not read is for the log and a caller with a token.
        log.warn('could not read the pause', { requestId: c.get('requestId'), reason: pause.error });
        return (await isOperator(c.req.header('authorization')))
          ? c.json({ status: 'ready', paused: 'unknown', pauseError: pause.error })
          : c.json({ status: 'ready', paused: 'unknown' });
      }
      if (!pause.value) return c.json({ status: 'ready', paused: false });
      const shown = (await isOperator(c.req.header('authorization'))) ? pause.value : true;
      return c.json({ status: 'ready', paused: shown });
    } catch (error) {
      // The Function URL is public: hosts, instance ids and missing IAM actions are for the log and for a
      // caller with a token, not for anyone who asks.
      const message = messageOf(error);
      log.warn('not ready', { requestId: c.get('requestId'), reason: message });
      return (await isOperator(c.req.header('authorization')))
        ? c.json(errorBody('not_ready', message), 503)
        : c.json({ status: 'not_ready' }, 503);
    }
  });
}
