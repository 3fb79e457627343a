/**
 * The Redfish pre-flight: for each BMC, it answers over TLS, accepts the account, and each of its systems the
 * mapping names (all of them when it names none) offers `#ComputerSystem.Reset` with `ForceOff` and `On`.
 * Reads only: power is never touched. Whether the account holds `ConfigureComponents` cannot be read without a
 * reset on most BMCs; `infra/redfish/README.md` says how to give it exactly that.
 */

import type { CallOptions, PreflightResult } from '../driver.js';
import type { Bmc, BmcPool } from './bmc-pool.js';
import { RedfishError } from './client/errors.js';
import type { MappingEntry } from './mapping.js';
import { isMissing, resetTypeFor } from './power-state.js';

/** BMCs checked at once. */
const PREFLIGHT_CONCURRENCY = 4;

/** Checks every BMC of `pool` against the mapping's `entries`; each problem names what to fix. */
export async function redfishPreflight(
  pool: BmcPool,
  entries: readonly MappingEntry[],
  options: CallOptions,
): Promise<PreflightResult> {
  const problems: string[] = [];
  const bmcs = pool.all();
  for (let i = 0; i < bmcs.length; i += PREFLIGHT_CONCURRENCY) {
    const batch = bmcs.slice(i, i + PREFLIGHT_CONCURRENCY);
    const found = await Promise.all(batch.map((bmc) => checkBmc(pool, bmc, entries, options)));
    problems.push(...found.flat());
  }
  return { ok: problems.length === 0, problems };
}

async function checkBmc(
  pool: BmcPool,
  bmc: Bmc,
  allEntries: readonly MappingEntry[],
  options: CallOptions,
): Promise<string[]> {
  const name = bmc.settings.name;
  const entries = allEntries.filter((entry) => entry.bmc === name);
  const named = [...new Set(entries.flatMap((entry) => (entry.system === undefined ? [] : [entry.system])))];
  const unnamed = entries.filter((entry) => entry.system === undefined);
  const problems: string[] = [];
  try {
    let systems = named;
    if (named.length === 0 || unnamed.length > 0) {
      const members = await pool.members(bmc, options);
      if (unnamed.length > 0 && members.length !== 1) {
        problems.push(
          `BMC ${name} has ${members.length} systems (${members.join(', ') || 'none'}); name the system of ${unnamed.map(entryKey).join(', ')} in the mapping`,
        );
      }
      if (named.length === 0) systems = members;
    }
    for (const systemId of systems) {
      const problem = await checkSystem(pool, bmc, systemId, options);
      if (problem) problems.push(problem);
    }
  } catch (error) {
    problems.push(problemOf(bmc, error));
  }
  return problems;
}

async function checkSystem(
  pool: BmcPool,
  bmc: Bmc,
  systemId: string,
  options: CallOptions,
): Promise<string | undefined> {
  const where = `BMC ${bmc.settings.name} system ${systemId}`;
  const reading = await pool.read(bmc, systemId, options);
  if (isMissing(reading)) return `${where}: not found (404) for this account`;
  const action = reading.reset;
  if (!action) return `${where}: offers no #ComputerSystem.Reset action`;
  const allowed = await pool.allowedResetTypes(bmc, action, options);
  const missing = (['off', 'on'] as const)
    .map((want) => resetTypeFor(want, allowed))
    .flatMap((choice) => ('refusal' in choice ? [choice.refusal] : []));
  return missing.length > 0 ? `${where}: ${missing.join('; ')}` : undefined;
}

function problemOf(bmc: Bmc, error: unknown): string {
  const name = bmc.settings.name;
  if (error instanceof RedfishError) {
    if (error.status === 401) return `BMC ${name} refused the account (401); check its credentials`;
    if (error.status === 403) return `BMC ${name} denied the account the read of its systems (403)`;
    if (error.status === undefined)
      return `BMC ${name} at ${bmc.settings.address} does not answer: ${error.message}`;
  }
  return `BMC ${name}: ${error instanceof Error ? error.message : String(error)}`;
}

function entryKey(entry: MappingEntry): string {
  return entry.node !== undefined ? `node ${entry.node}` : `providerID ${entry.providerID}`;
}
