import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { benchFenceAgents, formatFenceAgents } from './fence-agents.js';
import { benchNotifications, formatNotificationsBench } from './notifications.js';
import { benchRedfish, formatRedfishBench } from './redfish.js';
import { benchRuntimes, formatRuntimeBench } from './runtimes.js';
import { benchCallsPerFence, benchWebhook } from './webhook.js';

/**
 * `npm run bench`: every benchmark of the project, printed and written to `bench/results/latest.json`.
 * Numbers, not assertions: the issue notes quote them. `--core-only` runs only the in-process benchmarks (and
 * the notifications' sender to a receiver on loopback): it
 * skips the runtimes (bundles, cold starts), the Redfish side-by-side with fence_redfish and the cloud fence
 * agents side by side (a real OpenStack and moto), which start processes. `--redfish-only` and `--agents-only`
 * run one of those alone.
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
  const agentsOnly = process.argv.includes('--agents-only');
  const coreOnly = process.argv.includes('--core-only');
  if (!redfishOnly && !agentsOnly) {
    results.webhook = await benchWebhook();
    results.callsPerFence = await benchCallsPerFence();
    const notifications = await benchNotifications();
    results.notifications = notifications;
    process.stderr.write(`${formatNotificationsBench(notifications)}\n`);
  }
  if (!coreOnly && !agentsOnly) {
    const redfish = await benchRedfish();
    results.redfish = redfish;
    process.stderr.write(`${formatRedfishBench(redfish)}\n`);
  }
  if (!coreOnly && !redfishOnly) {
    const agents = await benchFenceAgents();
    results.fenceAgents = agents;
    process.stderr.write(`${formatFenceAgents(agents)}\n`);
  }
  if (!coreOnly && !redfishOnly && !agentsOnly) {
    const runtimes = await benchRuntimes();
    results.runtimes = runtimes;
    // The same numbers for a person: the JSON below is for the record.
    process.stderr.write(`${formatRuntimeBench(runtimes)}\n`);
  }
  mkdirSync('bench/results', { recursive: true });
  // A partial run keeps the full results of the last whole run.
  const file = redfishOnly
    ? 'bench/results/redfish.json'
    : agentsOnly
      ? 'bench/results/fence-agents.json'
      : 'bench/results/latest.json';
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
