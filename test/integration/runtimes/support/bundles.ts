import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, type TempDir, tempDir } from '../../../peers/process.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** One bundle as `scripts/build.mjs --json` reports it. */
export interface BundleReport {
  name: string;
  entry: string;
  file: string;
  bytes: number;
  gzipBytes: number;
  mapBytes: number;
  overTarget: boolean;
  buildMs: number;
  packages: Array<{ name: string; bytes: number }>;
}

/** Bundles built into a temporary directory (never `dist/`, which a developer may be using). */
export interface Bundles {
  dir: TempDir;
  reports: BundleReport[];
  /** Absolute path of a bundle by function name. */
  file(name: string): string;
}

/**
 * Runs `scripts/build.mjs` — the script `npm run build` runs — into a temporary directory: the shipped
 * functions, or the given extra entry points (name → path from the repository root) with the same options.
 * `stubs` replaces packages by inert stand-ins (`--stub`), to measure what they cost.
 */
export async function buildBundles(entries?: Record<string, string>, stubs: string[] = []): Promise<Bundles> {
  const dir = await tempDir('alertfence-bundles');
  const args = [join(ROOT, 'scripts/build.mjs'), '--json', '--outdir', dir.path, '--with-test-support'];
  for (const [name, path] of Object.entries(entries ?? {})) args.push('--entry', `${name}=${path}`);
  for (const stub of stubs) args.push('--stub', stub);
  const result = await runCommand(process.execPath, args, { cwd: ROOT, timeoutMs: 180_000 });
  const lastLine = result.stdout.trim().split('\n').at(-1) ?? '[]';
  const reports = JSON.parse(lastLine) as BundleReport[];
  return {
    dir,
    reports,
    file(name) {
      const report = reports.find((candidate) => candidate.name === name);
      if (!report) throw new Error(`no bundle named ${name}`);
      return report.file;
    },
  };
}

let shipped: Promise<Bundles> | undefined;

/**
 * The shipped functions, built once per test file (vitest runs each file in its own worker); the temporary
 * directory goes when the process exits.
 */
export function functionBundles(): Promise<Bundles> {
  shipped ??= buildBundles();
  return shipped;
}
