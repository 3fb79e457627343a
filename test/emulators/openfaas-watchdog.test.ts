import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBundles, functionBundles } from '../integration/runtimes/support/bundles.js';
import { startTarpit, TOKEN, writeKubeconfig } from '../integration/runtimes/support/env.js';
import { assessGatewayContinuation } from '../integration/runtimes/support/gateway-continuation.js';
import { startGatewayStandIn } from '../integration/runtimes/support/openfaas-gateway.js';
import { useSetup } from '../integration/runtimes/support/setup.js';
import { tempDir, waitUntil } from '../peers/process.js';
import { alertPayload } from '../support/world.js';
import { startWatchdog } from './support/watchdog.js';

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

describe('OpenFaaS function behind the real of-watchdog (HTTP mode)', () => {
  const setup = useSetup(
    async () => {
      const bundles = await functionBundles();
      const dir = await tempDir('alertfence-openfaas');
      // An API server that accepts connections and never answers: requests that need it outlive exec_timeout.
      const tarpit = await startTarpit();
      await writeFile(join(dir.path, 'alertfence-tokens'), `${TOKEN}\n`);
      const watchdog = await startWatchdog({
        fprocess: `${process.execPath} ${bundles.file('openfaas')}`,
        execTimeout: '2s',
        env: {
          // As OpenFaaS mounts the secret under /var/openfaas/secrets/<name>.
          ALERTFENCE_TOKENS_FILE: join(dir.path, 'alertfence-tokens'),
          KUBECONFIG: await writeKubeconfig(dir.path, tarpit.url),
          ALERTFENCE_DRIVERS: 'simulated',
        },
      });
      return { dir, tarpit, watchdog };
    },
    async ({ dir, tarpit, watchdog }) => {
      await watchdog.stop();
      await tarpit.stop();
      await dir.remove();
    },
  );

  it("should answer the watchdog's health endpoint", async () => {
    const { watchdog } = setup();

    // Act
    const response = await fetch(`${watchdog.url}/_/health`);

    // Assess
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('OK');
  });

  it('should answer a request proxied through the watchdog', async () => {
    const { watchdog } = setup();

    // Act
    const response = await fetch(`${watchdog.url}/healthz`);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('x-duration-seconds')).toMatch(/^\d+\.\d+$/);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('should reject an alert without the token read from the secret file', async () => {
    const { watchdog } = setup();

    // Act
    const response = await fetch(`${watchdog.url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer not-the-secret-token-xx' },
      body: JSON.stringify(alertPayload([{ node: 'worker-1' }])),
    });

    // Assess
    expect(response.status).toBe(401);
  });

  it('should be cut off by the watchdog with 504 once exec_timeout passes', async () => {
    const { watchdog } = setup();

    // Act: /readyz waits on the API server, which never answers.
    const started = performance.now();
    const response = await fetch(`${watchdog.url}/readyz`);
    const elapsed = performance.now() - started;

    // Assess
    expect(response.status).toBe(504);
    expect(response.headers.get('x-openfaas-internal')).toBe('of-watchdog');
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(6_000);
    expect(watchdog.logs()).toContain('Upstream HTTP killed due to exec_timeout: 2s');
  });
});

describe('OpenFaaS function shutting down behind the watchdog', () => {
  it('should stop on the SIGTERM the watchdog forwards, and exit 0', async () => {
    // Arrange
    const bundles = await functionBundles();
    const dir = await tempDir('alertfence-openfaas-stop');
    const watchdog = await startWatchdog({
      fprocess: `${process.execPath} ${bundles.file('openfaas')}`,
      env: {
        ALERTFENCE_TOKENS: TOKEN,
        KUBECONFIG: await writeKubeconfig(dir.path, 'https://127.0.0.1:1'),
        ALERTFENCE_DRIVERS: 'simulated',
      },
    });
    try {
      // Act: SIGTERM to the watchdog alone, as the kubelet sends it; the watchdog forwards it to the function.
      process.kill(watchdog.process.pid, 'SIGTERM');
      await waitUntil(() => watchdog.process.exitStatus(), {
        timeoutMs: 20_000,
        what: 'the watchdog to exit',
      });

      // Assess: the function logged its shutdown, and the watchdog did not see it die (a non-zero exit of the
      // function is fatal to the watchdog and logged).
      expect(watchdog.logs()).toContain('"msg":"shutting down","component":"alertfence","signal":"SIGTERM"');
      expect(watchdog.logs()).toContain('"msg":"stopped"');
      expect(watchdog.logs()).not.toContain('Forked function has terminated');
      expect(watchdog.process.exitStatus()).toBe('exit code 0');
    } finally {
      await watchdog.stop();
      await dir.remove();
    }
  });
});

describe("OpenFaaS continuation through the gateway's /async-function/ path", () => {
  const EXEC_TIMEOUT_MS = 8_000;
  const setup = useSetup(
    async () => {
      const bundles = await buildBundles({
        'openfaas-fake-cluster': 'test/integration/runtimes/fixtures/openfaas-fake-cluster.ts',
      });
      const launcher = join(bundles.dir.path, 'run-openfaas-fixture.mjs');
      await writeFile(launcher, "await import('./openfaas-fake-cluster.mjs');\n");
      const gateway = await startGatewayStandIn();
      const watchdog = await startWatchdog({
        fprocess: `${process.execPath} ${launcher}`,
        execTimeout: `${EXEC_TIMEOUT_MS / 1000}s`,
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: 'emulator-test-journal-key-0123456789abcdef',
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_OPENFAAS_GATEWAY: gateway.url,
          ALERTFENCE_OPENFAAS_FUNCTION: 'alertfence',
          FIXTURE_TRANSITION_MS: '4000',
        },
      });
      return { bundles, gateway, watchdog };
    },
    async ({ bundles, gateway, watchdog }) => {
      await watchdog.stop();
      await gateway.stop();
      await bundles.dir.remove();
    },
  );

  it('should queue the fence with the gateway and finish it over replayed calls that each answer before exec_timeout', async () => {
    const { gateway, watchdog } = setup();

    // Act 1: the alert through the watchdog.
    const accepted = await fetch(`${watchdog.url}/v1/alerts`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(alertPayload([{ node: 'worker-1' }])),
    });

    // Assess 1: answered at once; the continuation was queued at /async-function/ with a bearer token.
    expect(accepted.status, watchdog.logs()).toBe(202);
    const fenceId = ((await accepted.json()) as { results: Array<{ fence?: { id: string } }> }).results[0]
      ?.fence?.id;
    await assessGatewayContinuation({
      gateway,
      url: watchdog.url,
      fenceId,
      execTimeoutMs: EXEC_TIMEOUT_MS,
      logs: () => watchdog.logs(),
    });
    expect(watchdog.logs()).not.toContain('Upstream HTTP killed due to exec_timeout');
  });
});
