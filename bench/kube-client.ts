/**
 * Before and after Kubernetes access moved onto `@kubernetes/client-node` (issue #13, item 6): the Lambda
 * bundle's size and its cold start under the real Lambda Runtime Interface Emulator, for the baseline commit
 * (alertfence's own REST client) and for the working tree, built by the same `scripts/build.mjs` options and
 * measured in turns so that a busy moment on a shared machine does not land on one side only.
 */
import { symlink, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BundleReport, ROOT } from '../test/integration/runtimes/support/bundles.js';
import {
  isolatedEnv,
  refusedAddress,
  TOKEN,
  writeKubeconfig,
} from '../test/integration/runtimes/support/env.js';
import { functionUrlEvent } from '../test/integration/runtimes/support/lambda-events.js';
import { startRie } from '../test/integration/runtimes/support/rie.js';
import { runCommand, type TempDir, tempDir } from '../test/peers/process.js';
import { type Stats, stats } from './stats.js';

/** The last commit with alertfence's own Kubernetes REST client (`functions/kube/transport.ts` over `node:https`). */
export const KUBE_CLIENT_BASELINE = '4b8e6e6';

/** The library and the packages it brings into the Lambda bundle. */
const LIBRARY_PACKAGES = [
  '@kubernetes/client-node',
  'js-yaml',
  'node-fetch',
  'hpagent',
  'socks-proxy-agent',
  'socks',
  'ip-address',
  'smart-buffer',
  'agent-base',
  'debug',
  'ms',
  'supports-color',
  'has-flag',
  'rfc4648',
  'jsonpath-plus',
  'openid-client',
  'oauth4webapi',
  'jose',
  'whatwg-url',
  'tr46',
  'webidl-conversions',
];

/** One side of the comparison. */
export interface LambdaColdStart {
  /** Minified bytes of the Lambda bundle, and gzipped. */
  bytes: number;
  gzipBytes: number;
  /** Bytes of `@kubernetes/client-node` and the packages it brings, in that bundle. */
  kubeLibraryBytes: number;
  /** The emulator's `INIT REPORT`: runtime process start until it asks for the first event. */
  initMs: Stats;
  /** Round trip of the first Function URL event (`GET /healthz`, which builds the runtime). */
  firstAnswerMs: Stats;
  /**
   * Loading the bundle in a fresh `node` (no request): wall time, and the CPU time it took, which a busy
   * machine stretches far less than the wall time.
   */
  importMs: Stats;
  importCpuMs: Stats;
}

export interface KubeClientBench {
  runs: number;
  /** The machine's 1, 5 and 15 minute load averages when the runs began and when they ended. */
  load: { before: number[]; after: number[] };
  baseline: LambdaColdStart & { commit: string };
  current: LambdaColdStart;
  /** current − baseline. */
  delta: {
    bytes: number;
    gzipBytes: number;
    initMedianMs: number;
    firstAnswerMedianMs: number;
    importMedianMs: number;
    importCpuMedianMs: number;
  };
}

interface Built {
  dir: TempDir;
  lambda: BundleReport;
  bootstrap: BundleReport;
}

/** `scripts/build.mjs` of a source tree, for the Lambda handler and its bootstrap only. */
async function buildLambda(sourceRoot: string): Promise<Built> {
  const dir = await tempDir('alertfence-bench-lambda');
  const result = await runCommand(
    process.execPath,
    [
      join(sourceRoot, 'scripts/build.mjs'),
      '--json',
      '--outdir',
      dir.path,
      '--entry',
      'lambda=functions/lambda.ts',
      '--entry',
      'lambda-bootstrap=functions/lambda-bootstrap.ts',
    ],
    { cwd: sourceRoot, timeoutMs: 180_000 },
  );
  const reports = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '[]') as BundleReport[];
  const find = (name: string) => {
    const report = reports.find((candidate) => candidate.name === name);
    if (!report) throw new Error(`${sourceRoot}: no ${name} bundle`);
    return report;
  };
  return { dir, lambda: find('lambda'), bootstrap: find('lambda-bootstrap') };
}

/** The baseline commit's sources, with this tree's `node_modules` (the same package versions). */
async function checkout(commit: string): Promise<TempDir> {
  const dir = await tempDir('alertfence-bench-baseline');
  const archive = join(dir.path, 'source.tar');
  await runCommand('git', ['archive', '--format=tar', '-o', archive, commit], { cwd: ROOT });
  await runCommand('tar', ['-xf', archive, '-C', dir.path]);
  await symlink(join(ROOT, 'node_modules'), join(dir.path, 'node_modules'), 'dir');
  return dir;
}

/** One cold start: a fresh emulator and runtime process, its init, and the first event's round trip. */
async function coldStart(built: Built, env: Record<string, string>) {
  const rie = await startRie({ handlerFile: built.lambda.file, bootstrapFile: built.bootstrap.file, env });
  try {
    const first = await rie.invoke(functionUrlEvent('GET', '/healthz'));
    const answer = first.payload as { statusCode?: number };
    // A misconfigured function answers 500 without building its Kubernetes access: not what is measured here.
    if (answer.statusCode !== 200) {
      throw new Error(`GET /healthz answered ${JSON.stringify(first.payload)}:\n${rie.logs()}`);
    }
    const initMs = rie.initDurationMs();
    if (initMs === undefined) throw new Error(`no INIT REPORT in the emulator's log:\n${rie.logs()}`);
    return { initMs, firstAnswerMs: first.durationMs };
  } finally {
    await rie.stop();
  }
}

/** A script that imports the module named by its argument and prints `<wall ms> <cpu ms>`. */
const IMPORT_PROBE = [
  'const cpu = process.cpuUsage();',
  'const started = performance.now();',
  'await import(process.argv[2]);',
  'const used = process.cpuUsage(cpu);',
  "process.stdout.write([performance.now() - started, (used.user + used.system) / 1000].join(' '));",
  'process.exit(0);',
].join('\n');

async function importTime(probe: string, file: string): Promise<{ wallMs: number; cpuMs: number }> {
  const result = await runCommand(process.execPath, [probe, pathToFileURL(file).href], {
    env: isolatedEnv({ NODE_NO_WARNINGS: '1' }),
  });
  const [wallMs, cpuMs] = result.stdout.trim().split(' ').map(Number);
  return { wallMs: wallMs ?? Number.NaN, cpuMs: cpuMs ?? Number.NaN };
}

const loadAverage = () => loadavg().map((value) => Math.round(value * 100) / 100);

const libraryBytes = (report: BundleReport) =>
  report.packages
    .filter((entry) => LIBRARY_PACKAGES.includes(entry.name))
    .reduce((sum, entry) => sum + entry.bytes, 0);

/**
 * Builds the Lambda bundle of the baseline commit and of the working tree, and measures each `runs` times
 * under the Runtime Interface Emulator (default 10, for a median of 10).
 *
 * @example
 * const result = await benchKubeClient({ runs: 10 });
 * console.log(result.delta.initMedianMs);
 */
export async function benchKubeClient(
  options: { runs?: number; baseline?: string } = {},
): Promise<KubeClientBench> {
  const runs = options.runs ?? 10;
  const commit = options.baseline ?? KUBE_CLIENT_BASELINE;
  const work = await tempDir('alertfence-bench-kube');
  const source = await checkout(commit);
  const sides: Built[] = [];
  try {
    sides.push(await buildLambda(source.path), await buildLambda(ROOT));
    const env = {
      ALERTFENCE_TOKENS: TOKEN,
      KUBECONFIG: await writeKubeconfig(work.path, await refusedAddress()),
      // Both sides must build their Kubernetes access; the bench kubeconfig skips TLS checks.
      ALERTFENCE_KUBE_ALLOW_INSECURE_TLS: 'true',
      ALERTFENCE_DRIVERS: 'aws',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      NODE_NO_WARNINGS: '1',
    };
    const probe = join(work.path, 'import-time.mjs');
    await writeFile(probe, IMPORT_PROBE);
    const samples = sides.map(() => ({
      init: [] as number[],
      first: [] as number[],
      importWall: [] as number[],
      importCpu: [] as number[],
    }));
    const loadBefore = loadAverage();
    for (let run = 0; run < runs; run += 1) {
      for (const [index, side] of sides.entries()) {
        const measured = await coldStart(side, isolatedEnv(env) as Record<string, string>);
        const loaded = await importTime(probe, side.lambda.file);
        samples[index]?.init.push(measured.initMs);
        samples[index]?.first.push(measured.firstAnswerMs);
        samples[index]?.importWall.push(loaded.wallMs);
        samples[index]?.importCpu.push(loaded.cpuMs);
      }
    }
    const [before, after] = sides.map((side, index) => ({
      bytes: side.lambda.bytes,
      gzipBytes: side.lambda.gzipBytes,
      kubeLibraryBytes: libraryBytes(side.lambda),
      initMs: stats(samples[index]?.init ?? []),
      firstAnswerMs: stats(samples[index]?.first ?? []),
      importMs: stats(samples[index]?.importWall ?? []),
      importCpuMs: stats(samples[index]?.importCpu ?? []),
    })) as [LambdaColdStart, LambdaColdStart];
    const round = (value: number) => Math.round(value * 10) / 10;
    return {
      runs,
      load: { before: loadBefore, after: loadAverage() },
      baseline: { commit, ...before },
      current: after,
      delta: {
        bytes: after.bytes - before.bytes,
        gzipBytes: after.gzipBytes - before.gzipBytes,
        initMedianMs: round(after.initMs.medianMs - before.initMs.medianMs),
        firstAnswerMedianMs: round(after.firstAnswerMs.medianMs - before.firstAnswerMs.medianMs),
        importMedianMs: round(after.importMs.medianMs - before.importMs.medianMs),
        importCpuMedianMs: round(after.importCpuMs.medianMs - before.importCpuMs.medianMs),
      },
    };
  } finally {
    for (const side of sides) await side.dir.remove();
    await source.remove();
    await work.remove();
  }
}

/** A plain-text summary of {@link benchKubeClient}'s result. */
export function formatKubeClientBench(result: KubeClientBench): string {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  const ms = (value: Stats) => `${value.medianMs} ms (min ${value.minMs}, max ${value.maxMs})`;
  const side = (name: string, value: LambdaColdStart) =>
    [
      `  ${name}: bundle ${kib(value.bytes)} (gzip ${kib(value.gzipBytes)}, Kubernetes library ${kib(value.kubeLibraryBytes)})`,
      `    init ${ms(value.initMs)}; first answer ${ms(value.firstAnswerMs)}`,
      `    import ${ms(value.importMs)}, CPU ${ms(value.importCpuMs)}`,
    ].join('\n');
  const sign = (value: number) => (value > 0 ? `+${value}` : String(value));
  return [
    `Kubernetes access, Lambda under the RIE, median of ${result.runs} (load ${result.load.before.join(' ')} → ${result.load.after.join(' ')}):`,
    side(`before (${result.baseline.commit})`, result.baseline),
    side('after (working tree)', result.current),
    `  change: bundle ${sign(Math.round(result.delta.bytes / 1024))} KiB, init ${sign(result.delta.initMedianMs)} ms, first answer ${sign(result.delta.firstAnswerMedianMs)} ms, import ${sign(result.delta.importMedianMs)} ms (CPU ${sign(result.delta.importCpuMedianMs)} ms)`,
  ].join('\n');
}
