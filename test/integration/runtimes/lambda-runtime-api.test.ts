/**
 * The built Lambda bundle, run by the built `lambda-bootstrap` as Lambda runs a function, against a contract
 * fake of the Lambda Runtime API (`test/fakes/lambda-runtime-api.ts`, written from the AWS reference): every
 * event travels over HTTP through `GET …/invocation/next` and comes back on `…/response`, `…/error` or
 * `…/init/error`, with the headers Lambda sends.
 *
 * The fake follows the AWS reference and records every call it does not allow, which the real emulator would
 * not tell. `test/emulators/lambda-rie.test.ts` and `lambda-control-plane.test.ts` run the same bundles under
 * the real AWS Lambda Runtime Interface Emulator, also in `npm test`.
 */
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startLambdaRuntimeApiFake } from '../../fakes/lambda-runtime-api.js';
import { runCommand, tempDir } from '../../peers/process.js';
import { alertPayload } from '../../support/world.js';
import { buildBundles, functionBundles } from './support/bundles.js';
import { JOURNAL_KEY, refusedAddress, TOKEN, writeKubeconfig } from './support/env.js';
import {
  type AlertsAnswer,
  alertEvent,
  expectHealthyAnswer,
  expectInvalidInputAnswer,
  expectUnauthorizedAnswer,
  UNAUTHORIZED_CASES,
} from './support/function-url-answers.js';
import { startLambdaApiStandIn } from './support/lambda-api.js';
import { functionUrlEvent, readFunctionUrlResult } from './support/lambda-events.js';
import { handlerSpec, runtimeEnvironment, startLambdaRuntime } from './support/lambda-runtime.js';
import { useSetup } from './support/setup.js';

/** The standard Lambda error format (the Runtime API's ErrorRequest). */
const errorRequest = (errorType: string) => ({
  errorType,
  errorMessage: expect.any(String),
  stackTrace: expect.any(Array),
});

describe('Runtime API contract fake', () => {
  it('should refuse and record the calls the reference does not allow, so the suites below can fail on them', async () => {
    // Arrange
    const api = await startLambdaRuntimeApiFake();
    const base = `http://${api.address}/2018-06-01/runtime`;
    try {
      const invoked = api.invoke({ ping: true }, { timeoutMs: 5_000 });
      const next = await fetch(`${base}/invocation/next`);
      const requestId = next.headers.get('lambda-runtime-aws-request-id') ?? '';

      // Act
      const secondNext = await fetch(`${base}/invocation/next`);
      const unknownId = await fetch(`${base}/invocation/not-a-request/response`, {
        method: 'POST',
        body: '{}',
      });
      const badError = await fetch(`${base}/invocation/${requestId}/error`, { method: 'POST', body: 'boom' });
      const late = await fetch(`${base}/invocation/${requestId}/response`, { method: 'POST', body: '{}' });

      // Assess
      expect(next.status).toBe(200);
      expect(Number(next.headers.get('lambda-runtime-deadline-ms'))).toBeGreaterThan(Date.now());
      expect(await next.json()).toEqual({ ping: true });
      expect([secondNext.status, unknownId.status, badError.status, late.status]).toEqual([
        403, 400, 202, 400,
      ]);
      expect(await invoked).toMatchObject({ requestId, outcome: 'error', payload: 'boom' });
      expect(api.violations).toEqual([
        `GET next while invocation ${requestId} is unanswered`,
        'POST response for request not-a-request, which is not awaiting an answer',
        `POST error for request ${requestId} without an ErrorRequest body: boom`,
        `POST response for request ${requestId}, which is not awaiting an answer`,
      ]);
    } finally {
      await api.stop();
    }
  });
});

describe('Lambda bundle against the Runtime API contract fake', () => {
  const setup = useSetup(
    async () => {
      const bundles = await functionBundles();
      const dir = await tempDir('alertfence-lambda-runtime');
      // An API server that refuses connections stands for "unreachable".
      const kubeconfig = await writeKubeconfig(dir.path, await refusedAddress());
      const runtime = await startLambdaRuntime({
        handlerFile: bundles.file('lambda'),
        bootstrapFile: bundles.file('lambda-bootstrap'),
        // Armed: a disarmed deployment refuses every continuation before it reads anything.
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          KUBECONFIG: kubeconfig,
          ALERTFENCE_DRIVERS: 'simulated',
        },
      });
      return { dir, runtime };
    },
    async ({ dir, runtime }) => {
      await runtime.stop();
      await dir.remove();
    },
  );

  afterEach(() => {
    expect(setup().runtime.api.violations, 'calls the Runtime API reference does not allow').toEqual([]);
  });

  it('should answer GET /healthz as a Function URL response posted on …/response', async () => {
    const { runtime } = setup();

    // Act
    const result = await runtime.invoke(functionUrlEvent('GET', '/healthz'));

    // Assess
    expect(result.outcome, runtime.logs()).toBe('response');
    expectHealthyAnswer(result.payload);
  });

  it.each(UNAUTHORIZED_CASES)(
    'should answer 401 in the Function URL response to an alert with %s',
    async (_case, token) => {
      const { runtime } = setup();

      // Act
      const result = await runtime.invoke(alertEvent(token));

      // Assess
      expectUnauthorizedAnswer(result.payload);
    },
  );

  it('should answer 400 to a body that is not JSON', async () => {
    const { runtime } = setup();

    // Act
    const result = await runtime.invoke(
      functionUrlEvent('POST', '/v1/alerts', { body: '{not json', token: TOKEN }),
    );

    // Assess
    expectInvalidInputAnswer(result.payload);
  });

  it('should answer 503 to an alert while the API server is unreachable, so Alertmanager retries', async () => {
    const { runtime } = setup();

    // Act
    const result = await runtime.invoke(
      functionUrlEvent('POST', '/v1/alerts', { body: alertPayload([{ node: 'worker-1' }]), token: TOKEN }),
    );

    // Assess
    const answer = readFunctionUrlResult(result.payload);
    expect(answer.statusCode).toBe(503);
    expect((answer.json as AlertsAnswer).results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'failed', reason: 'ApiServerUnavailable' }),
    ]);
  });

  it('should run a continuation event as the worker and report its failure on …/error with Lambda-Runtime-Function-Error-Type, so Lambda retries the event', async () => {
    const { runtime } = setup();

    // Act
    const result = await runtime.invoke({
      alertfence: 'continue',
      handoff: { node: 'worker-1', fenceId: 'f-1', nonce: 'a-nonce-of-the-right-shape' },
    });

    // Assess
    expect(result.outcome, runtime.logs()).toBe('error');
    expect(result.errorType).toBe('KubeUnavailableError');
    expect(result.payload).toEqual(errorRequest('KubeUnavailableError'));
  });

  it('should report an event that is neither a Function URL request nor a continuation on …/error', async () => {
    const { runtime } = setup();

    // Act
    const result = await runtime.invoke({ source: 'aws.events' });

    // Assess
    expect(result.outcome).toBe('error');
    expect(result.errorType).toBe('UnsupportedEventError');
    expect(result.payload).toEqual(errorRequest('UnsupportedEventError'));
  });
});

describe('Lambda bundle with a configuration error, against the Runtime API contract fake', () => {
  it('should answer every request with a 500 JSON body that names the request and says where to look, and log what to fix, instead of failing init', async () => {
    // Arrange: no tokens at all.
    const bundles = await functionBundles();
    const runtime = await startLambdaRuntime({
      handlerFile: bundles.file('lambda'),
      bootstrapFile: bundles.file('lambda-bootstrap'),
      env: { ALERTFENCE_DRIVERS: 'simulated' },
    });
    try {
      // Act
      const results = [
        await runtime.invoke(functionUrlEvent('GET', '/healthz')),
        await runtime.invoke(functionUrlEvent('GET', '/healthz')),
      ];

      // Assess: the request id is the Lambda-Runtime-Aws-Request-Id the fake sent with each event.
      for (const result of results) {
        expect(result.outcome).toBe('response');
        const answer = readFunctionUrlResult(result.payload);
        expect(answer.statusCode).toBe(500);
        expect(answer.headers['content-type']).toBe('application/json');
        expect(answer.json).toMatchObject({
          error: {
            code: 'misconfigured',
            message: expect.stringContaining('function log'),
            details: { requestId: result.requestId },
          },
        });
      }
      expect(runtime.logs()).toContain('invalid configuration');
      expect(runtime.logs()).toContain('ALERTFENCE_TOKENS');
      expect(runtime.api.initErrors).toEqual([]);
      expect(runtime.api.violations).toEqual([]);
    } finally {
      await runtime.stop();
    }
  });
});

describe('Lambda bootstrap whose handler does not load, against the Runtime API contract fake', () => {
  it('should report the error on …/init/error and exit, and Lambda then serves that error to the first invoke', async () => {
    // Arrange: a Handler setting that names an export the bundle does not have.
    const bundles = await functionBundles();
    const api = await startLambdaRuntimeApiFake();
    const handlerFile = bundles.file('lambda');
    const handler = handlerSpec(handlerFile, 'main');
    try {
      // Act
      const run = await runCommand(process.execPath, [bundles.file('lambda-bootstrap'), handler], {
        cwd: dirname(handlerFile),
        env: runtimeEnvironment(api, handlerFile, handler, { ALERTFENCE_TOKENS: TOKEN }),
        check: false,
        timeoutMs: 15_000,
      });
      const first = await api.invoke(functionUrlEvent('GET', '/healthz'));

      // Assess
      expect(run.code, run.stderr).toBe(1);
      expect(api.initErrors).toEqual([
        {
          errorType: 'RuntimeApiError',
          payload: {
            ...errorRequest('RuntimeApiError'),
            errorMessage: expect.stringContaining('exports no function "main"'),
          },
        },
      ]);
      expect(first).toMatchObject({ outcome: 'error', errorType: 'RuntimeApiError' });
      expect(api.violations).toEqual([]);
    } finally {
      await api.stop();
    }
  });
});

describe('Lambda continuation hand-off against the Runtime API contract fake', () => {
  const bundlesOf = useSetup(
    () =>
      buildBundles({
        'lambda-fake-cluster': 'test/integration/runtimes/fixtures/lambda-fake-cluster.ts',
        'lambda-bootstrap': 'test/support/runtimes/lambda-bootstrap.ts',
      }),
    (bundles) => bundles.dir.remove(),
  );

  /** A fresh execution environment around a fresh fake cluster (worker-1 dead), and the Invoke stand-in. */
  const startFunction = async () => {
    const bundles = bundlesOf();
    const lambdaApi = await startLambdaApiStandIn();
    const runtime = await startLambdaRuntime({
      handlerFile: bundles.file('lambda-fake-cluster'),
      bootstrapFile: bundles.file('lambda-bootstrap'),
      env: {
        ALERTFENCE_TOKENS: TOKEN,
        ALERTFENCE_DRY_RUN: 'false',
        ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
        ALERTFENCE_DRIVERS: 'simulated',
        ALERTFENCE_LAMBDA_ENDPOINT: lambdaApi.url,
        FIXTURE_TRANSITION_MS: '4000',
      },
    });
    return {
      lambdaApi,
      runtime,
      async stop() {
        await runtime.stop();
        await lambdaApi.stop();
      },
    };
  };

  it('should accept the alert, self-invoke asynchronously, and finish the fence over worker invocations that each hand on before their Lambda-Runtime-Deadline-Ms', async () => {
    const TIMEOUT_MS = 6_000;
    const { lambdaApi, runtime, stop } = await startFunction();
    try {
      // Act 1: Alertmanager's notification through the Function URL.
      const alerts = alertPayload([
        { node: 'worker-1' },
        { node: 'worker-1', alertname: 'KubeNodeUnreachable' },
        { node: 'worker-2' },
      ]);
      const ingress = await runtime.invoke(
        functionUrlEvent('POST', '/v1/alerts', { body: alerts, token: TOKEN }),
      );

      // Assess 1: answered at once, one fence, one asynchronous self-invoke signed by the real SDK and carrying
      // the invocation's Lambda-Runtime-Trace-Id, which the bootstrap hands the SDK as _X_AMZN_TRACE_ID.
      const answer = readFunctionUrlResult(ingress.payload);
      expect(answer.statusCode, runtime.logs()).toBe(202);
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
        payload: {
          alertfence: 'continue',
          // The hand-over's nonce (32 random bytes): only its digest is kept, in the Lease.
          handoff: { node: 'worker-1', fenceId, nonce: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) },
        },
      });

      // Act 2: the repeat of the same notification while the fence is held.
      const repeat = readFunctionUrlResult(
        (await runtime.invoke(functionUrlEvent('POST', '/v1/alerts', { body: alerts, token: TOKEN })))
          .payload,
      );

      // Assess 2
      expect((repeat.json as AlertsAnswer).results[0]).toMatchObject({ outcome: 'in-progress' });
      expect(lambdaApi.invokes).toHaveLength(1);

      // Act 3: Lambda's queue delivers the continuation, and each worker's own, with a 6 s deadline each.
      const delivered = await lambdaApi.deliver({
        invoke: (event) => runtime.invoke(event, { timeoutMs: TIMEOUT_MS }),
      });

      // Assess 3: several worker invocations, each answered before its deadline, the last one done.
      expect(delivered.length, runtime.logs()).toBeGreaterThanOrEqual(2);
      for (const { event, result } of delivered) {
        expect(event.payload).toMatchObject({
          alertfence: 'continue',
          handoff: { node: 'worker-1', fenceId },
        });
        expect(result.outcome, runtime.logs()).toBe('response');
        expect(result.answeredAt).toBeLessThan(result.deadlineMs);
      }
      const statuses = delivered.map(({ result }) => (result.payload as { status?: string }).status);
      expect(statuses.at(-1)).toBe('succeeded');
      expect(statuses.slice(0, -1).every((status) => status === 'continue')).toBe(true);
      expect(runtime.logs()).toContain('invocation time is up; handing the fence on');

      const journal = readFunctionUrlResult(
        (await runtime.invoke(functionUrlEvent('GET', '/v1/nodes/worker-1/fence', { token: TOKEN }))).payload,
      );
      expect(journal.json).toMatchObject({
        id: fenceId,
        status: 'succeeded',
        phase: 'Done',
        attempt: delivered.length + 1,
      });
      const world = (await runtime.invoke({ fixture: 'inspect' })).payload as {
        nodes: string[];
        driverCalls: string[];
      };
      expect(world.nodes).toEqual(['worker-2', 'worker-3', 'worker-4']);
      expect(world.driverCalls.filter((call) => call === 'powerOff')).toHaveLength(1);
      expect(world.driverCalls.filter((call) => call === 'powerOn')).toHaveLength(1);
      expect(runtime.api.violations).toEqual([]);
    } finally {
      await stop();
    }
  });

  it('should finish the same fence in one worker invocation when Lambda-Runtime-Deadline-Ms leaves it the time', async () => {
    const { lambdaApi, runtime, stop } = await startFunction();
    try {
      // Arrange
      const ingress = await runtime.invoke(
        functionUrlEvent('POST', '/v1/alerts', { body: alertPayload([{ node: 'worker-1' }]), token: TOKEN }),
      );
      expect(readFunctionUrlResult(ingress.payload).statusCode, runtime.logs()).toBe(202);

      // Act: the same function, environment and fence as above; only the deadline differs.
      const delivered = await lambdaApi.deliver({
        invoke: (event) => runtime.invoke(event, { timeoutMs: 120_000 }),
      });

      // Assess
      expect(delivered.map(({ result }) => result.payload)).toEqual([
        expect.objectContaining({ status: 'succeeded', node: 'worker-1' }),
      ]);
      expect(runtime.logs()).not.toContain('invocation time is up; handing the fence on');
      expect(runtime.api.violations).toEqual([]);
    } finally {
      await stop();
    }
  });
});
