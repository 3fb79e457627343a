import { describe, expect, it } from 'vitest';
import { buildBundles, functionBundles } from '../integration/runtimes/support/bundles.js';
import { refusedAddress, TOKEN, writeKubeconfig } from '../integration/runtimes/support/env.js';
import {
  type AlertsAnswer,
  alertEvent,
  expectHealthyAnswer,
  expectInvalidInputAnswer,
  expectUnauthorizedAnswer,
  UNAUTHORIZED_CASES,
} from '../integration/runtimes/support/function-url-answers.js';
import { startLambdaApiStandIn } from '../integration/runtimes/support/lambda-api.js';
import { functionUrlEvent, readFunctionUrlResult } from '../integration/runtimes/support/lambda-events.js';
import { startRie } from '../integration/runtimes/support/rie.js';
import { useSetup } from '../integration/runtimes/support/setup.js';
import { tempDir } from '../peers/process.js';
import { alertPayload } from '../support/world.js';

describe('Lambda bundle under the Runtime Interface Emulator', () => {
  const setup = useSetup(
    async () => {
      const bundles = await functionBundles();
      const dir = await tempDir('alertfence-lambda');
      // Runtime-contract tests: an API server that refuses connections stands for "unreachable". Armed, so
      // that a continuation gets as far as the API server (a disarmed deployment refuses it before any read).
      const kubeconfig = await writeKubeconfig(dir.path, await refusedAddress());
      const rie = await startRie({
        handlerFile: bundles.file('lambda'),
        bootstrapFile: bundles.file('lambda-bootstrap'),
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          KUBECONFIG: kubeconfig,
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: 'emulator-test-journal-key-0123456789abcdef',
        },
      });
      return { dir, rie };
    },
    async ({ dir, rie }) => {
      await rie.stop();
      await dir.remove();
    },
  );

  it('should answer GET /healthz as a Function URL response', async () => {
    const { rie } = setup();

    // Act
    const invoked = await rie.invoke(functionUrlEvent('GET', '/healthz'));

    // Assess
    expect(invoked.status, rie.logs()).toBe(200);
    expectHealthyAnswer(invoked.payload);
    expect(rie.initDurationMs()).toBeGreaterThan(0);
  });

  it.each(UNAUTHORIZED_CASES)(
    'should answer 401 in the Function URL response to an alert with %s',
    async (_case, token) => {
      const { rie } = setup();

      // Act
      const invoked = await rie.invoke(alertEvent(token));

      // Assess
      expectUnauthorizedAnswer(invoked.payload);
    },
  );

  it('should answer 400 to a body that is not JSON', async () => {
    const { rie } = setup();

    // Act
    const invoked = await rie.invoke(
      functionUrlEvent('POST', '/v1/alerts', { body: '{not json', token: TOKEN }),
    );

    // Assess
    expectInvalidInputAnswer(invoked.payload);
  });

  it('should answer 503 to /readyz and to an alert while the API server is unreachable, so Alertmanager retries', async () => {
    const { rie } = setup();

    // Act
    const ready = readFunctionUrlResult((await rie.invoke(functionUrlEvent('GET', '/readyz'))).payload);
    const alert = readFunctionUrlResult(
      (
        await rie.invoke(
          functionUrlEvent('POST', '/v1/alerts', {
            body: alertPayload([{ node: 'worker-1' }]),
            token: TOKEN,
          }),
        )
      ).payload,
    );

    // Assess
    expect(ready.statusCode).toBe(503);
    expect(alert.statusCode).toBe(503);
    expect((alert.json as AlertsAnswer).results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'failed', reason: 'ApiServerUnavailable' }),
    ]);
  });

  it('should run a continuation event as the worker and fail the invocation when the API server is unreachable, so Lambda retries the event', async () => {
    const { rie } = setup();

    // Arrange
    const event = {
      alertfence: 'continue',
      handoff: { node: 'worker-1', fenceId: 'f-1', nonce: 'rie-test-nonce-0123456789' },
    };

    // Act
    const invoked = await rie.invoke(event);

    // Assess
    expect(invoked.payload).toMatchObject({ errorType: 'KubeUnavailableError' });
  });

  it('should fail an event that is neither a Function URL request nor a continuation', async () => {
    const { rie } = setup();

    // Act
    const invoked = await rie.invoke({ source: 'aws.events' });

    // Assess
    expect(invoked.payload).toMatchObject({ errorType: 'UnsupportedEventError' });
  });
});

describe('Lambda bundle with a configuration error', () => {
  it('should answer every request with a 500 JSON body that says where to look, and log what to fix, instead of crashing init', async () => {
    // Arrange: no tokens at all.
    const bundles = await functionBundles();
    const rie = await startRie({
      handlerFile: bundles.file('lambda'),
      bootstrapFile: bundles.file('lambda-bootstrap'),
      env: { ALERTFENCE_DRIVERS: 'simulated' },
    });
    try {
      // Act
      const first = readFunctionUrlResult((await rie.invoke(functionUrlEvent('GET', '/healthz'))).payload);
      const second = readFunctionUrlResult((await rie.invoke(functionUrlEvent('GET', '/healthz'))).payload);

      // Assess
      for (const answer of [first, second]) {
        expect(answer.statusCode).toBe(500);
        expect(answer.headers['content-type']).toBe('application/json');
        expect(answer.json).toMatchObject({
          error: { code: 'misconfigured', message: expect.stringContaining('function log') },
        });
      }
      expect(rie.logs()).toContain('invalid configuration');
      expect(rie.logs()).toContain('ALERTFENCE_TOKENS');
      expect(rie.logs()).not.toMatch(/INIT RTDONE\(status: error/);
    } finally {
      await rie.stop();
    }
  });
});

describe('Lambda continuation hand-off under the Runtime Interface Emulator', () => {
  const TIMEOUT_SECONDS = 8;
  const setup = useSetup(
    async () => {
      const bundles = await buildBundles({
        'lambda-fake-cluster': 'test/integration/runtimes/fixtures/lambda-fake-cluster.ts',
        'lambda-bootstrap': 'test/support/runtimes/lambda-bootstrap.ts',
      });
      // The emulator has no Invoke API: the function's SDK is pointed at a stand-in that queues Event invokes.
      const lambdaApi = await startLambdaApiStandIn();
      const rie = await startRie({
        handlerFile: bundles.file('lambda-fake-cluster'),
        bootstrapFile: bundles.file('lambda-bootstrap'),
        timeoutSeconds: TIMEOUT_SECONDS,
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: 'emulator-test-journal-key-0123456789abcdef',
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_LAMBDA_ENDPOINT: lambdaApi.url,
          FIXTURE_TRANSITION_MS: '4000',
        },
      });
      return { bundles, lambdaApi, rie };
    },
    async ({ bundles, lambdaApi, rie }) => {
      await rie.stop();
      await lambdaApi.stop();
      await bundles.dir.remove();
    },
  );

  it('should accept the alert, self-invoke asynchronously, and finish the fence over worker invocations that each hand on before their deadline', async () => {
    const { lambdaApi, rie } = setup();

    // Act 1: Alertmanager's notification through the Function URL.
    const alerts = alertPayload([
      { node: 'worker-1' },
      { node: 'worker-1', alertname: 'KubeNodeUnreachable' },
      { node: 'worker-2' },
    ]);
    const ingress = await rie.invoke(functionUrlEvent('POST', '/v1/alerts', { body: alerts, token: TOKEN }));

    // Assess 1: answered at once, one fence, one asynchronous self-invoke signed by the real SDK.
    const answer = readFunctionUrlResult(ingress.payload);
    expect(answer.statusCode, rie.logs()).toBe(202);
    const results = (answer.json as AlertsAnswer).results;
    expect(results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'accepted' }),
      expect.objectContaining({ node: 'worker-2', outcome: 'refused', reason: 'NodeReady' }),
    ]);
    const fenceId = results[0]?.fence?.id;
    expect(lambdaApi.invokes).toHaveLength(1);
    expect(lambdaApi.invokes[0]).toMatchObject({
      functionName: 'alertfence',
      invocationType: 'Event',
      authorization: expect.stringMatching(
        /^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/lambda\/aws4_request/,
      ),
      payload: { alertfence: 'continue', handoff: { node: 'worker-1', fenceId, nonce: expect.any(String) } },
    });

    // Act 2: the repeat of the same notification while the fence is held.
    const repeat = readFunctionUrlResult(
      (await rie.invoke(functionUrlEvent('POST', '/v1/alerts', { body: alerts, token: TOKEN }))).payload,
    );

    // Assess 2
    expect((repeat.json as AlertsAnswer).results[0]).toMatchObject({ outcome: 'in-progress' });
    expect(lambdaApi.invokes).toHaveLength(1);

    // Act 3: Lambda's queue delivers the continuation, and each worker's own continuation, one at a time.
    const delivered = await lambdaApi.deliver(rie);

    // Assess 3: several worker invocations, each ending before the function timeout, the last one done.
    const statuses = delivered.map(({ result }) => (result.payload as { status?: string }).status);
    expect(statuses.length, rie.logs()).toBeGreaterThanOrEqual(2);
    expect(statuses.at(-1)).toBe('succeeded');
    expect(statuses.slice(0, -1).every((status) => status === 'continue')).toBe(true);
    for (const { event, result } of delivered) {
      expect(event.payload).toMatchObject({ alertfence: 'continue', handoff: { node: 'worker-1', fenceId } });
      expect(result.durationMs).toBeLessThan(TIMEOUT_SECONDS * 1000);
    }
    expect(rie.logs()).toContain('invocation time is up; handing the fence on');
    expect(rie.logs()).not.toContain('Task timed out');

    const journal = readFunctionUrlResult(
      (await rie.invoke(functionUrlEvent('GET', '/v1/nodes/worker-1/fence', { token: TOKEN }))).payload,
    );
    expect(journal.json).toMatchObject({
      id: fenceId,
      status: 'succeeded',
      phase: 'Done',
      attempt: delivered.length + 1,
    });
    const world = (await rie.invoke({ fixture: 'inspect' })).payload as {
      nodes: string[];
      driverCalls: string[];
    };
    expect(world.nodes).toEqual(['worker-2', 'worker-3', 'worker-4']);
    expect(world.driverCalls.filter((call) => call === 'powerOff')).toHaveLength(1);
    expect(world.driverCalls.filter((call) => call === 'powerOn')).toHaveLength(1);
  });
});
