#!/usr/bin/env node
// Bundles each function with esbuild: one ESM file per function, minified, with a linked source map, and
// prints a size report (bytes, gzip, the packages that weigh most).
//
//   node scripts/build.mjs                       all functions into dist/
//   node scripts/build.mjs --json                the report as JSON on stdout (bench/runtimes.ts reads it)
//   node scripts/build.mjs --only lambda,server  some functions
//   node scripts/build.mjs --only cli            the operator's command line (`npm run build:cli`, `prepack`)
//   node scripts/build.mjs --with-test-support   also what the tests run the functions with (lambda-bootstrap)
//   node scripts/build.mjs --outdir DIR --entry NAME=PATH ...
//                                                other entry points (tests bundle their own entries with the
//                                                same options as the shipped functions)
//   node scripts/build.mjs --stub PACKAGE ...    replace a package by an inert stand-in, to measure what it
//                                                costs in bytes and load time (bench/runtimes.ts); such a
//                                                bundle loads but does not work
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The shipped functions. Lambda gets a directory of its own because SAM zips `CodeUri` as it is. */
const FUNCTIONS = [
  { name: 'lambda', entry: 'functions/runtimes/lambda/handler.ts', outfile: 'lambda/lambda.mjs' },
  { name: 'openfaas', entry: 'functions/runtimes/openfaas/handler.ts', outfile: 'openfaas.mjs' },
  { name: 'server', entry: 'functions/runtimes/node/server.ts', outfile: 'server.mjs' },
];

/**
 * Built beside them for the tests only (`--with-test-support`): the Runtime API client that runs the Lambda
 * bundle as the managed runtime does, under the RIE or its contract fake. Never shipped: the template deploys
 * on the managed `nodejs22.x` runtime.
 */
const TEST_SUPPORT = [
  {
    name: 'lambda-bootstrap',
    entry: 'test/support/runtimes/lambda-bootstrap.ts',
    outfile: 'lambda-bootstrap.mjs',
  },
];

/**
 * The operator's command line: built only when asked for (`--only cli`), since the functions' reports and
 * their tests know only the functions. It runs wherever the operator is, so on the oldest Node alertfence
 * supports (package.json `engines`).
 */
const TOOLS = [{ name: 'cli', entry: 'cli/main.ts', outfile: 'cli/alertfence.mjs', target: 'node20' }];

/** The issue's budget for one bundle; over it, the report says so (the build still succeeds). */
const SIZE_TARGET_BYTES = 1.5 * 1024 * 1024;

/**
 * Options shared by every bundle. The banner gives CommonJS dependencies (the AWS SDK's
 * transitive packages) the `require` that an ES module lacks: esbuild keeps `require("node:…")` calls of
 * CJS code as they are.
 */
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  // Stack traces map back to the TypeScript with `node --enable-source-maps`; the sources themselves are
  // left out, which keeps the maps a third of the size.
  sourcemap: 'linked',
  sourcesContent: false,
  // Prefer the ES module builds: they tree-shake, the CommonJS ones do not.
  mainFields: ['module', 'main'],
  metafile: true,
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __alertfenceCreateRequire } from 'node:module'; const require = __alertfenceCreateRequire(import.meta.url);",
  },
};

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      'with-test-support': { type: 'boolean', default: false },
      outdir: { type: 'string', default: join(root, 'dist') },
      only: { type: 'string' },
      entry: { type: 'string', multiple: true },
      stub: { type: 'string', multiple: true },
    },
  });
  let targets = values['with-test-support'] ? [...FUNCTIONS, ...TEST_SUPPORT] : FUNCTIONS;
  if (values.entry?.length) {
    targets = values.entry.map((spec) => {
      const [name, entry] = spec.split('=');
      if (!name || !entry) throw new Error(`--entry wants NAME=PATH, not "${spec}"`);
      return { name, entry, outfile: `${name}.mjs` };
    });
  }
  if (values.only) {
    const wanted = new Set(values.only.split(','));
    targets = [...targets, ...TOOLS].filter((target) => wanted.has(target.name));
    if (targets.length === 0) throw new Error(`--only ${values.only} matches no function`);
  }
  return { json: values.json, outdir: resolve(values.outdir), targets, stubs: values.stub ?? [] };
}

/**
 * Resolves the given packages (and their subpaths) to an inert stand-in that has the real module's export
 * names, each a callable, constructible, extensible no-op, so the rest of the bundle still loads.
 */
function stubPlugin(packages) {
  const escaped = packages.map((name) => name.replace(/[.+?^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '.*'));
  const filter = new RegExp(`^(${escaped.join('|')})(/.*)?$`);
  return {
    name: 'alertfence-stub',
    setup(builder) {
      builder.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'alertfence-stub' }));
      builder.onLoad({ filter: /.*/, namespace: 'alertfence-stub' }, async (args) => {
        let names = [];
        try {
          names = Object.keys(await import(args.path)).filter(
            (name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default',
          );
        } catch {
          // Not loadable on its own (a deep import): a default export only.
        }
        const inert =
          'const inert = new Proxy(function () {}, { get: (_t, key) => (key === "then" ? undefined : inert), apply: () => inert, construct: () => ({}) });';
        return {
          loader: 'js',
          contents: `${inert}\nexport default inert;\nexport { ${names.map((name) => `inert as ${name}`).join(', ')} };`,
        };
      });
    },
  };
}

/** Marks a resolution the trimming plugin made itself, so that it does not look at it again. */
const TRIMMED = Symbol('alertfence-trimmed');

/**
 * What the shipped bundles leave out of `@kubernetes/client-node`, which alertfence uses for `KubeConfig` (loading
 * and authentication) and its model types only:
 * - its modules count as free of side effects, which they are (classes and constants) but do not declare
 *   (no `sideEffects` in its package.json): esbuild then drops the generated API classes and the model
 *   serializer, about 350 KiB, which `KubeConfig`'s module imports but alertfence never calls;
 * - node-fetch 2, which `KubeConfig` imports for a method alertfence does not call, gets Node's own URL class
 *   for `whatwg-url`: node-fetch takes `require('url').URL` first and `whatwg-url` only on runtimes without
 *   one (node-fetch `lib/index.mjs`: `const URL = Url.URL || whatwgUrl.URL`), so its 280 KiB of Unicode
 *   tables never run;
 * - the packages of the library's `azure`, `gcp` and `oidc` auth-providers (`jsonpath-plus`, `openid-client`)
 *   are left out, about 45 KiB: alertfence refuses a kubeconfig that names any auth-provider
 *   (`functions/kube/kubeconfig.ts`), so those authenticators never run.
 */
function trimPlugin() {
  return {
    name: 'alertfence-trim',
    setup(builder) {
      builder.onResolve({ filter: /^whatwg-url$/ }, (args) =>
        /node_modules[\\/]node-fetch[\\/]/.test(args.importer)
          ? { path: 'whatwg-url', namespace: 'alertfence-node-url' }
          : undefined,
      );
      builder.onLoad({ filter: /.*/, namespace: 'alertfence-node-url' }, () => ({
        loader: 'js',
        contents:
          "import { URL, URLSearchParams } from 'node:url';\nexport default { URL, URLSearchParams };\n",
      }));
      builder.onResolve({ filter: /^(jsonpath-plus|openid-client)$/ }, (args) =>
        /node_modules[\\/]@kubernetes[\\/]client-node[\\/]/.test(args.importer)
          ? { path: args.path, namespace: 'alertfence-left-out' }
          : undefined,
      );
      builder.onLoad({ filter: /.*/, namespace: 'alertfence-left-out' }, () => ({
        loader: 'js',
        contents: 'export {};\n',
      }));
      builder.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === TRIMMED) return undefined;
        const inLibrary =
          args.path.startsWith('@kubernetes/client-node') ||
          (args.path.startsWith('.') &&
            /node_modules[\\/]@kubernetes[\\/]client-node[\\/]/.test(args.importer));
        if (!inLibrary) return undefined;
        const resolved = await builder.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: TRIMMED,
        });
        if (resolved.errors.length > 0) return undefined;
        return { path: resolved.path, namespace: resolved.namespace, sideEffects: false };
      });
    },
  };
}

/** Bytes in the output per npm package (or `(alertfence)` for our own code), heaviest first. */
function packageWeights(metafile, outfile) {
  const output = metafile.outputs[relative(process.cwd(), outfile)] ?? Object.values(metafile.outputs)[0];
  const weights = new Map();
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const name = match?.[1] ?? '(alertfence)';
    weights.set(name, (weights.get(name) ?? 0) + bytesInOutput);
  }
  return [...weights.entries()].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

async function bundle(target, outdir, stubs) {
  const outfile = join(outdir, target.outfile);
  await mkdir(dirname(outfile), { recursive: true });
  const started = performance.now();
  const result = await build({
    ...common,
    entryPoints: [resolve(root, target.entry)],
    outfile,
    ...(target.target ? { target: target.target } : {}),
    plugins: stubs.length > 0 ? [stubPlugin(stubs), trimPlugin()] : [trimPlugin()],
    ...(stubs.length > 0 ? { logLevel: 'error' } : {}),
  });
  const code = await readFile(outfile);
  const map = await readFile(`${outfile}.map`);
  return {
    name: target.name,
    entry: target.entry,
    file: outfile,
    bytes: code.length,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    mapBytes: map.length,
    overTarget: code.length > SIZE_TARGET_BYTES,
    buildMs: Math.round(performance.now() - started),
    packages: packageWeights(result.metafile, outfile),
  };
}

const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;

function printReport(reports) {
  const lines = [];
  for (const report of reports) {
    const flag = report.overTarget ? `  over the ${kib(SIZE_TARGET_BYTES)} target` : '';
    lines.push(
      `${report.name.padEnd(18)} ${kib(report.bytes).padStart(9)}  gzip ${kib(report.gzipBytes).padStart(8)}  ` +
        `map ${kib(report.mapBytes).padStart(8)}  ${relative(root, report.file)}${flag}`,
    );
    const heaviest = report.packages
      .slice(0, 6)
      .map((pkg) => `${pkg.name} ${kib(pkg.bytes)}`)
      .join(', ');
    lines.push(`${''.padEnd(18)} heaviest: ${heaviest}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main() {
  const { json, outdir, targets, stubs } = parseCli(process.argv.slice(2));
  // A stale bundle or map from an earlier build must not be reported or shipped if this one fails.
  for (const target of targets) {
    await rm(join(outdir, target.outfile), { force: true });
    await rm(join(outdir, `${target.outfile}.map`), { force: true });
  }
  const reports = [];
  for (const target of targets) reports.push(await bundle(target, outdir, stubs));
  await writeFile(join(outdir, 'size-report.json'), `${JSON.stringify(reports, null, 2)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(reports)}\n`);
  else printReport(reports);
}

main().catch((error) => {
  process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
