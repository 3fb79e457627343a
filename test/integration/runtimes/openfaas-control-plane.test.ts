/**
 * The built OpenFaaS function (`openfaas.mjs`) started as of-watchdog starts its `fprocess`, fencing on a real
 * kube-apiserver as the alertfence ServiceAccount, with the simulated cloud and the gateway's
 * `/async-function/` queue stood in for (`support/openfaas-gateway.ts`). What only the watchdog does is left to
 * `test/emulators/openfaas-watchdog.test.ts` (README.md next to this file); the Kubernetes side here is real.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../peers/process.js';
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
import { assessGatewayContinuation } from './support/gateway-continuation.js';
import { startGatewayStandIn } from './support/openfaas-gateway.js';
import { startOpenFaasProcess } from './support/openfaas-process.js';
import { useSetup } from './support/setup.js';

describe('OpenFaaS function process fencing on a real API server, continued through the gateway', () => {
  // 6 s leave a call 1 s of steps after the hand-off and save margins: less than one 2 s simulated power
  // transition, so the fence cannot finish without queuing its own continuation.
  const EXEC_TIMEOUT_MS = 6_000;
  const suite = useControlPlane();
  const setup = useSetup(
    async () => {
      const bundles = await functionBundles();
      const dir = await tempDir('alertfence-openfaas-control-plane');
      // As OpenFaaS mounts the secret under /var/openfaas/secrets/<name>.
      const tokens = join(dir.path, 'alertfence-tokens');
      await writeFile(tokens, `${TOKEN}\n`);
      const gateway = await startGatewayStandIn();
      const fn = await startOpenFaasProcess({
        script: bundles.file('openfaas'),
        execTimeout: `${EXEC_TIMEOUT_MS / 1000}s`,
        env: {
          ALERTFENCE_TOKENS_FILE: tokens,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_OPENFAAS_GATEWAY: gateway.url,
          ALERTFENCE_OPENFAAS_FUNCTION: 'alertfence',
          // As the alertfence ServiceAccount, bound only to infra/kubernetes/.
          KUBECONFIG: suite.cluster.alertfenceKubeconfig,
        },
      });
      return { dir, gateway, fn };
    },
    async ({ dir, gateway, fn }) => {
      await fn.stop();
      await gateway.stop();
      await dir.remove();
    },
  );

  it('should fence a dead node from the webhook over /v1/fences/continue calls the gateway replays', async () => {
    const { gateway, fn } = setup();

    // Arrange
    await seedDeadNode(suite);
    const taints = await watchNodeTaints(suite, DEAD_NODE);

    try {
      // Act
      const accepted = await fetch(`${fn.url}/v1/alerts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(alertPayload([{ node: DEAD_NODE }, { node: 'worker-2' }])),
      });

      // Assess: the runtime contract (the gateway replays every call queued, the function's own included).
      expect(accepted.status, fn.logs()).toBe(202);
      const results = ((await accepted.json()) as AlertsAnswer).results;
      expect(results).toEqual([
        expect.objectContaining({ node: DEAD_NODE, outcome: 'accepted' }),
        expect.objectContaining({ node: 'worker-2', outcome: 'refused', reason: 'NodeReady' }),
      ]);
      const fenceId = results[0]?.fence?.id;
      await assessGatewayContinuation({
        gateway,
        url: fn.url,
        fenceId,
        execTimeoutMs: EXEC_TIMEOUT_MS,
        logs: () => fn.logs(),
      });
      expect(fn.logs()).toContain('invocation time is up; handing the fence on');

      // Assess: the API server.
      const journal = await assessFencedOnApiServer(suite, taints, gateway.calls.length + 1);
      expect(journal?.id).toBe(fenceId);
    } finally {
      taints.stop();
    }
  });
});
