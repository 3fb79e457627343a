import { describe, expect, it } from 'vitest';
import type { NodeResult } from '../../../functions/fence/api.js';
import type { FenceJournal } from '../../../functions/fence/journal.js';
import type { PlannedAction } from '../../../functions/fence/plan.js';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import { KubeForbiddenError, KubeUnavailableError } from '../../../functions/kube/port.js';
import { alertPayload, createWorld, makeNode, SECOND_TOKEN, TOKEN, type World } from '../../support/world.js';

interface ResultsBody {
  dryRun: boolean;
  results: NodeResult[];
}
type ManualBody = NodeResult & { dryRun: boolean };
interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

const bearer = (token = TOKEN) => ({ authorization: `Bearer ${token}` });

const get = (world: World, path: string, headers: Record<string, string> = bearer()) =>
  Promise.resolve(world.app.request(path, { headers }));

const powerOffs = (world: World) => world.driver.calls.filter((call) => call.method === 'powerOff');
/** Writes of journal Leases (not of the cluster-wide fence slots). */
const leaseWrites = (world: World) =>
  world.kube.calls.filter(
    (call) =>
      (call.method === 'createLease' || call.method === 'replaceLease') &&
      !call.target.endsWith('fence-slots'),
  );
const destructiveDriverCalls = (world: World) =>
  world.driver.calls.filter((call) => call.method !== 'describe');

/** Makes every read of the pause Lease (its get, or the list it is part of) fail with `error`. */
function failPauseReads(world: World, error: Error): void {
  world.kube.beforeCall = (call) => {
    const pauseGet = call.method === 'getLease' && call.target.endsWith(`/${KUBE_NAMES.pauseLease}`);
    if (pauseGet || call.method === 'listLeases') throw error;
  };
}

const logLines = (world: World) =>
  world.logs.map((line) => JSON.parse(line) as { msg: string; level: string; reason?: string });

describe('POST /v1/alerts', () => {
  it('should answer 202 with one result per node named in the payload', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([{ node: 'worker-1' }, { node: 'worker-2' }, { node: 'worker-9' }]);

    // Act
    const response = await world.post('/v1/alerts', payload);
    const body = (await response.json()) as ResultsBody;

    // Assess
    expect(response.status).toBe(202);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(body.dryRun).toBe(false);
    expect(body.results.map((result) => [result.node, result.outcome, result.reason])).toEqual([
      ['worker-1', 'accepted', 'Accepted'],
      ['worker-2', 'refused', 'NodeReady'],
      ['worker-9', 'not-found', 'NodeNotFound'],
    ]);
    expect(body.results[0]?.fence).toEqual({ id: expect.any(String), phase: 'Lock', status: 'running' });
  });

  it('should answer without waiting for the long phases and hand the fence to the runtime', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));

    // Assess
    expect(response.status).toBe(202);
    // It read the instance (the cloud must show it before anything is decided), and did nothing to it.
    expect(world.driver.calls.map((call) => call.method)).toEqual(['describe']);
    expect(world.continuation.handoffs).toEqual([
      { node: 'worker-1', fenceId: expect.any(String), nonce: expect.any(String) },
    ]);
  });

  it('should de-duplicate a node named by several alerts of one payload', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([
      { node: 'worker-1' },
      { node: 'worker-1', alertname: 'KubeNodeUnreachable' },
      { node: 'worker-1', labels: { instance: '10.0.0.1:9100' } },
    ]);

    // Act
    const response = await world.post('/v1/alerts', payload);
    const body = (await response.json()) as ResultsBody;
    await world.drain();

    // Assess
    expect(response.status).toBe(202);
    expect(body.results).toHaveLength(1);
    expect(body.results[0]).toMatchObject({ node: 'worker-1', outcome: 'accepted' });
    expect(leaseWrites(world).filter((call) => call.method === 'createLease')).toHaveLength(1);
    expect(powerOffs(world)).toHaveLength(1);
  });

  it('should answer in-progress to a repeat of the payload while the fence runs', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([{ node: 'worker-1' }]);
    const first = (await (await world.post('/v1/alerts', payload)).json()) as ResultsBody;

    // Act
    const response = await world.post('/v1/alerts', payload);
    const body = (await response.json()) as ResultsBody;
    await world.drain();

    // Assess
    expect(response.status).toBe(202);
    expect(body.results).toEqual([
      expect.objectContaining({
        node: 'worker-1',
        outcome: 'in-progress',
        reason: 'FenceInProgress',
        fence: expect.objectContaining({ id: first.results[0]?.fence?.id }),
      }),
    ]);
    expect(powerOffs(world)).toHaveLength(1);
  });

  it('should give one accepted and otherwise in-progress to concurrent identical payloads', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([{ node: 'worker-1' }]);

    // Act
    const responses = await Promise.all(Array.from({ length: 10 }, () => world.post('/v1/alerts', payload)));
    const outcomes = await Promise.all(
      responses.map(async (response) => ((await response.json()) as ResultsBody).results[0]?.outcome),
    );
    await world.drain();

    // Assess
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(202));
    expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome !== 'accepted')).toEqual(Array(9).fill('in-progress'));
    expect(powerOffs(world)).toHaveLength(1);
  });

  it('should skip a repeat for the cooldown once the fence is done and the node is back and down again', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([{ node: 'worker-1' }]);
    await world.post('/v1/alerts', payload);
    await world.drain();
    world.clock.advance(60_000);
    // The machine came back, re-registered, and went NotReady again (a flapping node).
    world.kube.putNode(makeNode({ name: 'worker-1', ready: false, downFor: 3_600_000 }, world.clock.now()));
    const callsBefore = world.kube.mutations().length;

    // Act
    const response = await world.post('/v1/alerts', payload);
    const body = (await response.json()) as ResultsBody;
    await world.drain();

    // Assess
    expect(response.status).toBe(202);
    expect(body.results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'skipped', reason: 'Cooldown' }),
    ]);
    expect(world.kube.mutations()).toHaveLength(callsBefore);
    expect(powerOffs(world)).toHaveLength(1);
  });

  it('should not fence again a node whose fence deleted it', async () => {
    // Prepare
    const world = createWorld();
    const payload = alertPayload([{ node: 'worker-1' }]);
    await world.post('/v1/alerts', payload);
    await world.drain();

    // Act
    const response = await world.post('/v1/alerts', payload);
    const body = (await response.json()) as ResultsBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body.results[0]).toMatchObject({ node: 'worker-1', outcome: 'not-found' });
    expect(body.results[0]?.fence).toMatchObject({ status: 'succeeded' });
    expect(powerOffs(world)).toHaveLength(1);
  });

  it('should answer planned and change nothing when disarmed', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_DRY_RUN: '' } });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const body = (await response.json()) as ResultsBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body.dryRun).toBe(true);
    expect(body.results[0]).toMatchObject({ node: 'worker-1', outcome: 'planned', reason: 'DryRun' });
    expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
    expect(destructiveDriverCalls(world)).toEqual([]);
  });
});

describe('POST /v1/nodes/{node}/fence', () => {
  it('should accept a fence of a dead node with 202 and hand it to the runtime', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { reason: 'disk hung' });
    const body = (await response.json()) as ManualBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body).toMatchObject({
      dryRun: false,
      node: 'worker-1',
      outcome: 'accepted',
      fence: { phase: 'Lock', status: 'running' },
    });
    expect(world.continuation.handoffs).toHaveLength(1);
    const journal = await world.service.journal('worker-1');
    expect(journal?.trigger).toEqual({ kind: 'manual', reason: 'disk hung', force: false });
  });

  it('should accept a POST without a body, as curl -X POST sends it', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request('/v1/nodes/worker-1/fence', {
      method: 'POST',
      headers: bearer(),
    });
    const body = (await response.json()) as ManualBody;

    // Assess
    expect(response.status).toBe(202);
    expect(body.outcome).toBe('accepted');
  });

  it('should run the fence to the end with wait and answer the whole journal', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { wait: true });
    const body = (await response.json()) as ManualBody;

    // Assess
    expect(response.status).toBe(200);
    expect(body.fence).toMatchObject({ phase: 'Done', status: 'succeeded' });
    const journal = body.journal as FenceJournal;
    expect(journal.status).toBe('succeeded');
    expect(journal.node).toBe('worker-1');
    expect(journal.phases.map((step) => step.phase)).toEqual(PHASES);
    expect(journal.verifiedOffAt).toEqual(expect.any(String));
    expect(powerOffs(world)).toHaveLength(1);
    expect(world.kube.nodes.has('worker-1')).toBe(false);
    expect(world.continuation.handoffs).toEqual([]);
  });

  it('should answer the exact plan and change nothing with dryRun', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { dryRun: true });
    const body = (await response.json()) as ManualBody;

    // Assess
    expect(response.status).toBe(200);
    expect(body).toMatchObject({ dryRun: true, node: 'worker-1', outcome: 'planned', reason: 'DryRun' });
    const plan = body.plan as PlannedAction[];
    const targets = plan.flatMap((step) => step.targets ?? []);
    expect(targets).toContain('pod/default/db-0');
    expect(targets).toContain('volumeattachment/csi-pv-worker-1');
    expect(targets).toContain('vol-worker-1');
    expect(targets).not.toContain('vol-worker-1-scratch');
    expect(plan.map((step) => step.phase)).toEqual(
      expect.arrayContaining(['PowerOff', 'Release', 'DeleteNode']),
    );
    expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
    expect(destructiveDriverCalls(world)).toEqual([]);
    expect(world.continuation.handoffs).toEqual([]);
    expect(await world.service.journal('worker-1')).toBeUndefined();
  });

  it('should only plan when disarmed, even when the body says dryRun false', async () => {
    // Prepare
    const world = createWorld({ env: { ALERTFENCE_DRY_RUN: '' } });

    // Act
    const response = await world.post('/v1/nodes/worker-1/fence', { dryRun: false, wait: true });
    const body = (await response.json()) as ManualBody;

    // Assess
    expect(world.config.dryRun).toBe(true);
    expect(response.status).toBe(200);
    expect(body).toMatchObject({ dryRun: true, outcome: 'planned' });
    expect(body.plan?.length).toBeGreaterThan(0);
    expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
    expect(destructiveDriverCalls(world)).toEqual([]);
  });

  it('should refuse a Ready node without force', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-2/fence', {});
    const body = (await response.json()) as ManualBody;

    // Assess
    expect(response.status).toBe(200);
    expect(body).toMatchObject({ node: 'worker-2', outcome: 'refused', reason: 'NodeReady' });
    expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
  });

  it('should fence a Ready node with force', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-2/fence', { force: true, reason: 'kernel hung' });
    const body = (await response.json()) as ManualBody;
    await world.drain();

    // Assess
    expect(response.status).toBe(202);
    expect(body).toMatchObject({ node: 'worker-2', outcome: 'accepted' });
    const journal = await world.service.journal('worker-2');
    expect(journal?.trigger.force).toBe(true);
    expect(journal?.status).toBe('succeeded');
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toEqual([
      { method: 'powerOff', id: 'i-worker-2' },
    ]);
  });

  it('should answer 404 for a node that does not exist', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/nodes/worker-9/fence', {});
    const body = (await response.json()) as ManualBody;

    // Assess
    expect(response.status).toBe(404);
    expect(body).toMatchObject({ node: 'worker-9', outcome: 'not-found' });
    expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
  });
});

describe('GET /v1/nodes/{node}/fence', () => {
  it('should answer the journal of the current fence', async () => {
    // Prepare
    const world = createWorld();
    const started = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as ResultsBody;

    // Act
    const response = await get(world, '/v1/nodes/worker-1/fence');
    const journal = (await response.json()) as FenceJournal;

    // Assess
    expect(response.status).toBe(200);
    expect(journal).toMatchObject({
      id: started.results[0]?.fence?.id,
      node: 'worker-1',
      status: 'running',
      phase: 'Lock',
      trigger: { kind: 'alert', alertname: 'KubeNodeNotReady' },
    });
  });

  it('should answer the journal of the last fence once it is done', async () => {
    // Prepare
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Act
    const response = await get(world, '/v1/nodes/worker-1/fence', bearer(SECOND_TOKEN));
    const journal = (await response.json()) as FenceJournal;

    // Assess
    expect(response.status).toBe(200);
    expect(journal.status).toBe('succeeded');
    expect(journal.phases.map((step) => step.phase)).toEqual(PHASES);
  });

  it('should answer 404 with the error body when the node was never fenced', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await get(world, '/v1/nodes/worker-2/fence');
    const body = (await response.json()) as ErrorBody;

    // Assess
    expect(response.status).toBe(404);
    expect(body).toEqual({ error: { code: 'not_found', message: expect.stringContaining('worker-2') } });
  });
});

describe('health', () => {
  it('should answer /healthz without a token', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await get(world, '/healthz', {});

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('should answer /healthz even when the API server is unreachable', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await get(world, '/healthz', {});

    // Assess
    expect(response.status).toBe(200);
  });

  it('should answer /readyz 200 when the API server is reachable', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await get(world, '/readyz', {});

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', paused: false });
    // The API server's ping, then the pause Lease (ready and paused is shown as such).
    expect(world.kube.calls.map((call) => call.method)).toEqual(['ping', 'getLease']);
  });

  it('should answer /readyz 503 with the error body, to a caller with a token, when the API server is unreachable', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await get(world, '/readyz');
    const body = (await response.json()) as ErrorBody;

    // Assess
    expect(response.status).toBe(503);
    expect(body).toEqual({ error: { code: 'not_ready', message: expect.stringContaining('ECONNREFUSED') } });
  });

  it('should answer /readyz ready with the pause unknown, never not paused, when the pause Lease cannot be read', async () => {
    // Prepare: the API server answers the readiness check, but not the read of the pause (RBAC, a timeout).
    const world = createWorld();
    failPauseReads(world, new KubeForbiddenError('leases "alertfence.pause" is forbidden', { status: 403 }));

    // Act
    const anonymous = await get(world, '/readyz', {});
    const operator = await get(world, '/readyz');

    // Assess: ready (the fence re-reads the pause before a power-off, and stops if it cannot), but not "not paused".
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual({ status: 'ready', paused: 'unknown' });
    expect(operator.status).toBe(200);
    expect(await operator.json()).toEqual({
      status: 'ready',
      paused: 'unknown',
      pauseError: 'leases "alertfence.pause" is forbidden',
    });
    const warnings = logLines(world).filter((line) => line.msg === 'could not read the pause');
    expect(warnings).toEqual([
      expect.objectContaining({ level: 'warn', reason: 'leases "alertfence.pause" is forbidden' }),
      expect.objectContaining({ level: 'warn', reason: 'leases "alertfence.pause" is forbidden' }),
    ]);
  });

  it('should answer /readyz 503 with no detail to a caller without a token', async () => {
    // Prepare
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const response = await get(world, '/readyz', {});

    // Assess
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'not_ready' });
  });
});

describe('the pause, when its Lease cannot be read', () => {
  it.each([
    ['GET /v1/pause', '/v1/pause'],
    ['GET /v1/fences', '/v1/fences'],
  ])('should answer %s with an error, never not paused', async (_name, path) => {
    // Prepare
    const world = createWorld();
    failPauseReads(world, new KubeUnavailableError('HTTP 503 Service Unavailable', { status: 503 }));

    // Act
    const response = await get(world, path);
    const body = (await response.json()) as ErrorBody;

    // Assess
    expect(response.status).toBe(503);
    expect(body).toEqual({ error: { code: 'unavailable', message: 'HTTP 503 Service Unavailable' } });
  });

  it.each([
    ['GET /v1/pause', '/v1/pause'],
    ['GET /v1/fences', '/v1/fences'],
  ])(
    'should answer %s with an error when the read is refused (RBAC), never not paused',
    async (_name, path) => {
      // Prepare
      const world = createWorld();
      failPauseReads(world, new KubeForbiddenError('leases is forbidden', { status: 403 }));

      // Act
      const response = await get(world, path);
      const body = (await response.json()) as ErrorBody;

      // Assess
      expect(response.status).toBe(500);
      expect(body.error.code).toBe('internal');
      expect(JSON.stringify(body)).not.toContain('paused');
    },
  );
});

describe('unknown routes', () => {
  it.each([
    ['GET', '/'],
    ['GET', '/nope'],
    ['POST', '/v2/alerts'],
    ['GET', '/v1/alerts'],
    ['DELETE', '/v1/nodes/worker-1/fence'],
    ['GET', '/v1/nodes/worker-1'],
  ])('should answer %s %s with 404 and the JSON error body', async (method, path) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.app.request(path, { method, headers: bearer() });
    const body = (await response.json()) as ErrorBody;

    // Assess
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    expect(world.kube.calls).toEqual([]);
  });

  it('should ask for a token before saying whether a /v1 route exists', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await get(world, '/v1/secret-route', {});

    // Assess
    expect(response.status).toBe(401);
  });
});

describe('bearer token rotation', () => {
  it.each([
    ['the first token', TOKEN, 202],
    ['the second token', SECOND_TOKEN, 202],
    ['a third token', 'third-token-not-configured-0000', 401],
  ])('should answer a webhook with %s with %i', async (_name, token, status) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]), bearer(token));

    // Assess
    expect(response.status).toBe(status);
    expect(world.kube.calls.some((call) => call.mutating)).toBe(status === 202);
  });

  it('should accept the scheme name in any case (RFC 7235)', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]), {
      authorization: `bearer ${SECOND_TOKEN}`,
    });

    // Assess
    expect(response.status).toBe(202);
  });
});

describe('x-request-id', () => {
  it('should echo a well-formed request id (letters, digits, _, - and =, as hono accepts) and log it', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]), {
      'x-request-id': 'am-7f3a_1-2=',
    });

    // Assess
    expect(response.headers.get('x-request-id')).toBe('am-7f3a_1-2=');
    const lines = world.logs.map((line) => JSON.parse(line) as { requestId?: string; msg: string });
    expect(lines.filter((line) => line.requestId === 'am-7f3a_1-2=').map((line) => line.msg)).toContain(
      'request',
    );
  });

  it.each([
    ['spaces', 'a b'],
    ['a newline-free injection attempt', '"},{"level":"error'],
    ['129 characters', 'r'.repeat(129)],
    ['a dot or a colon', 'am.7f3a:2'],
  ])('should replace a request id with %s by a fresh one', async (_name, offered) => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await get(world, '/healthz', { 'x-request-id': offered });

    // Assess
    const echoed = response.headers.get('x-request-id');
    expect(echoed).not.toBe(offered);
    expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('should give every response a request id, errors included', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', '{', { authorization: 'Bearer nope-nope-nope-nope' });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
