/**
 * The CI twin of `test/emulators/lambda-control-plane.test.ts`: the built Lambda bundle, run by the built
 * `lambda-bootstrap` against the Runtime API contract fake (`test/fakes/lambda-runtime-api.ts`) instead of the
 * Runtime Interface Emulator, fencing on a real kube-apiserver as the alertfence ServiceAccount, with the
 * simulated cloud. The fake cannot show what only the emulator does (README.md next to this file); the
 * Kubernetes side here is real.
 */

import { describe, expect, it } from 'vitest';
import { alertPayload } from '../../support/world.js';
import { useControlPlane } from '../kube/cluster.js';
import { functionBundles } from './support/bundles.js';
import {
  assessFencedOnApiServer,
  DEAD_NODE,
  seedDeadNode,
  watchNodeTaints,
} from './support/control-plane-fence.js';
import { JOURNAL_KEY, TOKEN } from './support/env.js';
import type { AlertsAnswer } from './support/function-url-answers.js';
import { startLambdaApiStandIn } from './support/lambda-api.js';
import { functionUrlEvent, readFunctionUrlResult } from './support/lambda-events.js';
import { startLambdaRuntime } from './support/lambda-runtime.js';
import { useSetup } from './support/setup.js';

describe('Lambda bundle against the Runtime API contract fake, fencing on a real API server', () => {
  // 6 s leave a worker 1 s of steps after the hand-off and save margins: less than one 2 s simulated power
  // transition, so the fence cannot finish without handing itself on.
  const TIMEOUT_MS = 6_000;
  const suite = useControlPlane();
  const setup = useSetup(
    async () => {
      const bundles = await functionBundles();
      const lambdaApi = await startLambdaApiStandIn();
      const runtime = await startLambdaRuntime({
        handlerFile: bundles.file('lambda'),
        bootstrapFile: bundles.file('lambda-bootstrap'),
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          // The demo cloud lives in the execution environment, which stays warm between events here too.
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_LAMBDA_ENDPOINT: lambdaApi.url,
          // As the alertfence ServiceAccount, bound only to infra/kubernetes/.
          KUBECONFIG: suite.cluster.alertfenceKubeconfig,
        },
      });
      return { lambdaApi, runtime };
    },
    async ({ lambdaApi, runtime }) => {
      await runtime.stop();
      await lambdaApi.stop();
    },
  );

  it('should fence a dead node from an alert through the Function URL and self-invoked workers that hand on before their deadline', async () => {
    const { lambdaApi, runtime } = setup();

    // Arrange
    await seedDeadNode(suite);
    const taints = await watchNodeTaints(suite, DEAD_NODE);

    try {
      // Act
      const ingress = readFunctionUrlResult(
        (
          await runtime.invoke(
            functionUrlEvent('POST', '/v1/alerts', {
              body: alertPayload([{ node: DEAD_NODE }, { node: 'worker-2' }]),
              token: TOKEN,
            }),
          )
        ).payload,
      );
      const delivered = await lambdaApi.deliver({
        invoke: (event) => runtime.invoke(event, { timeoutMs: TIMEOUT_MS }),
      });

      // Assess: the runtime contract.
      expect(ingress.statusCode, runtime.logs()).toBe(202);
      const results = (ingress.json as AlertsAnswer).results;
      expect(results).toEqual([
        expect.objectContaining({ node: DEAD_NODE, outcome: 'accepted' }),
        expect.objectContaining({ node: 'worker-2', outcome: 'refused', reason: 'NodeReady' }),
      ]);
      expect(delivered.length, runtime.logs()).toBeGreaterThanOrEqual(2);
      for (const { event, result } of delivered) {
        expect(event).toMatchObject({ functionName: 'alertfence', invocationType: 'Event' });
        expect(result.outcome, runtime.logs()).toBe('response');
        expect(result.answeredAt).toBeLessThan(result.deadlineMs);
      }
      const statuses = delivered.map(({ result }) => (result.payload as { status?: string }).status);
      expect(statuses.at(-1)).toBe('succeeded');
      expect(statuses.slice(0, -1).every((status) => status === 'continue')).toBe(true);
      expect(runtime.logs()).toContain('invocation time is up; handing the fence on');
      expect(runtime.api.violations).toEqual([]);

      // Assess: the API server.
      const journal = await assessFencedOnApiServer(suite, taints, delivered.length + 1);
      expect(journal?.id).toBe(results[0]?.fence?.id);
    } finally {
      taints.stop();
    }
  });
});
