import { describe, expect, it } from 'vitest';
import type { NodeResult } from '../../../functions/fence/api.js';
import { alertPayload, createWorld, SECOND_TOKEN, TOKEN, type World } from '../../support/world.js';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}
interface ResultsBody {
  dryRun: boolean;
  results: NodeResult[];
}

const json = { 'content-type': 'application/json' };

/** The status and the JSON error body `{error: {code, message}}` of the HTTP contract. */
async function expectError(response: Response, status: number, code: string): Promise<ErrorBody> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as ErrorBody;
  expect(body).toEqual({
    error: expect.objectContaining({ code, message: expect.stringMatching(/\S/) }),
  });
  return body;
}

/** Bad input never reaches Kubernetes nor a driver. */
function expectUntouched(world: World): void {
  expect(world.kube.calls).toEqual([]);
  expect(world.driver.calls).toEqual([]);
  expect(world.continuation.handoffs).toEqual([]);
}

/** Nothing destructive happened: reads are allowed, writes and power calls are not. */
function expectNothingDestructive(world: World): void {
  expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
  expect(world.driver.calls).toEqual([]);
  expect(world.continuation.handoffs).toEqual([]);
}

const validPayload = () => alertPayload([{ node: 'worker-1' }]);

describe('bad input: authentication', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['a wrong token', 'Bearer wrong-token-0123456789abcdef'],
    ['a prefix of a token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['a token with a suffix', `Bearer ${TOKEN}x`],
    ['both tokens as one', `Bearer ${TOKEN},${SECOND_TOKEN}`],
    ['the Basic scheme', `Basic ${Buffer.from(`alertmanager:${TOKEN}`).toString('base64')}`],
    ['the Basic scheme with the token', `Basic ${TOKEN}`],
    ['the bare token', TOKEN],
    ['an empty bearer', 'Bearer '],
  ])('should answer a webhook with %s with 401', async (_name, authorization) => {
    // Prepare
    const world = createWorld();
    const headers: Record<string, string> = { ...json };
    if (authorization !== undefined) headers.authorization = authorization;

    // Act
    const response = await world.app.request('/v1/alerts', {
      method: 'POST',
      headers,
      body: JSON.stringify(validPayload()),
    });

    // Assess
    await expectError(response, 401, 'unauthorized');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="alertfence"/);
    expectUntouched(world);
  });

  it.each([
    ['POST', '/v1/nodes/worker-1/fence'],
    ['GET', '/v1/nodes/worker-1/fence'],
    ['POST', '/v1/fences/continue'],
  ])('should answer %s %s without a token with 401', async (method, path) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request(path, {
      method,
      headers: json,
      ...(method === 'POST' ? { body: '{"wait":true}' } : {}),
    });

    // Assess
    await expectError(response, 401, 'unauthorized');
    expectUntouched(world);
  });

  it('should check the token before the content type and the body', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', 'not json', {
      authorization: 'Bearer wrong-token-0123456789abcdef',
      'content-type': 'text/plain',
    });

    // Assess
    await expectError(response, 401, 'unauthorized');
    expectUntouched(world);
  });
});

describe('bad input: webhook body', () => {
  const payload = validPayload();
  it.each([
    ['an empty body', ''],
    ['whitespace', '   \n'],
    ['not JSON', '{"version": "4",'],
    ['YAML', 'version: "4"\nalerts: []'],
    ['a JSON string', '"worker-1"'],
    ['a JSON number', '4'],
    ['JSON null', 'null'],
    ['a JSON array', JSON.stringify([payload])],
    ['an empty object', '{}'],
    ['a payload without version', JSON.stringify({ ...payload, version: undefined })],
    ['version "3"', JSON.stringify({ ...payload, version: '3' })],
    ['version 4 as a number', JSON.stringify({ ...payload, version: 4 })],
    ['alerts not an array', JSON.stringify({ ...payload, alerts: payload.alerts[0] })],
    ['alerts as a string', JSON.stringify({ ...payload, alerts: 'worker-1' })],
    ['alerts missing', JSON.stringify({ ...payload, alerts: undefined })],
    ['an unknown status', JSON.stringify({ ...payload, status: 'pending' })],
    ['a numeric receiver', JSON.stringify({ ...payload, receiver: 1 })],
    ['a negative truncatedAlerts', JSON.stringify({ ...payload, truncatedAlerts: -1 })],
    ['truncatedAlerts as a string', JSON.stringify({ ...payload, truncatedAlerts: '0' })],
    ['commonLabels with a number', JSON.stringify({ ...payload, commonLabels: { node: 1 } })],
    ['a Prometheus alert list', JSON.stringify(payload.alerts)],
  ])('should answer %s with 400', async (_name, body) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', body);

    // Assess
    await expectError(response, 400, 'invalid_input');
    expectUntouched(world);
  });

  it('should say what is wrong with a payload that is not an Alertmanager webhook', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', { ...payload, version: '3' });
    const body = await expectError(response, 400, 'invalid_input');

    // Assess
    expect(body.error.message).toMatch(/Alertmanager/);
    expect(body.error.details).toEqual([expect.stringContaining('version')]);
  });

  it('should answer a body over ALERTFENCE_MAX_BODY_BYTES with 413', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_MAX_BODY_BYTES: '256' } });
    const body = JSON.stringify(validPayload());
    expect(body.length).toBeGreaterThan(256);

    // Act
    const response = await world.post('/v1/alerts', body);

    // Assess
    const error = await expectError(response, 413, 'payload_too_large');
    expect(error.error.message).toContain('256');
    expectUntouched(world);
  });

  it('should answer a body over the limit with 413 when the client announces its length', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_MAX_BODY_BYTES: '256' } });
    const body = JSON.stringify(validPayload());

    // Act
    const response = await world.post('/v1/alerts', body, { 'content-length': String(body.length) });

    // Assess
    await expectError(response, 413, 'payload_too_large');
    expectUntouched(world);
  });

  it('should take a body at the limit', async () => {
    // Prepare
    const body = JSON.stringify(alertPayload([{ node: 'worker-2' }]));
    const world = createWorld({ env: { ALERTFENCE_MAX_BODY_BYTES: String(Buffer.byteLength(body)) } });

    // Act
    const response = await world.post('/v1/alerts', body);

    // Assess
    expect(response.status).toBe(202);
  });

  it('should answer a manual fence body over the limit with 413', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_MAX_BODY_BYTES: '64' } });

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { reason: 'x'.repeat(100) });

    // Assess
    await expectError(response, 413, 'payload_too_large');
    expectUntouched(world);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['form data', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['a JSON look-alike', 'application/jsonp'],
    ['YAML', 'application/yaml'],
  ])('should answer a webhook sent as %s with 415', async (_name, type) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', validPayload(), { 'content-type': type });

    // Assess
    await expectError(response, 415, 'unsupported_media_type');
    expectUntouched(world);
  });

  it('should answer a JSON body without a content type with 415', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request('/v1/alerts', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(validPayload()),
    });

    // Assess
    await expectError(response, 415, 'unsupported_media_type');
    expectUntouched(world);
  });

  it('should take application/json with a charset', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]), {
      'content-type': 'application/json; charset=utf-8',
    });

    // Assess
    expect(response.status).toBe(202);
  });
});

describe('bad input: node name in the URL', () => {
  it.each([
    ['uppercase', 'Worker-1'],
    ['a double dot inside', 'worker..1'],
    ['a percent-encoded path traversal', '..%2F..%2Fworker-1'],
    ['a percent-encoded slash', 'worker%2F1'],
    ['254 characters', 'a'.repeat(254)],
    ['an underscore', 'a_b'],
    ['a leading hyphen', '-worker-1'],
    ['a trailing dot', 'worker-1.'],
    ['a space', 'worker%201'],
    ['a NUL byte', 'worker-1%00'],
    ['a malformed percent escape', 'worker%zz'],
    ['unicode', 'w%C3%B6rker-1'],
  ])('should answer a fence of a node name with %s with 400', async (_name, node) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post(`/v1/nodes/${node}/fence`, { dryRun: true });

    // Assess
    const body = await expectError(response, 400, 'invalid_input');
    expect(body.error.message).toMatch(/node name/);
    expectUntouched(world);
  });

  it.each([
    ['uppercase', 'Worker-1'],
    ['254 characters', 'a'.repeat(254)],
    ['an underscore', 'a_b'],
    ['a percent-encoded slash', 'worker%2F1'],
  ])('should answer a journal read of a node name with %s with 400', async (_name, node) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request(`/v1/nodes/${node}/fence`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });

    // Assess
    await expectError(response, 400, 'invalid_input');
    expectUntouched(world);
  });

  it('should take a node name of exactly 253 characters as valid', async () => {
    // Prepare
    const world = createWorld();
    const node = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(node).toHaveLength(253);

    // Act
    const response = await world.post(`/v1/nodes/${node}/fence`, {});

    // Assess
    expect(response.status).toBe(404);
    expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
  });

  it('should not let a literal .. segment reach a node: the URL is normalised to an unknown route', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/../fence', {});

    // Assess
    await expectError(response, 404, 'not_found');
    expectUntouched(world);
  });
});

describe('bad input: manual fence body', () => {
  it.each([
    ['a misspelt key (dryrun)', { dryrun: true }],
    ['an unknown key', { dryRun: true, now: true }],
    ['dryRun as a string', { dryRun: 'false' }],
    ['force as a number', { force: 1 }],
    ['wait as null', { wait: null }],
    ['a reason that is not a string', { reason: ['a'] }],
    ['a reason over 1000 characters', { reason: 'r'.repeat(1001) }],
    ['an array', [{ force: true }]],
    ['null', null],
    ['a string', 'force'],
  ])('should answer %s with 400', async (_name, body) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', JSON.stringify(body));

    // Assess
    await expectError(response, 400, 'invalid_input');
    expectUntouched(world);
  });

  it('should name the unknown key so a typo is easy to see', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { dryrun: true });
    const body = await expectError(response, 400, 'invalid_input');

    // Assess
    expect(JSON.stringify(body.error.details)).toContain('dryrun');
  });

  it('should answer a body that is not JSON with 400', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', '{dryRun: true}');

    // Assess
    await expectError(response, 400, 'invalid_input');
    expectUntouched(world);
  });

  it('should answer a manual fence sent as text/plain with 415', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', '{}', { 'content-type': 'text/plain' });

    // Assess
    await expectError(response, 415, 'unsupported_media_type');
    expectUntouched(world);
  });
});

describe('bad input: alerts inside a good webhook', () => {
  it('should refuse an alert without a node label and one with an invalid node name, and accept the good one', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([
      {},
      { node: 'Worker_1' },
      { node: 'worker-1' },
      { node: '../../etc/passwd' },
    ]);

    // Act
    const response = await world.post('/v1/alerts', payload);
    const body = (await response.json()) as ResultsBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body.results).toHaveLength(4);
    expect(body.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ node: 'worker-1', outcome: 'accepted' }),
        expect.objectContaining({
          node: 'alerts[0]',
          outcome: 'refused',
          reason: 'InvalidAlert',
          message: expect.stringContaining('node'),
        }),
        expect.objectContaining({ node: 'alerts[1]', outcome: 'refused', reason: 'InvalidAlert' }),
        expect.objectContaining({ node: 'alerts[3]', outcome: 'refused', reason: 'InvalidAlert' }),
      ]),
    );
    expect(world.kube.calls.filter((call) => /Worker_1|passwd|alerts\[/.test(call.target))).toEqual([]);
    expect(
      world.kube.calls.filter(
        (call) => call.mutating && !call.target.includes('worker-1') && !call.target.endsWith('fence-slots'),
      ),
    ).toEqual([]);
    expect(world.continuation.handoffs.map((handoff) => handoff.node)).toEqual(['worker-1']);
  });

  it('should refuse a malformed alert on its own', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([{ node: 'worker-1' }]);
    const broken = {
      ...payload,
      alerts: [{ status: 'firing', labels: 'node=worker-2' }, 7, ...payload.alerts],
    };

    // Act
    const response = await world.post('/v1/alerts', broken);
    const body = (await response.json()) as ResultsBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body.results.map((result) => [result.node, result.outcome])).toEqual(
      expect.arrayContaining([
        ['alerts[0]', 'refused'],
        ['alerts[1]', 'refused'],
        ['worker-1', 'accepted'],
      ]),
    );
    expect(world.kube.calls.some((call) => call.target.includes('worker-2'))).toBe(false);
  });

  it('should refuse every alert of a payload that names no valid node, and change nothing', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post(
      '/v1/alerts',
      alertPayload([{ labels: { instance: 'worker-1' } }, { node: 'WORKER-1' }]),
    );
    const body = (await response.json()) as ResultsBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body.results.map((result) => result.outcome)).toEqual(['refused', 'refused']);
    expectUntouched(world);
  });

  it('should skip a resolved alert and never fence', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1', status: 'resolved' }]));
    const body = (await response.json()) as ResultsBody;
    await world.drain();

    // Assess
    expect(response.status).toBe(202);
    expect(body.results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'skipped', reason: 'AlertResolved' }),
    ]);
    expectUntouched(world);
  });

  it('should skip an alert that is not a fence alert', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post(
      '/v1/alerts',
      alertPayload([{ node: 'worker-1', alertname: 'Watchdog' }]),
    );
    const body = (await response.json()) as ResultsBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body.results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'skipped', reason: 'NotAFenceAlert' }),
    ]);
    expectUntouched(world);
  });
});

describe('bad input: unreachable API server', () => {
  it('should answer a webhook with 503 so Alertmanager retries, and do nothing destructive', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await world.post('/v1/alerts', validPayload());
    const body = (await response.json()) as ResultsBody;
    await world.drain();

    // Assess
    expect(response.status).toBe(503);
    expect(body.results).toEqual([
      expect.objectContaining({
        node: 'worker-1',
        outcome: 'failed',
        reason: 'ApiServerUnavailable',
        retryable: true,
      }),
    ]);
    expect(world.kube.calls.length).toBeGreaterThan(0);
    expectNothingDestructive(world);
  });

  it('should answer a manual fence with 503 and do nothing destructive', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { wait: true });
    const body = (await response.json()) as NodeResult;

    // Assess
    expect(response.status).toBe(503);
    expect(body).toMatchObject({ node: 'worker-1', outcome: 'failed', retryable: true });
    expectNothingDestructive(world);
  });

  it('should answer a journal read with 503 and the error body', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await world.app.request('/v1/nodes/worker-1/fence', {
      headers: { authorization: `Bearer ${TOKEN}` },
    });

    // Assess
    // BUG (reported): functions/app.ts onError maps KubeUnavailableError to 500 "internal error" and logs it
    // as unhandled; an unreachable API server is a typed, retryable condition and should be a 503.
    const body = (await response.json()) as ErrorBody;
    expect(body.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    expect(response.status).toBe(503);
    expectNothingDestructive(world);
  });

  it('should still answer 400 to a bad payload without asking the API server', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await world.post('/v1/alerts', { version: '4' });

    // Assess
    await expectError(response, 400, 'invalid_input');
    expectUntouched(world);
  });
});

describe('bad input: operator routes (pause, fence list, history)', () => {
  const authorized = { authorization: `Bearer ${TOKEN}` };
  const get = (world: World, path: string) => world.app.request(path, { headers: authorized });

  it.each([
    ['GET', '/v1/pause'],
    ['POST', '/v1/pause'],
    ['DELETE', '/v1/pause'],
    ['GET', '/v1/fences'],
    ['GET', '/v1/nodes/worker-1/fences'],
    ['GET', '/v1/nodes/no-such-node/fences'],
  ])('should answer %s %s without a token with 401, before looking at anything', async (method, path) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request(path, {
      method,
      headers: json,
      ...(method === 'POST' ? { body: '{"reason":"upgrade"}' } : {}),
    });

    // Assess
    await expectError(response, 401, 'unauthorized');
    expectUntouched(world);
  });

  it.each([
    ['no reason', { for: '1h' }, 'reason'],
    ['a reason of the wrong type', { reason: 42 }, 'reason'],
    ['an unknown field', { reason: 'upgrade', forever: true }, 'forever'],
    ['both for and until', { reason: 'upgrade', for: '1h', until: '2026-11-22T12:00:00Z' }, 'not both'],
    ['a duration that is none', { reason: 'upgrade', for: 'soon' }, 'for:'],
  ])('should answer a pause with %s with 400 and details naming the problem', async (_name, body, named) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/pause', body);

    // Assess
    const error = await expectError(response, 400, 'invalid_input');
    expect(error.error.details).toEqual(expect.arrayContaining([expect.stringContaining(named)]));
    expectNothingDestructive(world);
  });

  it.each([
    ['an empty body', '', /empty body/],
    ['a body that is not JSON', '{"reason":', /not valid JSON/],
  ])('should answer a pause with %s with 400', async (_name, body, message) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/pause', body);

    // Assess
    const error = await expectError(response, 400, 'invalid_input');
    expect(error.error.message).toMatch(message);
    expectNothingDestructive(world);
  });

  it('should answer a pause sent as text/plain with 415', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/pause', { reason: 'upgrade' }, { 'content-type': 'text/plain' });

    // Assess
    await expectError(response, 415, 'unsupported_media_type');
    expectNothingDestructive(world);
  });

  it('should answer a pause body over ALERTFENCE_MAX_BODY_BYTES with 413', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_MAX_BODY_BYTES: '64' } });

    // Act
    const response = await world.post('/v1/pause', { reason: 'x'.repeat(100) });

    // Assess
    await expectError(response, 413, 'payload_too_large');
    expectNothingDestructive(world);
  });

  it.each([
    ['an unknown status', '/v1/fences?status=everything', 'status'],
    ['an unknown parameter', '/v1/fences?sort=asc', 'sort'],
    ['a limit of zero', '/v1/nodes/worker-1/fences?limit=0', 'limit'],
    ['a limit that is no number', '/v1/nodes/worker-1/fences?limit=many', 'limit'],
    ['a limit over 50', '/v1/nodes/worker-1/fences?limit=51', 'limit'],
    ['an unknown parameter of the history', '/v1/nodes/worker-1/fences?since=yesterday', 'since'],
  ])('should answer a listing with %s with 400 and details naming it', async (_name, path, named) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await get(world, path);

    // Assess
    const error = await expectError(response, 400, 'invalid_input');
    expect(error.error.details).toEqual(expect.arrayContaining([expect.stringContaining(named)]));
    expectNothingDestructive(world);
  });

  it.each([
    ['uppercase', 'Worker-1'],
    ['an underscore', 'a_b'],
    ['a percent-encoded slash', 'worker%2F1'],
    ['254 characters', 'a'.repeat(254)],
  ])(
    'should answer the history of a node name with %s with 400, without asking the API server',
    async (_name, node) => {
      // Prepare
      const world = createWorld();

      // Act
      const response = await get(world, `/v1/nodes/${node}/fences`);

      // Assess
      const error = await expectError(response, 400, 'invalid_input');
      expect(error.error.message).toMatch(/node name/);
      expectUntouched(world);
    },
  );

  it('should answer the history of an unknown node, never fenced, with 404 naming it', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await get(world, '/v1/nodes/no-such-node/fences');

    // Assess
    const error = await expectError(response, 404, 'not_found');
    expect(error.error.message).toContain('no-such-node');
    expectNothingDestructive(world);
  });
});
