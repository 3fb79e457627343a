/**
 * The README's Quick start and its curl walkthrough, followed as a newcomer would follow them: the Quick
 * start's own commands, run in bash in a checkout of this repository, start `npm start` against a real API
 * server (as the alertfence ServiceAccount, through `~/.kube/config`) with the default `aws` driver on moto;
 * then every step of the walkthrough runs as written, disarmed, and again after the README's command that
 * arms it. The token is whatever the Quick start wrote to `./alertfence-token`, read back by the README's own
 * `export`. A change to either part of the README that breaks the story fails here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { startMoto } from '../../peers/moto.js';
import {
  freePort,
  type PeerProcess,
  runCommand,
  startProcess,
  tempDir,
  waitUntil,
} from '../../peers/process.js';
import { ec2Client, runInstance } from '../aws-ec2/moto-ec2.js';
import { putNode, useControlPlane } from '../kube/cluster.js';
import { ROOT } from './support/bundles.js';
import { isolatedEnv } from './support/env.js';
import { useSetup } from './support/setup.js';

interface Step {
  title: string;
  expected: number;
  /** The `outcome` the answer must carry, when the step names one (`# → 200 planned: …`). */
  outcome: string | undefined;
  command: string;
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The body of the README's ```` ```sh <name> ```` block. */
function block(name: string): string {
  const body = new RegExp(`\`\`\`sh ${name}\\n([\\s\\S]*?)\`\`\``).exec(README)?.[1];
  if (body === undefined) throw new Error(`README.md has no \`\`\`sh ${name} block`);
  return body;
}

/** The commands of a block, one a line (no comments, no continued lines in these blocks). */
function commands(name: string): string[] {
  return block(name)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * A walkthrough block, one step per paragraph: a `# → <status> [outcome]: why` comment, then the command
 * (continued lines included).
 */
function walkthrough(name: string): Step[] {
  return block(name)
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== '')
    .map((paragraph) => {
      const lines = paragraph.split('\n');
      const title = lines.find((line) => line.startsWith('#')) ?? '';
      const heading = /^# → (\d{3})(?: ([a-z-]+))?:/.exec(title);
      const command = lines.filter((line) => !line.startsWith('#')).join('\n');
      if (!heading || !command.startsWith('curl ')) {
        throw new Error(`walkthrough step without "# → <status>: …" and a curl command:\n${paragraph}`);
      }
      return { title: title.slice(2), expected: Number(heading[1]), outcome: heading[2], command };
    });
}

const quickStart = commands('quick-start');
const armedStart = commands('quick-start-armed');
const variables = block('curl-variables');
const disarmed = walkthrough('curl-walkthrough');
const armed = walkthrough('curl-walkthrough-armed');

/** What a newcomer's machine has that the README takes for granted. */
interface Newcomer {
  /** A checkout of the repository: the project's files, and the node_modules that `npm ci` installed. */
  checkout: string;
  /** The shell's environment: HOME with `~/.kube/config`, AWS credentials and region. */
  env: Record<string, string | undefined>;
  url: string;
  server?: PeerProcess;
}

/**
 * A checkout in a directory of its own, so the Quick start's `./alertfence-token` lands there and not in the
 * developer's: the repository's files linked in, node_modules included.
 */
async function checkoutOf(dir: string): Promise<string> {
  const checkout = join(dir, 'alertfence');
  await mkdir(checkout);
  for (const entry of [
    'package.json',
    'package-lock.json',
    '.npmrc',
    'tsconfig.json',
    'node_modules',
    'functions',
    'drivers',
    'scripts',
  ]) {
    await symlink(join(ROOT, entry), join(checkout, entry));
  }
  return checkout;
}

/** Runs a Quick start block: each command in bash in the checkout; `npm start` is left running. */
async function runQuickStart(newcomer: Newcomer, lines: string[]): Promise<PeerProcess> {
  let server: PeerProcess | undefined;
  for (const line of lines) {
    if (line === 'npm ci') {
      // The suite runs in a checkout that `npm ci` installed (CI's first step); running it here again would
      // replace the node_modules every other suite is using.
      expect(existsSync(join(ROOT, 'node_modules/.package-lock.json'))).toBe(true);
    } else if (line.endsWith('npm start')) {
      server = await startProcess({
        name: 'npm start',
        command: 'bash',
        args: ['-c', line],
        cwd: newcomer.checkout,
        env: newcomer.env,
        ready: `${newcomer.url}/healthz`,
        timeoutMs: 60_000,
        stopGraceMs: 30_000,
      });
    } else {
      await runCommand('bash', ['-c', line], { cwd: newcomer.checkout, env: newcomer.env });
    }
  }
  if (!server) throw new Error(`the Quick start block does not start the server:\n${lines.join('\n')}`);
  return server;
}

/**
 * Runs one walkthrough step as written, after the README's variables (the token read back from the file);
 * only the URL is the test's own, since the suite cannot count on port 8080 being free.
 */
async function runStep(newcomer: Newcomer, step: Step) {
  const script = `${variables}\nexport ALERTFENCE_URL=${newcomer.url}\n${step.command}`;
  const result = await runCommand('bash', ['-c', script], {
    cwd: newcomer.checkout,
    env: newcomer.env,
    timeoutMs: 30_000,
  });
  return {
    status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(result.stdout)?.[1]),
    output: `${result.stdout}\n--- server log ---\n${newcomer.server?.logs() ?? ''}`,
    body: result.stdout.slice(result.stdout.indexOf('\r\n\r\n') + 4),
  };
}

/** An EC2 instance on moto for a node, and the node's providerID. */
async function instanceFor(ec2: EC2Client): Promise<string> {
  const instance = await runInstance(ec2);
  return `aws:///${instance.Placement?.AvailabilityZone}/${instance.InstanceId}`;
}

describe('the README Quick start and curl walkthrough', () => {
  const suite = useControlPlane();
  const setup = useSetup(
    async (): Promise<Newcomer & { stop(): Promise<void> }> => {
      const moto = await startMoto();
      const ec2 = ec2Client(moto);
      const dir = await tempDir('alertfence-newcomer');
      // worker-1 dead for an hour, worker-2 and worker-3 healthy, as the walkthrough says; each an instance.
      await putNode(suite, { name: 'worker-1', ready: false, providerID: await instanceFor(ec2) });
      for (const name of ['worker-2', 'worker-3']) {
        await putNode(suite, { name, ready: true, providerID: await instanceFor(ec2) });
      }
      const home = join(dir.path, 'home');
      await mkdir(join(home, '.kube'), { recursive: true });
      await copyFile(suite.cluster.alertfenceKubeconfig, join(home, '.kube/config'));
      const port = await freePort();
      const newcomer: Newcomer & { stop(): Promise<void> } = {
        checkout: await checkoutOf(dir.path),
        url: `http://127.0.0.1:${port}`,
        env: isolatedEnv({
          HOME: home,
          PORT: String(port),
          HOST: '127.0.0.1',
          // What `aws configure` would have given the newcomer's shell, pointed at moto instead of EC2.
          AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
          AWS_REGION: moto.region,
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          ALERTFENCE_AWS_ENDPOINT: moto.endpoint,
        }),
        async stop() {
          await newcomer.server?.stop();
          ec2.destroy();
          await moto.stop();
          await dir.remove();
        },
      };
      return newcomer;
    },
    (newcomer) => newcomer.stop(),
  );

  it('should start the server disarmed with the Quick start commands, its token in ./alertfence-token', async () => {
    const newcomer = setup();

    // Act
    newcomer.server = await runQuickStart(newcomer, quickStart);

    // Assess
    const token = readFileSync(join(newcomer.checkout, 'alertfence-token'), 'utf8').trim();
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    expect(newcomer.server.logs()).toMatch(/"msg":"listening".*"dryRun":true.*"drivers":\["aws"\]/);
  });

  it.each(disarmed.map((step, index) => [index + 1, step.title, step] as const))(
    'disarmed step %i (%s)',
    async (_index, _title, step) => {
      const newcomer = setup();

      // Act
      const answer = await runStep(newcomer, step);

      // Assess
      expect(answer.status, answer.output).toBe(step.expected);
      if (step.outcome) expect(answer.body, answer.output).toContain(`"outcome":"${step.outcome}"`);
    },
  );

  it('should restart armed with the README command that arms it', async () => {
    const newcomer = setup();
    await newcomer.server?.stop();

    // Act
    newcomer.server = await runQuickStart(newcomer, armedStart);

    // Assess
    expect(newcomer.server.logs()).toMatch(/"msg":"listening".*"dryRun":false/);
  });

  it.each(armed.map((step, index) => [index + 1, step.title, step] as const))(
    'armed step %i (%s)',
    async (_index, _title, step) => {
      const newcomer = setup();

      // Act
      const answer = await runStep(newcomer, step);

      // Assess
      expect(answer.status, answer.output).toBe(step.expected);
      if (step.outcome) expect(answer.body, answer.output).toContain(`"outcome":"${step.outcome}"`);
    },
  );

  it('should finish the fence the walkthrough started, as its journal step shows when repeated', async () => {
    const newcomer = setup();
    const journalStep = armed.find((step) => step.title.includes('repeat until "status": "succeeded"'));
    if (!journalStep) throw new Error('the armed walkthrough has no journal step to repeat');

    // Act: "repeat until", bounded: the fence powers off and on through moto, releases and deletes the Node.
    const answer = await waitUntil(
      async () => {
        const repeated = await runStep(newcomer, journalStep);
        return repeated.body.includes('"status":"succeeded"') ? repeated : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, what: 'the journal of worker-1 to say "succeeded"' },
    );

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('"phase":"Done"');
  });

  it('should have walked through every answer the README shows', () => {
    // Assess: the README's story, so that a step dropped from it is a decision, not an accident.
    expect(disarmed.map((step) => `${step.expected} ${step.outcome ?? ''}`.trim())).toEqual([
      '200',
      '200',
      '401',
      '200 planned',
      '200 refused',
      '202 planned',
      '400',
    ]);
    expect(armed.map((step) => `${step.expected} ${step.outcome ?? ''}`.trim())).toEqual([
      '200 planned',
      '202 accepted',
      '200',
      '200',
    ]);
  });
});
