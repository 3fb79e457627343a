import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { benchRuntimes, formatRuntimeBench } from './runtimes.js';
import { benchCallsPerFence, benchWebhook } from './webhook.js';

/**
 * `npm run bench`: every benchmark of the project, printed and written to `bench/results/latest.json`.
 * Numbers, not assertions: the issue notes quote them. `--core-only` skips the runtimes (bundles, cold starts),
 * which build the bundles and start processes.
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
  if (!process.argv.includes('--core-only')) {
    const runtimes = await benchRuntimes();
    results.runtimes = runtimes;
    // The same numbers for a person: the JSON below is for the record.
    process.stderr.write(`${formatRuntimeBench(runtimes)}\n`);
  }
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
