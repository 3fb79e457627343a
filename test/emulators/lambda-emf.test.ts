/**
 * The metrics on Lambda under the real Runtime Interface Emulator: each invocation writes its CloudWatch EMF
 * lines to stdout, where the runtime sends them to CloudWatch Logs; every line is a valid EMF document, and
 * together they count the fence the webhook started and the workers finished, and the state the tick read.
 */
import { describe, expect, it } from 'vitest';
import { buildBundles } from '../integration/runtimes/support/bundles.js';
import { TOKEN } from '../integration/runtimes/support/env.js';
import { startLambdaApiStandIn } from '../integration/runtimes/support/lambda-api.js';
import { functionUrlEvent, readFunctionUrlResult } from '../integration/runtimes/support/lambda-events.js';
import { startRie } from '../integration/runtimes/support/rie.js';
import { useSetup } from '../integration/runtimes/support/setup.js';
import { emfMetrics, emfProblems, isEmfLine } from '../support/emf-spec.js';
import { alertPayload } from '../support/world.js';

/** The EMF lines in the emulator's output: the function's stdout, among the emulator's own lines. */
const emfLines = (logs: string) =>
  logs
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{') && isEmfLine(line));

describe('Lambda metrics under the Runtime Interface Emulator', () => {
  const TIMEOUT_SECONDS = 8;
  const setup = useSetup(
    async () => {
      const bundles = await buildBundles({
        'lambda-fake-cluster': 'test/integration/runtimes/fixtures/lambda-fake-cluster.ts',
        'lambda-bootstrap': 'test/support/runtimes/lambda-bootstrap.ts',
      });
      const lambdaApi = await startLambdaApiStandIn();
      const rie = await startRie({
        handlerFile: bundles.file('lambda-fake-cluster'),
        bootstrapFile: bundles.file('lambda-bootstrap'),
        timeoutSeconds: TIMEOUT_SECONDS,
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: 'emf-test-journal-key-0123456789abcdef0123',
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_LAMBDA_ENDPOINT: lambdaApi.url,
          AWS_LAMBDA_FUNCTION_NAME: 'alertfence-emf',
          FIXTURE_TRANSITION_MS: '500',
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

  it('should write valid EMF lines for the webhook, the workers and the tick', async () => {
    const { lambdaApi, rie } = setup();

    // Act
    const ingress = await rie.invoke(
      functionUrlEvent('POST', '/v1/alerts', { body: alertPayload([{ node: 'worker-1' }]), token: TOKEN }),
    );
    const delivered = await lambdaApi.deliver(rie);
    const tick = await rie.invoke({ alertfence: 'tick' });

    // Assess
    expect(readFunctionUrlResult(ingress.payload).statusCode, rie.logs()).toBe(202);
    expect(delivered.at(-1)?.result.payload, rie.logs()).toMatchObject({ status: 'succeeded' });
    expect(tick.payload).toMatchObject({ status: 'ticked' });
    const lines = emfLines(rie.logs());
    expect(lines.length, rie.logs()).toBeGreaterThan(0);
    for (const line of lines) expect(emfProblems(line), line).toEqual([]);
    const metrics = emfMetrics(lines);
    const values = (name: string, dimensions: Record<string, string> = {}) =>
      metrics
        .filter(
          (metric) =>
            metric.name === name &&
            Object.entries(dimensions).every(([key, value]) => metric.dimensions[key] === value),
        )
        .flatMap((metric) => metric.values);
    expect(metrics.every((metric) => metric.namespace === 'alertfence')).toBe(true);
    expect(metrics.every((metric) => metric.dimensions.service === 'alertfence-emf')).toBe(true);
    expect(values('alertfence_decisions_total', { outcome: 'accepted', trigger: 'alert' })).toEqual([1]);
    expect(values('alertfence_fences_total', { outcome: 'succeeded', driver: 'simulated' })).toEqual([1]);
    expect(values('alertfence_phase_duration_seconds', { phase: 'PowerOff' })).toHaveLength(1);
    expect(
      values('alertfence_driver_calls_total', { operation: 'power_on', result: 'ok' }).length,
    ).toBeGreaterThan(0);
    expect(values('alertfence_fences_running')).toEqual([0]);
    expect(values('alertfence_state_up')).toEqual([1]);
  });
});
