import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { benchFenceAgents, formatFenceAgents } from './fence-agents.js';
import { benchKubeClient, formatKubeClientBench } from './kube-client.js';
import { benchMetrics } from './metrics.js';
import { benchNotifications, formatNotificationsBench } from './notifications.js';
import { benchRedfish, formatRedfishBench } from './redfish.js';
import { benchRuntimes, formatRuntimeBench } from './runtimes.js';
import { benchCallsPerFence, benchWebhook } from './webhook.js';

/** One benchmark: what it records into the results, and a line or table for a person (on stderr). */
interface Suite {
  run(): Promise<Record<string, unknown>>;
  /** In-process and quick: part of `--core-only`. The others build bundles or start real peers. */
  core?: boolean;
  /** Run only when asked for by name: a one-off comparison against a past commit, not a number to track. */
  onDemand?: boolean;
}

const runsFlag = process.argv.indexOf('--runs');
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : undefined;

/** Show a suite's numbers to a person; the JSON on stdout and in the file is for the record. */
const shown = <T>(result: T, format: (value: T) => string): T => {
  process.stderr.write(`${format(result)}\n`);
  return result;
};

const SUITES: Record<string, Suite> = {
  core: {
    core: true,
    run: async () => ({
      webhook: await benchWebhook(),
      callsPerFence: await benchCallsPerFence(),
      metrics: await benchMetrics(),
      notifications: shown(await benchNotifications(), formatNotificationsBench),
    }),
  },
  // alertfence's Redfish driver beside fence_redfish on sushy-tools' emulator.
  redfish: { run: async () => ({ redfish: shown(await benchRedfish(), formatRedfishBench) }) },
  // The cloud drivers beside fence_openstack (a real OpenStack) and fence_aws (moto).
  agents: { run: async () => ({ fenceAgents: shown(await benchFenceAgents(), formatFenceAgents) }) },
  // Bundles and cold starts of every runtime, the Lambda under the real RIE.
  runtimes: { run: async () => ({ runtimes: shown(await benchRuntimes(), formatRuntimeBench) }) },
  // The Kubernetes library's cost: bundle and cold start against the commit before it (`--runs N`, default
  // 10). It checks that commit out, so it runs only when asked for.
  'kube-client': {
    onDemand: true,
    run: async () => ({
      kubeClient: shown(await benchKubeClient(runs ? { runs } : {}), formatKubeClientBench),
    }),
  },
};

/**
 * `npm run bench`: every benchmark of the project, printed and written to `bench/results/latest.json`.
 * Numbers, not assertions: the issue notes quote them. `--core-only` runs the in-process ones alone;
 * `--<suite>-only` runs one suite alone (`--redfish-only`, `--agents-only`, `--runtimes-only`,
 * `--kube-client-only`) into `bench/results/<suite>.json`, so a partial run keeps the last whole run's file.
 */
async function main() {
  const machine = {
    node: process.version,
    platform: platform(),
    arch: arch(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
  };
  const only = Object.keys(SUITES).find((name) => process.argv.includes(`--${name}-only`));
  const selected = Object.entries(SUITES).filter(([name, suite]) => (only ? name === only : !suite.onDemand));
  let results: Record<string, unknown> = { machine, at: new Date().toISOString() };
  for (const [, suite] of selected) results = { ...results, ...(await suite.run()) };
  mkdirSync('bench/results', { recursive: true });
  const file = only && only !== 'core' ? `bench/results/${only}.json` : 'bench/results/latest.json';
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
