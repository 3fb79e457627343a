import { describe, expect, it } from 'vitest';
import { journalLeaseName } from '../../functions/fence/journal.js';
import { putNode, readNode, useControlPlane } from '../integration/kube/cluster.js';
import { functionBundles } from '../integration/runtimes/support/bundles.js';
import { TOKEN } from '../integration/runtimes/support/env.js';
import { startLambdaApiStandIn } from '../integration/runtimes/support/lambda-api.js';
import { functionUrlEvent, readFunctionUrlResult } from '../integration/runtimes/support/lambda-events.js';
import { startRie } from '../integration/runtimes/support/rie.js';
import { useSetup } from '../integration/runtimes/support/setup.js';
import { peekJournal as readJournal } from '../support/peek-journal.js';
import { alertPayload } from '../support/world.js';

describe('Lambda bundle under the emulator, fencing on a real API server', () => {
  const TIMEOUT_SECONDS = 8;
  const suite = useControlPlane();
  const setup = useSetup(
    async () => {
      const bundles = await functionBundles();
      const lambdaApi = await startLambdaApiStandIn();
      const rie = await startRie({
        handlerFile: bundles.file('lambda'),
        bootstrapFile: bundles.file('lambda-bootstrap'),
        timeoutSeconds: TIMEOUT_SECONDS,
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: 'emulator-test-journal-key-0123456789abcdef',
          // The demo cloud lives in the execution environment, which the emulator keeps warm between events.
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_LAMBDA_ENDPOINT: lambdaApi.url,
          // As the alertfence ServiceAccount, bound only to infra/kubernetes/.
          KUBECONFIG: suite.cluster.alertfenceKubeconfig,
        },
      });
      return { lambdaApi, rie };
    },
    async ({ lambdaApi, rie }) => {
      await rie.stop();
      await lambdaApi.stop();
    },
  );

  it('should fence a dead node from an alert through the Function URL and the self-invoked workers', async () => {
    const { lambdaApi, rie } = setup();

    // Arrange
    await putNode(suite, { name: 'worker-1', ready: false, providerID: 'simulated:///i-worker-1' });
    for (const name of ['worker-2', 'worker-3']) {
      await putNode(suite, { name, ready: true, providerID: `simulated:///i-${name}` });
    }

    // Act
    const ingress = readFunctionUrlResult(
      (
        await rie.invoke(
          functionUrlEvent('POST', '/v1/alerts', {
            body: alertPayload([{ node: 'worker-1' }]),
            token: TOKEN,
          }),
        )
      ).payload,
    );
    const delivered = await lambdaApi.deliver(rie);

    // Assess
    expect(ingress.statusCode, rie.logs()).toBe(202);
    expect(delivered.length, rie.logs()).toBeGreaterThanOrEqual(1);
    expect(delivered.at(-1)?.result.payload).toMatchObject({ status: 'succeeded' });
    for (const { result } of delivered) expect(result.durationMs).toBeLessThan(TIMEOUT_SECONDS * 1000);
    const lease = await suite.kube.getLease('alertfence', journalLeaseName('worker-1'));
    expect(readJournal(lease)).toMatchObject({
      status: 'succeeded',
      phase: 'Done',
      attempt: delivered.length + 1,
    });
    expect(await readNode(suite.core, 'worker-1')).toBeUndefined();
    expect(await readNode(suite.core, 'worker-2')).toBeDefined();
  });
});
