import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineExceededError } from '../../../drivers/driver.js';
import { OpenStackError } from '../../../drivers/openstack/client/errors.js';
import { HttpClient, type HttpExchange, type TokenProvider } from '../../../drivers/openstack/client/http.js';
import { RoutedFetch, VirtualClock } from './helpers.js';

const URL_ = 'https://nova.test/v2.1/servers/s1';

function setup(options: { retries?: number; requestTimeoutMs?: number } = {}) {
  const routed = new RoutedFetch();
  const clock = new VirtualClock();
  const exchanges: HttpExchange[] = [];
  const http = new HttpClient({
    fetch: routed.fetch,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    retry: { retries: options.retries ?? 4 },
    ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    onExchange: (e) => exchanges.push(e),
  });
  const deadline = clock.now() + 60_000;
  return { routed, clock, http, exchanges, deadline };
}

class CountingTokens implements TokenProvider {
  issued = 0;
  invalidated: string[] = [];
  #current: string | undefined;
  async token(): Promise<string> {
    if (this.#current === undefined) {
      this.issued++;
      this.#current = `tok-${this.issued}`;
    }
    return this.#current;
  }
  invalidate(token: string): void {
    this.invalidated.push(token);
    if (this.#current === token) this.#current = undefined;
  }
}

describe('HttpClient', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('should return a 2xx answer with its request id', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on('GET', /servers\/s1$/, {
      status: 200,
      json: { ok: 1 },
      headers: { 'x-compute-request-id': 'req-1' },
    });

    // Act
    const response = await http.request({ method: 'GET', url: URL_ }, { deadline });

    // Assess
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({ ok: 1 });
    expect(response.requestId).toBe('req-1');
    expect(routed.calls[0]?.headers.accept).toBe('application/json');
  });

  it('should throw an OpenStackError carrying method, URL, status, body and request id', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on('GET', /servers\/s1$/, {
      status: 404,
      json: { itemNotFound: { code: 404, message: 'Instance s1 could not be found.' } },
      headers: { 'x-openstack-request-id': 'req-404' },
    });

    // Act
    const error = await http.request({ method: 'GET', url: URL_ }, { deadline }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(OpenStackError);
    const e = error as OpenStackError;
    expect(e.name).toBe('OpenStackError');
    expect([e.method, e.url, e.status, e.requestId]).toEqual(['GET', URL_, 404, 'req-404']);
    expect(e.body).toContain('itemNotFound');
    expect(e.message).toBe(`GET ${URL_} answered 404: Instance s1 could not be found. [req-404]`);
    expect(e.transient).toBe(false);
  });

  it.each([429, 500, 502, 503, 504])(
    'should retry a GET answered %i and return the later success',
    async (status) => {
      // Prepare
      const { routed, http, clock, deadline } = setup();
      routed.on('GET', /servers\/s1$/, { status: 200, json: {} });
      routed.sequence('GET', /servers\/s1$/, [{ status }, { status }]);

      // Act
      const response = await http.request({ method: 'GET', url: URL_ }, { deadline });

      // Assess
      expect(response.status).toBe(200);
      expect(routed.calls).toHaveLength(3);
      // Equal jitter with random 0.5: 3/4 of 250 ms, then 3/4 of 500 ms.
      expect(clock.slept).toEqual([188, 375]);
    },
  );

  it.each(['PUT', 'DELETE', 'HEAD'] as const)('should retry an idempotent %s after a 503', async (method) => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on(method, /servers\/s1$/, { status: 202 });
    routed.sequence(method, /servers\/s1$/, [{ status: 503 }]);

    // Act
    const response = await http.request({ method, url: URL_ }, { deadline });

    // Assess
    expect(response.status).toBe(202);
    expect(routed.calls).toHaveLength(2);
  });

  it('should retry a GET that got no response at all', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on('GET', /servers\/s1$/, { status: 200, json: {} });
    routed.sequence('GET', /servers\/s1$/, [{ status: 0 }]);

    // Act
    const response = await http.request({ method: 'GET', url: URL_ }, { deadline });

    // Assess
    expect(response.status).toBe(200);
    expect(routed.calls).toHaveLength(2);
  });

  it('should not repeat a POST after a 503', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on('POST', /action$/, { status: 503 });

    // Act
    const error = await http
      .request({ method: 'POST', url: `${URL_}/action`, json: { 'os-stop': null } }, { deadline })
      .catch((e: unknown) => e);

    // Assess
    expect((error as OpenStackError).status).toBe(503);
    expect((error as OpenStackError).transient).toBe(true);
    expect(routed.calls).toHaveLength(1);
    expect(routed.calls[0]?.body).toEqual({ 'os-stop': null });
    expect(routed.calls[0]?.headers['content-type']).toBe('application/json');
  });

  it('should repeat a POST the caller marked idempotent', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on('POST', /tokens$/, { status: 201, json: {} });
    routed.sequence('POST', /tokens$/, [{ status: 500 }]);

    // Act
    const response = await http.request(
      { method: 'POST', url: 'https://ks.test/v3/auth/tokens', json: {}, idempotent: true },
      { deadline },
    );

    // Assess
    expect(response.status).toBe(201);
    expect(routed.calls).toHaveLength(2);
  });

  it.each([400, 403, 404, 409, 501])('should not retry a %i', async (status) => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on('GET', /servers\/s1$/, { status });

    // Act
    const error = await http.request({ method: 'GET', url: URL_ }, { deadline }).catch((e: unknown) => e);

    // Assess
    expect((error as OpenStackError).status).toBe(status);
    expect(routed.calls).toHaveLength(1);
  });

  it('should give up after the configured retries', async () => {
    // Prepare
    const { routed, http, deadline } = setup({ retries: 2 });
    routed.on('GET', /servers\/s1$/, { status: 503 });

    // Act
    const error = await http.request({ method: 'GET', url: URL_ }, { deadline }).catch((e: unknown) => e);

    // Assess
    expect((error as OpenStackError).status).toBe(503);
    expect(routed.calls).toHaveLength(3);
  });

  it('should wait as long as Retry-After asks', async () => {
    // Prepare
    const { routed, http, clock, deadline } = setup();
    routed.on('GET', /servers\/s1$/, { status: 200, json: {} });
    routed.sequence('GET', /servers\/s1$/, [{ status: 429, headers: { 'retry-after': '3' } }]);

    // Act
    await http.request({ method: 'GET', url: URL_ }, { deadline });

    // Assess
    expect(clock.slept).toEqual([3000]);
  });

  it('should return the failure rather than sleep past the deadline', async () => {
    // Prepare
    const { routed, http, clock } = setup();
    routed.on('GET', /servers\/s1$/, { status: 429, headers: { 'retry-after': '30' } });

    // Act
    const error = await http
      .request({ method: 'GET', url: URL_ }, { deadline: clock.now() + 10_000 })
      .catch((e: unknown) => e);

    // Assess
    expect((error as OpenStackError).status).toBe(429);
    expect(clock.slept).toEqual([]);
    expect(routed.calls).toHaveLength(1);
  });

  it('should not send anything once the deadline has passed', async () => {
    // Prepare
    const { routed, http, clock } = setup();

    // Act
    const error = await http
      .request({ method: 'GET', url: URL_ }, { deadline: clock.now() - 1 })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(routed.calls).toHaveLength(0);
  });

  it('should re-authenticate once on a 401 and send the request again with the new token', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    const tokens = new CountingTokens();
    routed.on('POST', /action$/, (call) =>
      call.headers['x-auth-token'] === 'tok-1' ? { status: 401 } : { status: 202 },
    );

    // Act
    const response = await http.request(
      { method: 'POST', url: `${URL_}/action`, json: { 'os-stop': null }, auth: tokens },
      { deadline },
    );

    // Assess
    expect(response.status).toBe(202);
    expect(tokens.invalidated).toEqual(['tok-1']);
    expect(routed.calls.map((c) => c.headers['x-auth-token'])).toEqual(['tok-1', 'tok-2']);
  });

  it('should throw the second 401 without a third attempt', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    const tokens = new CountingTokens();
    routed.on('GET', /servers\/s1$/, { status: 401 });

    // Act
    const error = await http
      .request({ method: 'GET', url: URL_, auth: tokens }, { deadline })
      .catch((e: unknown) => e);

    // Assess
    expect((error as OpenStackError).status).toBe(401);
    expect(tokens.issued).toBe(2);
    expect(routed.calls).toHaveLength(2);
  });

  it('should end a silent attempt at the deadline with DeadlineExceededError', async () => {
    // Prepare
    const { routed, http, clock } = setup();
    routed.on('GET', /servers\/s1$/, () => 'hang');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });

    // Act
    const pending = http
      .request({ method: 'GET', url: URL_ }, { deadline: clock.now() + 50 })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    const error = await pending;

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
  });

  it('should retry a GET whose attempt timed out while time remains', async () => {
    // Prepare
    const { routed, http, deadline, exchanges } = setup({ requestTimeoutMs: 20 });
    routed.on('GET', /servers\/s1$/, { status: 200, json: {} });
    routed.sequence('GET', /servers\/s1$/, ['hang']);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });

    // Act
    const pending = http.request({ method: 'GET', url: URL_ }, { deadline });
    await vi.advanceTimersByTimeAsync(20);
    const response = await pending;

    // Assess
    expect(response.status).toBe(200);
    expect(exchanges.map((e) => e.status)).toEqual([undefined, 200]);
  });

  it('should pass the caller abort through untouched', async () => {
    // Prepare
    const { routed, http, deadline } = setup();
    routed.on('GET', /servers\/s1$/, () => 'hang');
    const controller = new AbortController();
    const reason = new Error('invocation ending');

    // Act
    const pending = http.request({ method: 'GET', url: URL_ }, { deadline, signal: controller.signal });
    controller.abort(reason);

    // Assess
    await expect(pending).rejects.toBe(reason);
  });
});
