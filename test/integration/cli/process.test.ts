/**
 * The `alertfence` command as an operator runs it: a real child process, started the ways the docs say (`npx
 * alertfence` in the clone, the bundle of an installed package), its output on pipes, its exit code from the
 * process — against a stub of the API on loopback.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCommand, type TempDir, tempDir } from '../../peers/process.js';
import { refused } from '../../unit/cli/fixtures.js';
import { ANSI, type Stub, startStub, TOKEN } from '../../unit/cli/support.js';
import { ROOT } from '../runtimes/support/bundles.js';

const READY = { status: 200, body: { status: 'ready', paused: false } };

let stub: Stub;
beforeAll(async () => {
  stub = await startStub({
    'GET /readyz': READY,
    'GET /v1/fences': { status: 200, body: { paused: false, fences: [], rejected: [] } },
    'POST /v1/nodes/worker-2/fence': { status: 200, body: refused('NodeReady', 'node is Ready') },
    'GET /v1/nodes/worker-9/fences': {
      status: 404,
      body: { error: { code: 'not_found', message: 'no Node worker-9 and no fence of it' } },
    },
  });
});
afterAll(async () => {
  await stub.stop();
});

/** The environment of an operator's shell pointed at the stub (nothing of the developer's leaks in). */
const shell = (extra: Record<string, string> = {}) => ({
  ALERTFENCE_URL: stub.url,
  ALERTFENCE_TOKEN: TOKEN,
  ALERTFENCE_TOKEN_FILE: undefined,
  NO_COLOR: undefined,
  ...extra,
});

/** Runs `node bin/alertfence.mjs …` from the repository, as `npx alertfence` does. */
const alertfence = (args: string[], env = shell()) =>
  runCommand(process.execPath, [join(ROOT, 'bin/alertfence.mjs'), ...args], {
    cwd: ROOT,
    env,
    check: false,
    timeoutMs: 60_000,
  });

describe('the alertfence command as a process', () => {
  it('should resolve `npx alertfence` to this repository in its own clone', async () => {
    // Act: --offline, so that a failure to find it here can never fetch a package of that name instead.
    const result = await runCommand('npx', ['--offline', 'alertfence', '--help'], {
      cwd: ROOT,
      env: shell(),
      check: false,
      timeoutMs: 60_000,
    });

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Usage: alertfence [options] [command]');
    expect(result.stdout).toContain('Exit codes:');
  });

  it('should not colour its output on a pipe', async () => {
    // Act
    const status = await alertfence(['status']);
    const fence = await alertfence(['fence', 'worker-2']);

    // Assess
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/ready\s+yes/);
    expect(fence.stdout).toContain('worker-2: refused (NodeReady): node is Ready');
    expect(ANSI.test(status.stdout + status.stderr + fence.stdout + fence.stderr)).toBe(false);
  });

  it.each([
    [['fence', 'worker-2'], 1, 'refused (NodeReady)'],
    [['fence', 'Worker_2'], 2, 'is not a Node name'],
    [['history', 'worker-9'], 4, 'answered 404 not_found: no Node worker-9'],
  ])('should exit from %o with %i', async (args, code, message) => {
    // Act
    const result = await alertfence(args);

    // Assess
    expect(result.code).toBe(code);
    expect(result.stdout + result.stderr).toContain(message);
  });

  it('should exit 3 when nothing listens at ALERTFENCE_URL', async () => {
    // Prepare
    const port = await freePort();

    // Act
    const result = await alertfence(['status'], shell({ ALERTFENCE_URL: `http://127.0.0.1:${port}` }));

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `alertfence: cannot reach alertfence: GET http://127.0.0.1:${port}/readyz: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });
});

describe('the alertfence command of an installed package', () => {
  let work: TempDir;
  let bundle: string;
  beforeAll(async () => {
    work = await tempDir('alertfence-cli-package');
    await runCommand(
      process.execPath,
      [join(ROOT, 'scripts/build.mjs'), '--only', 'cli', '--outdir', join(work.path, 'build')],
      { cwd: ROOT, timeoutMs: 120_000 },
    );
    bundle = join(work.path, 'build/cli/alertfence.mjs');
  });
  afterAll(async () => {
    await work?.remove();
  });

  it('should bundle none of the server: the CLI borrows only types from functions/', async () => {
    // Act
    const map = JSON.parse(await readFile(`${bundle}.map`, 'utf8')) as { sources: string[] };

    // Assess
    const ours = map.sources.filter((source) => !source.includes('node_modules/'));
    expect(ours.some((source) => source.endsWith('cli/main.ts'))).toBe(true);
    expect(ours.filter((source) => /(^|\/)(functions|drivers)\//.test(source))).toEqual([]);
    expect(new Set(map.sources.filter((source) => source.includes('node_modules/')).map(packageOf))).toEqual(
      new Set(['commander']),
    );
  });

  it('should pack bin/ and the bundle, and run from the unpacked package without the source or tsx', async () => {
    // Prepare: the repository's package.json, bin and docs, and the bundle where prepack puts it.
    const source = join(work.path, 'source');
    await mkdir(join(source, 'bin'), { recursive: true });
    await mkdir(join(source, 'dist/cli'), { recursive: true });
    await mkdir(join(source, 'docs'), { recursive: true });
    await copyFile(join(ROOT, 'package.json'), join(source, 'package.json'));
    await copyFile(join(ROOT, 'bin/alertfence.mjs'), join(source, 'bin/alertfence.mjs'));
    await copyFile(join(ROOT, 'docs/cli.md'), join(source, 'docs/cli.md'));
    await copyFile(bundle, join(source, 'dist/cli/alertfence.mjs'));
    await copyFile(`${bundle}.map`, join(source, 'dist/cli/alertfence.mjs.map'));
    // The scripts that built it are not here: the bundle is packed as it is.
    const packed = await runCommand(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', work.path],
      {
        cwd: source,
        timeoutMs: 60_000,
      },
    );
    const [tarball] = JSON.parse(packed.stdout) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    const installed = join(work.path, 'installed');
    await mkdir(installed);
    await runCommand('tar', ['-xzf', join(work.path, tarball?.filename ?? ''), '-C', installed]);

    // Act
    const result = await runCommand(
      process.execPath,
      [join(installed, 'package/bin/alertfence.mjs'), 'status'],
      {
        cwd: installed,
        env: shell(),
        check: false,
      },
    );

    // Assess
    expect(tarball?.files.map((file) => file.path).sort()).toEqual([
      'bin/alertfence.mjs',
      'dist/cli/alertfence.mjs',
      'dist/cli/alertfence.mjs.map',
      'docs/cli.md',
      'package.json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ready\s+yes/);
  });
});

/** The npm package a bundled source file comes from. */
function packageOf(source: string): string {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1] ?? source;
}
