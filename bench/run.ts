import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { benchRedfish, formatRedfishBench } from './redfish.js';
import { benchRuntimes, formatRuntimeBench } from './runtimes.js';
import { benchCallsPerFence, benchWebhook } from './webhook.js';

/**
 * `npm run bench`: every benchmark of the project, printed and written to `bench/results/latest.json`.
 * Numbers, not assertions: the issue notes quote them. `--core-only` skips the runtimes (bundles, cold starts)
 * and the Redfish side-by-side with fence_redfish, which start processes; `--redfish-only` runs that one alone.
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
  const redfishOnly = process.argv.includes('--redfish-only');
  if (!redfishOnly) {
    results.webhook = await benchWebhook();
    results.callsPerFence = await benchCallsPerFence();
  }
  if (!process.argv.includes('--core-only')) {
    const redfish = await benchRedfish();
    results.redfish = redfish;
    process.stderr.write(`${formatRedfishBench(redfish)}\n`);
  }
  if (!process.argv.includes('--core-only') && !redfishOnly) {
    const runtimes = await benchRuntimes();
    results.runtimes = runtimes;
    // The same numbers for a person: the JSON below is for the record.
    process.stderr.write(`${formatRuntimeBench(runtimes)}\n`);
  }
  mkdirSync('bench/results', { recursive: true });
  // A partial run keeps the full results of the last whole run.
  const file = redfishOnly ? 'bench/results/redfish.json' : 'bench/results/latest.json';
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
