import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BundleReport, buildBundles } from '../test/integration/runtimes/support/bundles.js';
import {
  isolatedEnv,
  refusedAddress,
  TOKEN,
  writeKubeconfig,
} from '../test/integration/runtimes/support/env.js';
import { functionUrlEvent } from '../test/integration/runtimes/support/lambda-events.js';
import { startRie } from '../test/integration/runtimes/support/rie.js';
import { freePort, runCommand, tempDir } from '../test/peers/process.js';
import { type Stats, stats } from './stats.js';

/** The targets on this machine. */
export const TARGETS = { bundleBytes: 1.5 * 1024 * 1024, initMs: 250 } as const;

export interface BundleSize {
  name: string;
  bytes: number;
  gzipBytes: number;
  overTarget: boolean;
  /** The heaviest packages in the bundle, bytes of output each. */
  heaviest: Array<{ name: string; bytes: number }>;
}

/** What leaving one dependency out of the Lambda bundle would save: its real cost in bytes and load time. */
export interface DependencyCost {
  dependency: string;
  bytes: number;
  /** Median load time of the bundle without it, and the difference to the full bundle. */
  importMs: number;
  importMsSaved: number;
}

export interface RuntimeBench {
  machine: { node: string; cpus: number; cpuModel: string; loadAverage: number[] };
  targets: typeof TARGETS;
  bundles: BundleSize[];
  coldStart: {
    /** A bare `node:http` server, same measure: what any Node process costs on this machine. */
    nodeBaseline: Stats;
    /** `node server.mjs`: process start to the first answered `GET /healthz`. */
    server: Stats;
    /** `node openfaas.mjs` (the process of-watchdog forks): process start to the first answered request. */
    openfaas: Stats;
    /** The Lambda bundle under the Runtime Interface Emulator, one fresh emulator per cold start. */
    lambda:
      | {
          /** The Node that ran the function (the emulator starts the bench's own `node`). */
          node: string;
          /** The emulator's `INIT REPORT`: runtime process start until it asks for the first event. */
          initMs: Stats;
          /** Round trip of the first Function URL event (init, runtime build, request). */
          coldInvokeMs: Stats;
          /** Round trip of the second event, for comparison. */
          warmInvokeMs: Stats;
        }
      | { error: string };
  };
  /** Median time to load (import) the Lambda bundle, no request served. */
  lambdaImportMs: Stats;
  dependencyCosts: DependencyCost[];
}

const DEPENDENCIES: Array<{ label: string; stubs: string[] }> = [
  { label: '@aws-sdk/client-ec2', stubs: ['@aws-sdk/client-ec2'] },
  {
    label: 'AWS SDK (@aws-sdk/*, @smithy/*, @aws-crypto/*)',
    stubs: ['@aws-sdk/*', '@smithy/*', '@aws-crypto/*'],
  },
  { label: 'zod', stubs: ['zod'] },
  { label: '@kubernetes/client-node (and what it brings)', stubs: ['@kubernetes/client-node'] },
  { label: 'yaml', stubs: ['yaml'] },
];

/** Spawns `node <file>` and measures until `url` first answers 200; the process is killed afterwards. */
async function timeToFirstAnswer(file: string, url: string, env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [file], { env: isolatedEnv(env), stdio: 'ignore' });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${file} exited with ${child.exitCode} before answering`);
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
        await response.body?.cancel();
        if (response.status === 200) return performance.now() - started;
      } catch {
        // Not listening yet.
      }
      if (performance.now() - started > 30_000) throw new Error(`${file} did not answer within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    child.kill('SIGKILL');
  }
}

/** Median time for a fresh `node` to import the module (evaluation included, no request). */
async function importTimes(file: string, runs: number, probe: string): Promise<number[]> {
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const result = await runCommand(process.execPath, [probe, pathToFileURL(file).href], {
      env: isolatedEnv({ NODE_NO_WARNINGS: '1' }),
    });
    samples.push(Number(result.stdout.trim()));
  }
  return samples;
}

/**
 * Measures the runtimes: bundle size per function, cold start of the Node server and of the OpenFaaS
 * process (start to first answered request), the Lambda init, first and second invocation under the Runtime
 * Interface Emulator, and what the heaviest dependencies cost the Lambda bundle in bytes and load time.
 * Everything runs on the Node that runs the bench: run it on Node 22 for the numbers of `nodejs22.x`.
 *
 * @example
 * const result = await benchRuntimes({ runs: 5, lambdaRuns: 10 });
 * console.log(result.coldStart.server.medianMs);
 */
export async function benchRuntimes(
  options: { runs?: number; lambdaRuns?: number } = {},
): Promise<RuntimeBench> {
  const runs = options.runs ?? 5;
  // The Lambda cold start is the number the deployment is judged by: a median of ten at least.
  const lambdaRuns = options.lambdaRuns ?? 10;
  const work = await tempDir('alertfence-bench');
  try {
    const bundles = await buildBundles();
    const kubeconfig = await writeKubeconfig(work.path, await refusedAddress());
    // The shipped defaults: the EC2 driver (its SDK client is built at start), Kubernetes from a kubeconfig.
    const appEnv = {
      ALERTFENCE_TOKENS: TOKEN,
      KUBECONFIG: kubeconfig,
      // The bench kubeconfig skips TLS checks; without this, every runtime refuses it at start and the cold
      // starts below would time a misconfigured function that never builds its Kubernetes access.
      ALERTFENCE_KUBE_ALLOW_INSECURE_TLS: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      NODE_NO_WARNINGS: '1',
    };

    const baseline = join(work.path, 'baseline.mjs');
    await writeFile(
      baseline,
      "import { createServer } from 'node:http';\ncreateServer((_q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n",
    );
    const baselineSamples: number[] = [];
    const serverSamples: number[] = [];
    const openfaasSamples: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      const bare = await freePort();
      baselineSamples.push(
        await timeToFirstAnswer(baseline, `http://127.0.0.1:${bare}/`, { PORT: String(bare) }),
      );
      const port = await freePort();
      serverSamples.push(
        await timeToFirstAnswer(bundles.file('server'), `http://127.0.0.1:${port}/healthz`, {
          ...appEnv,
          PORT: String(port),
          HOST: '127.0.0.1',
        }),
      );
      const upstream = await freePort();
      openfaasSamples.push(
        await timeToFirstAnswer(bundles.file('openfaas'), `http://127.0.0.1:${upstream}/healthz`, {
          ...appEnv,
          upstream_url: `http://127.0.0.1:${upstream}`,
        }),
      );
    }

    let lambda: RuntimeBench['coldStart']['lambda'];
    try {
      const init: number[] = [];
      const cold: number[] = [];
      const warm: number[] = [];
      for (let run = 0; run < lambdaRuns; run += 1) {
        const rie = await startRie({
          handlerFile: bundles.file('lambda'),
          bootstrapFile: bundles.file('lambda-bootstrap'),
          env: { ...appEnv, ALERTFENCE_DRIVERS: 'aws' },
        });
        try {
          cold.push((await rie.invoke(functionUrlEvent('GET', '/healthz'))).durationMs);
          warm.push((await rie.invoke(functionUrlEvent('GET', '/healthz'))).durationMs);
          const initMs = rie.initDurationMs();
          if (initMs === undefined) throw new Error(`no INIT REPORT in the emulator's log:\n${rie.logs()}`);
          init.push(initMs);
        } finally {
          await rie.stop();
        }
      }
      lambda = {
        node: process.version,
        initMs: stats(init),
        coldInvokeMs: stats(cold),
        warmInvokeMs: stats(warm),
      };
    } catch (error) {
      lambda = { error: error instanceof Error ? error.message : String(error) };
    }

    const probe = join(work.path, 'import-time.mjs');
    await writeFile(
      probe,
      'const started = performance.now();\nawait import(process.argv[2]);\nprocess.stdout.write(String(performance.now() - started));\nprocess.exit(0);\n',
    );
    const full = bundles.reports.find((report) => report.name === 'lambda') as BundleReport;
    const variants = [];
    for (const dependency of DEPENDENCIES) {
      const variant = await buildBundles(
        { lambda: 'functions/runtimes/lambda/handler.ts' },
        dependency.stubs,
      );
      variants.push({ dependency, file: variant.file('lambda'), bytes: variant.reports[0]?.bytes ?? 0 });
    }
    // Interleaved, so a busy moment on a shared machine does not land on one variant only.
    const fullSamples: number[] = [];
    const variantSamples = variants.map(() => [] as number[]);
    for (let run = 0; run < runs; run += 1) {
      fullSamples.push(...(await importTimes(full.file, 1, probe)));
      for (const [index, variant] of variants.entries()) {
        variantSamples[index]?.push(...(await importTimes(variant.file, 1, probe)));
      }
    }
    const lambdaImportMs = stats(fullSamples);
    const dependencyCosts = variants.map((variant, index) => {
      const importMs = stats(variantSamples[index] ?? []).medianMs;
      return {
        dependency: variant.dependency.label,
        bytes: full.bytes - variant.bytes,
        importMs,
        importMsSaved: Math.round((lambdaImportMs.medianMs - importMs) * 10) / 10,
      };
    });

    return {
      machine: {
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
      },
      targets: TARGETS,
      bundles: bundles.reports.map((report) => ({
        name: report.name,
        bytes: report.bytes,
        gzipBytes: report.gzipBytes,
        overTarget: report.overTarget,
        heaviest: report.packages.slice(0, 6),
      })),
      coldStart: {
        nodeBaseline: stats(baselineSamples),
        server: stats(serverSamples),
        openfaas: stats(openfaasSamples),
        lambda,
      },
      lambdaImportMs,
      dependencyCosts,
    };
  } finally {
    await work.remove();
  }
}

/** A plain-text summary of {@link benchRuntimes}' result. */
export function formatRuntimeBench(result: RuntimeBench): string {
  const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;
  const ms = (value: Stats) =>
    `${value.medianMs} ms (min ${value.minMs}, max ${value.maxMs}, ${value.runs} runs)`;
  const lines = [
    `machine: node ${result.machine.node}, ${result.machine.cpus} × ${result.machine.cpuModel}, load ${result.machine.loadAverage.join(' ')}`,
    `targets: bundle ≤ ${kib(result.targets.bundleBytes)}, init ≤ ${result.targets.initMs} ms`,
    'bundles:',
    ...result.bundles.map(
      (bundle) =>
        `  ${bundle.name.padEnd(17)} ${kib(bundle.bytes).padStart(9)} (gzip ${kib(bundle.gzipBytes)})${bundle.overTarget ? '  OVER TARGET' : ''}`,
    ),
    'cold start:',
    `  bare node:http start → answer  ${ms(result.coldStart.nodeBaseline)}`,
    `  server   start → first answer  ${ms(result.coldStart.server)}`,
    `  openfaas start → first answer  ${ms(result.coldStart.openfaas)}`,
  ];
  const lambda = result.coldStart.lambda;
  if ('error' in lambda) lines.push(`  lambda   not measured: ${lambda.error}`);
  else {
    lines.push(
      `  lambda   on node ${lambda.node}, under the Runtime Interface Emulator:`,
      `  lambda   init (emulator)        ${ms(lambda.initMs)}`,
      `  lambda   first event            ${ms(lambda.coldInvokeMs)}`,
      `  lambda   second event           ${ms(lambda.warmInvokeMs)}`,
    );
  }
  lines.push(
    `lambda bundle import: ${ms(result.lambdaImportMs)}`,
    'what each dependency costs the Lambda bundle:',
    ...result.dependencyCosts.map(
      (cost) =>
        `  ${cost.dependency.padEnd(48)} ${kib(cost.bytes).padStart(9)}  ${cost.importMsSaved} ms of load time`,
    ),
  );
  return lines.join('\n');
}
