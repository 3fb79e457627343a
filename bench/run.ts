import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { benchFenceAgents, formatFenceAgents } from './fence-agents.js';
import { benchRuntimes, formatRuntimeBench } from './runtimes.js';
import { benchCallsPerFence, benchWebhook } from './webhook.js';

/**
 * `npm run bench`: every benchmark of the project, printed and written to `bench/results/latest.json`.
 * Numbers, not assertions: the issue notes quote them. `--core-only` skips the runtimes (bundles, cold starts),
 * which build the bundles and start processes, and the fence agents side by side (a real OpenStack and moto);
 * `--agents-only` runs only the latter.
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
  const agentsOnly = process.argv.includes('--agents-only');
  if (!agentsOnly) {
    results.webhook = await benchWebhook();
    results.callsPerFence = await benchCallsPerFence();
  }
  if (!process.argv.includes('--core-only')) {
    const agents = await benchFenceAgents();
    results.fenceAgents = agents;
    process.stderr.write(`${formatFenceAgents(agents)}\n`);
  }
  if (!process.argv.includes('--core-only') && !agentsOnly) {
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
