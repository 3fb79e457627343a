/**
 * The child process of `startFunctionProcess`: alertfence's Node server (`startServer`, the entrypoint's own
 * wiring) with the simulated cloud injected, from the source tree named by `ALERTFENCE_SCALE_ROOT` — this
 * one, or a worktree of an older commit, so a bench compares versions on the same cluster. Answers the parent's
 * `driver-calls` message with the cloud calls made so far, by method.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SimulatedDriver } from '../../../drivers/simulated/simulated-driver.js';
import type { startServer } from '../../../functions/runtimes/node/server.js';

const here = fileURLToPath(new URL('../../../', import.meta.url));
const root = process.env.ALERTFENCE_SCALE_ROOT || here;
const load = (path: string) => import(pathToFileURL(join(root, path)).href);

// Where the Node server lives: `functions/runtimes/node/` since the layout of issue #13, `functions/` before.
const serverPath = ['functions/runtimes/node/server.ts', 'functions/server.ts'].find((path) =>
  existsSync(join(root, path)),
);
if (!serverPath) throw new Error(`no Node server under ${root}`);
const { startServer: start } = (await load(serverPath)) as { startServer: typeof startServer };
const { SimulatedDriver: Driver } = (await load('drivers/simulated/simulated-driver.ts')) as {
  SimulatedDriver: typeof SimulatedDriver;
};

const driver = new Driver({
  autoCreate: true,
  transitionMs: Number(process.env.ALERTFENCE_SCALE_TRANSITION_MS ?? 1000),
  detachMs: 200,
});
start(process.env, { drivers: [driver] });

process.on('message', (message) => {
  if (message !== 'driver-calls') return;
  const byMethod: Record<string, number> = {};
  for (const call of driver.calls) byMethod[call.method] = (byMethod[call.method] ?? 0) + 1;
  process.send?.({ driverCalls: byMethod });
});
