/**
 * alertfence's Redfish driver and the ClusterLabs `fence_redfish` (Debian fence-agents, what kube-fencing and
 * medik8s FAR run) side by side against the same sushy-tools emulator, through the same counting TLS proxy:
 * time to a verified Off and HTTP requests per power-off; then what each does when the BMC holds several
 * systems and none is named, and when it refuses the reset with a 403.
 *
 * Both clients are started fresh for every run (no connection or session carried over). sushy's fake driver
 * lands a power change `int(now) + delay` seconds after the reset; the bench fixes the delay (3 s) so both
 * face the same machine, and the difference is the client's own.
 */
import { readFileSync } from 'node:fs';
import { type CallOptions, DriverError, type InstanceRef } from '../drivers/driver.js';
import { createRedfishDriver, credentialFiles, type RedfishDriver } from '../drivers/redfish/index.js';
import { INSTALL_HINT, requirePeer, runCommand } from '../test/peers/process.js';
import { type SushyEmulator, startSushy } from '../test/peers/sushy.js';
import { type SushyFaultProxy, startSushyFaultProxy } from '../test/peers/sushy-fault-proxy.js';
import { round, type Stats, stats } from './stats.js';

const FENCE_REDFISH = '/usr/sbin/fence_redfish';
const LANDING_SECONDS = 3;
const RESET = /\/Actions\/ComputerSystem\.Reset$/;

/** One client's power-offs: wall time to a verified Off, and the HTTP requests each took. */
export interface PowerOffRuns {
  time: Stats;
  requests: { median: number; min: number; max: number };
  /** The requests of the first run, in order: `GET 200`, `POST 204`, … */
  firstRun: string[];
}

export interface RedfishBench {
  emulator: string;
  runs: number;
  verifiedOff: { alertfence: PowerOffRuns; fenceRedfish: PowerOffRuns & { processStartMs: number } };
  /** The BMC has two systems and the caller names none. */
  noSystemNamed: { target: string; alertfence: string; fenceRedfish: string };
  /** The BMC answers 403 to the reset (an account without ConfigureComponents). */
  resetRefused403: {
    alertfence: { ms: number; requests: number; outcome: string };
    fenceRedfish: { ms: number; requests: number; exitCode: number | null; outcome: string };
  };
}

/**
 * Runs the side-by-side bench. Needs the test peers (`bash test/peers/install.sh`: sushy-tools in the venv,
 * Debian fence-agents); fails with that command when they are missing.
 */
export async function benchRedfish(options: { runs?: number } = {}): Promise<RedfishBench> {
  const runs = options.runs ?? 5;
  const fenceRedfish = requirePeer(FENCE_REDFISH, INSTALL_HINT);
  const sushy = await startSushy({
    systems: [{ name: 'metal-1' }, { name: 'metal-2' }],
    fixedDelaySeconds: LANDING_SECONDS,
  });
  const proxy = await startSushyFaultProxy(sushy).catch(async (error: unknown) => {
    await sushy.stop();
    throw error;
  });
  try {
    // The target is the system the BMC lists first: fence_redfish, given no system, takes the last.
    const [firstId, lastId] = (await sushy.members()) as [string, string];
    const byId = (id: string) =>
      sushy.systems.find((system) => system.id === id) as { id: string; name: string };
    const [target, other] = [byId(firstId), byId(lastId)];
    const ref: InstanceRef = { provider: 'redfish', id: `rack1/${target.id}` };
    const agent = (action: string, extra: string[] = []) =>
      runCommand(
        fenceRedfish,
        [
          '--ip=127.0.0.1',
          `--ipport=${new URL(proxy.address).port}`,
          `--username=${sushy.account.username}`,
          `--password=${sushy.account.password}`,
          `--action=${action}`,
          ...extra,
        ],
        // requests trusts REQUESTS_CA_BUNDLE when it verifies, which fence_redfish does unless --ssl-insecure.
        { env: { REQUESTS_CA_BUNDLE: sushy.ca.certPath }, check: false, timeoutMs: 90_000 },
      );
    const systemsUri = `--systems-uri=/redfish/v1/Systems/${target.id}`;

    const ours: Array<{ ms: number; requests: string[] }> = [];
    const theirs: Array<{ ms: number; requests: string[] }> = [];
    for (let run = 0; run < runs; run++) {
      // Alternate who goes first, so neither always meets a freshly started emulator.
      for (const who of run % 2 === 0 ? (['ours', 'theirs'] as const) : (['theirs', 'ours'] as const)) {
        await sushy.setPower(target.id, 'On');
        proxy.reset();
        const started = performance.now();
        if (who === 'ours') {
          const driver = driverFor(sushy, proxy);
          await driver.powerOff(ref, callFor(30_000));
          await driver.waitForPower(ref, 'off', callFor(30_000));
          await driver.close();
        } else {
          const result = await agent('off', [systemsUri]);
          if (result.code !== 0)
            throw new Error(`fence_redfish -o off failed: ${result.stdout}${result.stderr}`);
        }
        const ms = performance.now() - started;
        if ((await sushy.powerState(target.id)) !== 'Off') throw new Error(`${who}: the system is not Off`);
        (who === 'ours' ? ours : theirs).push({
          ms,
          requests: proxy.requests.map((r) => `${r.method} ${r.status}`),
        });
      }
    }
    const processStart = await timed(() => runCommand(fenceRedfish, ['--version'], { check: false }));

    // Several systems, none named.
    await sushy.setPower(target.id, 'On');
    await sushy.setPower(other.id, 'On');
    const unnamed = await createRedfishDriver({ bmcs: [bmcFor(sushy, proxy)] })
      .resolve(
        {
          name: target.name,
          internalIPs: [],
          labels: { 'redfish.alertfence.io/bmc': 'rack1' },
        },
        callFor(10_000),
      )
      .then(
        (resolved) => `resolved ${resolved.id}`,
        (error: unknown) => `refused: ${(error as Error).message}`,
      );
    const blind = await agent('off');
    await waitOff(sushy, [target.id, other.id]);
    const poweredOff = [];
    for (const system of [target, other]) {
      if ((await sushy.powerState(system.id)) === 'Off') poweredOff.push(system.name);
    }
    const blindOutcome = `exit ${blind.code}; powered off ${poweredOff.join(', ') || 'nothing'} (${blind.stdout.trim()})`;
    await sushy.setPower(other.id, 'On');

    // The reset refused with 403.
    await sushy.setPower(target.id, 'On');
    proxy.reset();
    proxy.fail({ status: 403 }, { method: 'POST', path: RESET, times: 10 });
    const driver = driverFor(sushy, proxy);
    const ourRefusal = await timed(() =>
      driver
        .powerOff(ref, callFor(30_000))
        .then(() => driver.waitForPower(ref, 'off', callFor(30_000)))
        .then(
          () => 'verified off',
          (error: unknown) =>
            `${error instanceof DriverError ? `${error.name} (retryable: ${error.retryable})` : 'error'}: ${(error as Error).message}`,
        ),
    );
    const ourRefusalRequests = proxy.requests.length;
    proxy.reset();
    proxy.fail({ status: 403 }, { method: 'POST', path: RESET, times: 10 });
    const theirRefusal = await timed(() => agent('off', [systemsUri]));
    const theirRefusalRequests = proxy.requests.length;
    proxy.reset();

    return {
      emulator: `sushy-tools --fake over TLS, power change landing ${LANDING_SECONDS} s (int(now) + ${LANDING_SECONDS}) after the reset`,
      runs,
      verifiedOff: {
        alertfence: summary(ours),
        fenceRedfish: { ...summary(theirs), processStartMs: round(processStart.ms, 0) },
      },
      noSystemNamed: {
        target: `${target.name} (listed first of 2 systems)`,
        alertfence: unnamed,
        fenceRedfish: blindOutcome,
      },
      resetRefused403: {
        alertfence: { ms: round(ourRefusal.ms, 0), requests: ourRefusalRequests, outcome: ourRefusal.value },
        fenceRedfish: {
          ms: round(theirRefusal.ms, 0),
          requests: theirRefusalRequests,
          exitCode: theirRefusal.value.code,
          outcome: lastLine(`${theirRefusal.value.stdout}\n${theirRefusal.value.stderr}`),
        },
      },
    };
  } finally {
    await proxy.stop();
    await sushy.stop();
  }
}

/** The numbers for a person; the JSON is for the record. */
export function formatRedfishBench(bench: RedfishBench): string {
  const row = (name: string, runs: PowerOffRuns) =>
    `  ${name.padEnd(14)} median ${runs.time.medianMs} ms (min ${runs.time.minMs}, max ${runs.time.maxMs}), ${runs.requests.median} requests (${runs.firstRun.join(', ')})`;
  return [
    `Redfish power-off to verified Off, ${bench.runs} runs each (${bench.emulator}):`,
    row('alertfence', bench.verifiedOff.alertfence),
    row('fence_redfish', bench.verifiedOff.fenceRedfish),
    `  (fence_redfish includes its process start, about ${bench.verifiedOff.fenceRedfish.processStartMs} ms)`,
    `No system named, target ${bench.noSystemNamed.target}:`,
    `  alertfence     ${bench.noSystemNamed.alertfence}`,
    `  fence_redfish  ${bench.noSystemNamed.fenceRedfish}`,
    'BMC answers 403 to the reset:',
    `  alertfence     ${bench.resetRefused403.alertfence.ms} ms, ${bench.resetRefused403.alertfence.requests} requests: ${bench.resetRefused403.alertfence.outcome}`,
    `  fence_redfish  ${bench.resetRefused403.fenceRedfish.ms} ms, ${bench.resetRefused403.fenceRedfish.requests} requests, exit ${bench.resetRefused403.fenceRedfish.exitCode}: ${bench.resetRefused403.fenceRedfish.outcome}`,
  ].join('\n');
}

function bmcFor(sushy: SushyEmulator, proxy: SushyFaultProxy) {
  return {
    name: 'rack1',
    address: proxy.address,
    credentials: credentialFiles(sushy.credentialsDir, (path) => readFileSync(path, 'utf8'), 'bench'),
    ca: sushy.caPem,
  };
}

function driverFor(sushy: SushyEmulator, proxy: SushyFaultProxy): RedfishDriver {
  return createRedfishDriver({ bmcs: [bmcFor(sushy, proxy)] });
}

function callFor(ms: number): CallOptions {
  return { deadline: Date.now() + ms };
}

function summary(samples: ReadonlyArray<{ ms: number; requests: string[] }>): PowerOffRuns {
  const counts = samples.map((sample) => sample.requests.length).sort((a, b) => a - b);
  return {
    time: stats(samples.map((sample) => sample.ms)),
    requests: {
      median: counts[Math.floor(counts.length / 2)] ?? 0,
      min: counts[0] ?? 0,
      max: counts.at(-1) ?? 0,
    },
    firstRun: samples[0]?.requests ?? [],
  };
}

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await run();
  return { ms: performance.now() - started, value };
}

/** Gives a power-off sent by someone else the time to land (sushy shows it only once it has). */
async function waitOff(sushy: SushyEmulator, ids: readonly string[]): Promise<void> {
  const deadline = Date.now() + (LANDING_SECONDS + 3) * 1000;
  while (Date.now() < deadline) {
    const states = await Promise.all(ids.map((id) => sushy.powerState(id)));
    if (states.includes('Off')) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((line) => line.trim())
      .at(-1) ?? ''
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bench = await benchRedfish();
  process.stderr.write(`${formatRedfishBench(bench)}\n`);
  process.stdout.write(`${JSON.stringify(bench, null, 2)}\n`);
}
