/**
 * One sushy-emulator per test file, with the fault proxy in front of it, and Redfish drivers pointed at it.
 * A peer that cannot start makes every test of the file fail with the reason (a failing `beforeAll` alone
 * would only mark them skipped).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { NodeIdentity } from '../../../drivers/driver.js';
import {
  type BmcSettings,
  createRedfishDriver,
  credentialFiles,
  type RedfishDriver,
  type RedfishDriverOptions,
  type RedfishExchange,
} from '../../../drivers/redfish/index.js';
import { type SushyEmulator, type SushyOptions, startSushy } from '../../peers/sushy.js';
import { type SushyFaultProxy, startSushyFaultProxy } from '../../peers/sushy-fault-proxy.js';

export interface SushySuite {
  readonly sushy: SushyEmulator;
  readonly proxy: SushyFaultProxy;
}

/** Starts the emulator and its proxy once for the file; the proxy's rules and log are reset before each test. */
export function useSushy(options: SushyOptions): SushySuite {
  let started: SushySuite | undefined;
  let startError: unknown;
  beforeAll(async () => {
    try {
      const sushy = await startSushy(options);
      try {
        started = { sushy, proxy: await startSushyFaultProxy(sushy) };
      } catch (error) {
        await sushy.stop();
        throw error;
      }
    } catch (error) {
      startError = error;
    }
  });
  afterAll(async () => {
    await started?.proxy.stop();
    await started?.sushy.stop();
  });
  beforeEach(() => {
    if (!started) throw startError;
    started.proxy.reset();
  });
  const get = () => {
    if (!started) throw startError;
    return started;
  };
  return {
    get sushy() {
      return get().sushy;
    },
    get proxy() {
      return get().proxy;
    },
  };
}

/** The BMC `rack1` as the driver sees it: through the proxy, trusting the emulator's CA, with its account. */
export function bmcOf(suite: SushySuite, overrides: Partial<BmcSettings> = {}): BmcSettings {
  return {
    name: 'rack1',
    address: suite.proxy.address,
    credentials: credentialFiles(
      suite.sushy.credentialsDir,
      (path) => readFileSync(path, 'utf8'),
      'test credentials',
    ),
    ca: suite.sushy.caPem,
    ...overrides,
  };
}

/** A driver for `rack1` that records its exchanges and warnings. */
export function driverOf(
  suite: SushySuite,
  options: Partial<RedfishDriverOptions> & { bmc?: Partial<BmcSettings> } = {},
): { driver: RedfishDriver; exchanges: RedfishExchange[]; warnings: string[] } {
  const exchanges: RedfishExchange[] = [];
  const warnings: string[] = [];
  const { bmc, ...rest } = options;
  const driver = createRedfishDriver({
    bmcs: [bmcOf(suite, bmc)],
    onExchange: (exchange) => exchanges.push(exchange),
    log: { warn: (message) => warnings.push(message) },
    // BMC-sized limits, kept short so a test of a hung BMC ends quickly.
    requestTimeoutMs: 3000,
    ...rest,
  });
  return { driver, exchanges, warnings };
}

/** A node labelled with its BMC and system, as an operator labels it. */
export function labelledNode(name: string, system: string | undefined, bmc = 'rack1'): NodeIdentity {
  return {
    name,
    internalIPs: [],
    annotations: {},
    labels: {
      'redfish.alertfence.io/bmc': bmc,
      ...(system === undefined ? {} : { 'redfish.alertfence.io/system': system }),
    },
  };
}
