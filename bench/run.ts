import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { benchCallsPerFence, benchWebhook } from './webhook.js';

/**
 * `npm run bench`: every benchmark of the project, printed and written to `bench/results/latest.json`.
 * Numbers, not assertions: the issue notes quote them.
 */
async function main() {
  const machine = {
    node: process.version,
    platform: platform(),
    arch: arch(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
  };
  const results: Record<string, unknown> = { machine, at: new Date().toISOString() };
  results.webhook = await benchWebhook();
  results.callsPerFence = await benchCallsPerFence();
  const extras = process.argv.includes('--core-only') ? [] : await loadExtras();
  for (const [name, run] of extras) results[name] = await run();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

/** Benchmarks that live beside the runtimes and drivers, loaded when present. */
async function loadExtras(): Promise<Array<[string, () => Promise<unknown>]>> {
  const extras: Array<[string, () => Promise<unknown>]> = [];
  try {
    // A computed specifier: the runtimes benchmark is optional while that part of the project is built.
    const name = './runtimes.js';
    const runtimes = (await import(name)) as { benchRuntimes: () => Promise<unknown> };
    extras.push(['runtimes', runtimes.benchRuntimes]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
  }
  return extras;
}

await main();
