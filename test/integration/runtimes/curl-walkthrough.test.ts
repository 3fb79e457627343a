import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../peers/process.js';
import { seedFakeCluster } from './fixtures/fake-cluster.js';
import { startAppServer } from './support/app-server.js';
import { ROOT } from './support/bundles.js';
import { JOURNAL_KEY, TOKEN } from './support/env.js';
import { useSetup } from './support/setup.js';

interface Step {
  title: string;
  expected: number;
  command: string;
}

/**
 * The `sh curl-walkthrough` block of the walkthrough, one step per paragraph: a `# → <status>: why` comment,
 * then the command (continued lines included).
 */
function readWalkthrough(markdown: string): Step[] {
  const block = /```sh curl-walkthrough\n([\s\S]*?)```/.exec(markdown)?.[1];
  if (!block) throw new Error('README.md has no ```sh curl-walkthrough block');
  return block
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== '')
    .map((paragraph) => {
      const lines = paragraph.split('\n');
      const title = lines.find((line) => line.startsWith('#')) ?? '';
      const expected = /^# → (\d{3})\b/.exec(title)?.[1];
      const command = lines.filter((line) => !line.startsWith('#')).join('\n');
      if (!expected || !command.startsWith('curl ')) {
        throw new Error(`walkthrough step without "# → <status>" and a curl command:\n${paragraph}`);
      }
      return { title: title.slice(2), expected: Number(expected), command };
    });
}

const steps = readWalkthrough(readFileSync(join(ROOT, 'README.md'), 'utf8'));

describe('the README curl walkthrough', () => {
  const setup = useSetup(
    () => {
      // worker-1 dead for an hour, worker-2..4 healthy, on the simulated cloud; armed, as the text says.
      const { kube, driver } = seedFakeCluster(300);
      return startAppServer({
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          ALERTFENCE_DRIVERS: 'simulated',
        },
        kube,
        drivers: [driver],
      });
    },
    (server) => server.stop(),
  );

  it('should have a step for each thing the walkthrough shows', () => {
    expect(steps.map((step) => step.expected)).toEqual([200, 200, 401, 200, 200, 202, 200, 200, 202, 400]);
  });

  it.each(steps.map((step, index) => [index + 1, step.title, step] as const))(
    'step %i (%s)',
    async (_index, _title, step) => {
      const server = setup();

      // Act: the command exactly as written, in bash, with the two variables the text exports.
      const result = await runCommand('bash', ['-c', step.command], {
        env: { ALERTFENCE_URL: server.url, TOKEN },
        timeoutMs: 30_000,
      });

      // Assess
      const status = /^HTTP\/[\d.]+ (\d{3})/.exec(result.stdout)?.[1];
      expect(Number(status), result.stdout).toBe(step.expected);
    },
  );
});
