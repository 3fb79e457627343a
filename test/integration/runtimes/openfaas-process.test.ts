/**
 * The built OpenFaaS function (`openfaas.mjs`, as `npm run build` makes it) started as of-watchdog in HTTP
 * mode starts its `fprocess` — the watchdog's environment with `upstream_url` and `exec_timeout`, the token
 * from a secret file — and spoken to over HTTP on its upstream port, where the watchdog would proxy to.
 *
 * These are contract tests against a stand-in for a runtime we cannot install: the Go module proxy answers
 * 403 for of-watchdog, and no other registry ships it, so CI cannot run it. What only the watchdog does (its
 * `/_/health`, the 504 at `exec_timeout`, forwarding SIGTERM) is shown by `test/emulators/openfaas-watchdog.test.ts`
 * (`npm run test:watchdog`, where a binary is provided), which remains the stronger proof.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir, waitUntil } from '../../peers/process.js';
import { alertPayload } from '../../support/world.js';
import { buildBundles, functionBundles } from './support/bundles.js';
import { JOURNAL_KEY, refusedAddress, TOKEN, WRONG_TOKEN, writeKubeconfig } from './support/env.js';
import type { AlertsAnswer } from './support/function-url-answers.js';
import { assessGatewayContinuation } from './support/gateway-continuation.js';
import { startGatewayStandIn } from './support/openfaas-gateway.js';
import { startOpenFaasProcess } from './support/openfaas-process.js';
import { useSetup } from './support/setup.js';

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** Writes the token as OpenFaaS mounts a secret: `/var/openfaas/secrets/<name>`, one token per line. */
async function writeTokenSecret(dir: string): Promise<string> {
  const path = join(dir, 'alertfence-tokens');
  await writeFile(path, `${TOKEN}\n`);
  return path;
}

/**
 * The fixture bundle (the OpenFaaS entrypoint with the in-memory cluster, worker-1 dead) and a launcher that
 * imports it, so that the bundled entrypoint's own "run as main" check stays off.
 */
async function buildFixture() {
  const bundles = await buildBundles({
    'openfaas-fake-cluster': 'test/integration/runtimes/fixtures/openfaas-fake-cluster.ts',
  });
  const launcher = join(bundles.dir.path, 'run-openfaas-fixture.mjs');
  await writeFile(launcher, "await import('./openfaas-fake-cluster.mjs');\n");
  return { bundles, launcher };
}

describe('OpenFaaS function process as of-watchdog starts it', () => {
  const setup = useSetup(
    async () => {
      const bundles = await functionBundles();
      const dir = await tempDir('alertfence-openfaas-process');
      const fn = await startOpenFaasProcess({
        script: bundles.file('openfaas'),
        execTimeout: '8s',
        env: {
          ALERTFENCE_TOKENS_FILE: await writeTokenSecret(dir.path),
          KUBECONFIG: await writeKubeconfig(dir.path, await refusedAddress()),
          ALERTFENCE_DRIVERS: 'simulated',
        },
      });
      return { dir, fn };
    },
    async ({ dir, fn }) => {
      await fn.stop();
      await dir.remove();
    },
  );

  it('should answer GET /healthz on upstream_url, having read exec_timeout from the environment', async () => {
    const { fn } = setup();

    // Act
    const response = await fetch(`${fn.url}/healthz`);

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
    expect(fn.logs()).toMatch(/"msg":"listening".*"continuation":"in-process","execTimeoutMs":8000/);
  });

  it.each([
    ['no token', undefined],
    ['a token that is not in the secret file', WRONG_TOKEN],
  ])('should answer 401 to an alert with %s', async (_case, token) => {
    const { fn } = setup();

    // Act
    const response = await fetch(`${fn.url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(alertPayload([{ node: 'worker-1' }])),
    });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="alertfence"/);
  });

  it('should let the token from the secret file in, and answer 503 while the API server is unreachable, so Alertmanager retries', async () => {
    const { fn } = setup();

    // Act
    const response = await fetch(`${fn.url}/v1/alerts`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(alertPayload([{ node: 'worker-1' }])),
    });

    // Assess
    expect(response.status).toBe(503);
    expect(((await response.json()) as AlertsAnswer).results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'failed', reason: 'ApiServerUnavailable' }),
    ]);
  });
});

describe("OpenFaaS function process continuing a fence through the gateway's /async-function/ path", () => {
  const EXEC_TIMEOUT_MS = 8_000;
  const setup = useSetup(
    async () => {
      const { bundles, launcher } = await buildFixture();
      const gateway = await startGatewayStandIn();
      const fn = await startOpenFaasProcess({
        script: launcher,
        execTimeout: `${EXEC_TIMEOUT_MS / 1000}s`,
        env: {
          ALERTFENCE_TOKENS_FILE: await writeTokenSecret(bundles.dir.path),
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_OPENFAAS_GATEWAY: gateway.url,
          ALERTFENCE_OPENFAAS_FUNCTION: 'alertfence',
          FIXTURE_TRANSITION_MS: '4000',
        },
      });
      return { bundles, gateway, fn };
    },
    async ({ bundles, gateway, fn }) => {
      await fn.stop();
      await gateway.stop();
      await bundles.dir.remove();
    },
  );

  it('should accept the webhook, queue the fence, and finish it over /v1/fences/continue calls that each answer before exec_timeout', async () => {
    const { gateway, fn } = setup();

    // Act 1: Alertmanager's webhook.
    const accepted = await fetch(`${fn.url}/v1/alerts`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(alertPayload([{ node: 'worker-1' }, { node: 'worker-2' }])),
    });

    // Assess 1: answered at once; the continuation was queued at /async-function/ with the secret's token.
    expect(accepted.status, fn.logs()).toBe(202);
    const results = ((await accepted.json()) as AlertsAnswer).results;
    expect(results).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'accepted' }),
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
  });

  it('should refuse /v1/fences/continue without a token, as anyone can reach the function', async () => {
    const { fn } = setup();

    // Act
    const response = await fetch(`${fn.url}/v1/fences/continue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ node: 'worker-1', fenceId: 'f-1', nonce: 'a-nonce-of-the-right-shape' }),
    });

    // Assess
    expect(response.status).toBe(401);
  });
});

describe('OpenFaaS function process on SIGTERM', () => {
  it('should save the running step of an in-process fence, and exit 0 within the grace period', async () => {
    // Arrange: no gateway, so the fence continues in this process.
    const { bundles, launcher } = await buildFixture();
    const fn = await startOpenFaasProcess({
      script: launcher,
      env: {
        ALERTFENCE_TOKENS_FILE: await writeTokenSecret(bundles.dir.path),
        ALERTFENCE_DRY_RUN: 'false',
        ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
        ALERTFENCE_DRIVERS: 'simulated',
        FIXTURE_TRANSITION_MS: '4000',
      },
    });
    try {
      const accepted = await fetch(`${fn.url}/v1/alerts`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(alertPayload([{ node: 'worker-1' }])),
      });
      expect(accepted.status, fn.logs()).toBe(202);
      await waitUntil(
        async () => {
          const response = await fetch(`${fn.url}/v1/nodes/worker-1/fence`, { headers: auth });
          const journal = (await response.json()) as { phase?: string };
          return journal.phase === 'Mark' || journal.phase === 'PowerOff';
        },
        { timeoutMs: 20_000, intervalMs: 50, what: 'the fence to be past Lock' },
      );

      // Act: SIGTERM, as of-watchdog forwards the kubelet's.
      const started = performance.now();
      process.kill(fn.process.pid, 'SIGTERM');
      await waitUntil(() => fn.process.exitStatus(), { timeoutMs: 30_000, what: 'the function to exit' });

      // Assess
      expect(fn.process.exitStatus(), fn.logs()).toBe('exit code 0');
      expect(performance.now() - started).toBeLessThan(25_000);
      expect(fn.logs()).toMatch(/"msg":"shutting down".*"signal":"SIGTERM","activeFences":1/);
      expect(fn.logs()).toContain('stopping on request; the journal holds the progress');
      expect(fn.logs()).toMatch(/"msg":"stopped","component":"alertfence","signal":"SIGTERM"/);
    } finally {
      await fn.stop();
      await bundles.dir.remove();
    }
  });
});
