/**
 * Every line a function writes is one JSON object, so that a log pipeline (CloudWatch Logs Insights, Loki,
 * the OpenFaaS logs) can read each of them. The processes run the built bundles, as the runtimes start them,
 * without `NODE_NO_WARNINGS`: the AWS SDK warns on Node 20 as the EC2 client is built, and a probe warning
 * is raised in each process on demand (SIGUSR2), so the test shows the capture on every Node version.
 */
import { describe, expect, it } from 'vitest';
import { freePort, type PeerProcess, startProcess, tempDir, waitUntil } from '../../peers/process.js';
import { functionBundles } from './support/bundles.js';
import { isolatedEnv, refusedAddress, TOKEN, writeKubeconfig } from './support/env.js';
import { functionUrlEvent, readFunctionUrlResult } from './support/lambda-events.js';
import { startLambdaRuntime } from './support/lambda-runtime.js';
import { startOpenFaasProcess } from './support/openfaas-process.js';

/** Loaded with `--import` before the function: raises a process warning of several lines on SIGUSR2. */
const PROBE = `data:text/javascript,${encodeURIComponent(
  "process.on('SIGUSR2', () => process.emitWarning('probe warning\\nsecond line', { type: 'ProbeWarning', code: 'PROBE1', detail: 'detail line' }));",
)}`;

/** The AWS SDK for JavaScript v3 warns once per process on Node versions below 22 (@aws-sdk/core). */
const SDK_WARNS = Number(process.versions.node.split('.')[0]) < 22;

/** The process's output as lines, each parsed; a line that is not one JSON object fails the test. */
function jsonLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new Error(`a line that is not JSON:\n${line}\n\nin:\n${output}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error(`a line that is not a JSON object:\n${line}`);
      }
      return parsed as Record<string, unknown>;
    });
}

/** The warning of each `process warning` line. */
function loggedWarnings(output: string): Array<{ name: string; message: string; code?: string }> {
  return jsonLines(output)
    .filter((line) => line.msg === 'process warning')
    .map((line) => line.warning as { name: string; message: string; code?: string });
}

/** Raises the probe warning in `peer` and waits until its log line is there. */
async function raiseProbeWarning(peer: PeerProcess): Promise<void> {
  process.kill(peer.pid, 'SIGUSR2');
  await waitUntil(() => peer.logs().includes('PROBE1'), {
    timeoutMs: 10_000,
    what: `the probe warning in the log of ${peer.name}`,
  });
}

describe('function logs', () => {
  it('should be JSON lines only from the Node server, process warnings included', async () => {
    // Prepare: the shipped defaults (EC2 driver), Kubernetes unreachable.
    const bundles = await functionBundles();
    const dir = await tempDir('alertfence-json-logs');
    const port = await freePort();
    const server = await startProcess({
      name: 'alertfence-server',
      command: process.execPath,
      args: ['--import', PROBE, bundles.file('server')],
      env: isolatedEnv({
        PORT: String(port),
        HOST: '127.0.0.1',
        KUBECONFIG: await writeKubeconfig(dir.path, await refusedAddress()),
        ALERTFENCE_TOKENS: TOKEN,
        ALERTFENCE_AWS_ENDPOINT: await refusedAddress(),
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
      }),
      ready: `http://127.0.0.1:${port}/healthz`,
    });
    try {
      // Act: /readyz runs the EC2 driver's pre-flight, which builds its client.
      await raiseProbeWarning(server);
      await fetch(`http://127.0.0.1:${port}/readyz`);

      // Assess
      const warnings = loggedWarnings(server.logs());
      expect(warnings).toContainEqual(
        expect.objectContaining({
          name: 'ProbeWarning',
          code: 'PROBE1',
          message: 'probe warning\nsecond line',
        }),
      );
      expect(warnings.some((warning) => warning.message.includes('NodeVersionSupportWarning'))).toBe(
        SDK_WARNS,
      );
      expect(jsonLines(server.logs()).some((line) => line.msg === 'listening')).toBe(true);
    } finally {
      await server.stop();
      await dir.remove();
    }
  });

  it('should be JSON lines only from the Lambda runtime and handler, process warnings included', async () => {
    // Prepare
    const bundles = await functionBundles();
    const dir = await tempDir('alertfence-json-logs');
    const lambda = await startLambdaRuntime({
      handlerFile: bundles.file('lambda'),
      bootstrapFile: bundles.file('lambda-bootstrap'),
      env: {
        ALERTFENCE_TOKENS: TOKEN,
        KUBECONFIG: await writeKubeconfig(dir.path, await refusedAddress()),
        ALERTFENCE_AWS_ENDPOINT: await refusedAddress(),
        NODE_OPTIONS: `--import=${PROBE}`,
      },
    });
    try {
      // Act: the first event builds the runtime, and with it the EC2 client.
      const invoked = await lambda.invoke(functionUrlEvent('GET', '/healthz'));
      await raiseProbeWarning(lambda.process);

      // Assess
      expect(readFunctionUrlResult(invoked.payload).statusCode, lambda.logs()).toBe(200);
      const warnings = loggedWarnings(lambda.logs());
      expect(warnings).toContainEqual(expect.objectContaining({ name: 'ProbeWarning', code: 'PROBE1' }));
      expect(warnings.some((warning) => warning.message.includes('NodeVersionSupportWarning'))).toBe(
        SDK_WARNS,
      );
    } finally {
      await lambda.stop();
      await dir.remove();
    }
  });

  it('should be JSON lines only from the OpenFaaS function process, process warnings included', async () => {
    // Prepare
    const bundles = await functionBundles();
    const dir = await tempDir('alertfence-json-logs');
    const fn = await startOpenFaasProcess({
      script: bundles.file('openfaas'),
      env: {
        ALERTFENCE_TOKENS: TOKEN,
        KUBECONFIG: await writeKubeconfig(dir.path, await refusedAddress()),
        ALERTFENCE_AWS_ENDPOINT: await refusedAddress(),
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        NODE_OPTIONS: `--import=${PROBE}`,
      },
    });
    try {
      // Act: /readyz runs the EC2 driver's pre-flight, which builds its client.
      await raiseProbeWarning(fn.process);
      await fetch(`${fn.url}/readyz`);

      // Assess
      const warnings = loggedWarnings(fn.logs());
      expect(warnings).toContainEqual(expect.objectContaining({ name: 'ProbeWarning', code: 'PROBE1' }));
      expect(warnings.some((warning) => warning.message.includes('NodeVersionSupportWarning'))).toBe(
        SDK_WARNS,
      );
    } finally {
      await fn.stop();
      await dir.remove();
    }
  });
});
