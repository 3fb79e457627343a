/**
 * Which BMC and which system belong to a node. Two sources, both naming a *configured* BMC by its name (a node
 * can never send the driver, and its credentials, to an address of its choosing):
 *
 * - the node itself: labels or annotations `<prefix>bmc` and `<prefix>system` (prefix
 *   `redfish.alertfence.io/` by default; labels only under a prefix kubelets may not set);
 * - the mapping file: entries keyed by the Node's name or its `spec.providerID` (metal3's
 *   `metal3://<namespace>/<host>/<machine>`, OpenShift's `baremetalhost:///<namespace>/<host>/<uid>`).
 *
 * Every source that speaks about the node is read; if they name more than one target, or none, the node is
 * refused. Nothing is guessed: fence_redfish, given no system, powers off the *last* system of the BMC.
 */
import { DEFAULT_REDFISH_NODE_KEY_PREFIX } from '../../functions/config.js';
import type { NodeIdentity } from '../driver.js';

/** A BMC and, optionally, one of its systems; without a system the BMC must have exactly one. */
export interface SystemTarget {
  bmc: string;
  system?: string;
}

/** One entry of the mapping file: a node, by name or providerID, and its target. */
export interface MappingEntry extends SystemTarget {
  node?: string;
  providerID?: string;
}

/** Default prefix of the node labels and annotations that name a node's BMC and system. */
export const DEFAULT_NODE_KEY_PREFIX = DEFAULT_REDFISH_NODE_KEY_PREFIX;

/** providerID schemes of bare-metal provisioners, whose nodes this driver claims even when unmapped. */
export const BARE_METAL_SCHEMES: readonly string[] = ['metal3', 'baremetalhost'];

/** Where a node's targets are looked up. */
export interface NodeMapping {
  entries: readonly MappingEntry[];
  /** Prefix of the node keys; `undefined` reads the mapping file only. */
  nodeKeyPrefix: string | undefined;
}

/** A target and the sources that named it, for messages. */
export interface FoundTarget {
  target: SystemTarget;
  sources: string[];
}

/** The node's one target, or why there is none. */
export type TargetPick = { found: FoundTarget } | { refusal: string };

/**
 * Whether kubelets are barred from setting labels under the prefix: the NodeRestriction admission plugin
 * refuses them `node-restriction.kubernetes.io` and its subdomains. It does not guard annotations, so under
 * such a prefix only labels are read.
 */
export function kubeletProtected(prefix: string): boolean {
  const namespace = prefix.split('/')[0] ?? '';
  return (
    namespace === 'node-restriction.kubernetes.io' || namespace.endsWith('.node-restriction.kubernetes.io')
  );
}

/** Whether anything about the node speaks of Redfish: a node key, a mapping entry, a bare-metal providerID. */
export function mentionsRedfish(node: NodeIdentity, mapping: NodeMapping): boolean {
  if (mapping.nodeKeyPrefix !== undefined) {
    const prefix = mapping.nodeKeyPrefix;
    const annotations = kubeletProtected(prefix) ? {} : (node.annotations ?? {});
    const keys = [...Object.keys(node.labels ?? {}), ...Object.keys(annotations)];
    if (keys.some((key) => key === `${prefix}bmc` || key === `${prefix}system`)) return true;
  }
  if (mapping.entries.some((entry) => matches(entry, node))) return true;
  const scheme = node.providerID?.split(':')[0];
  return scheme !== undefined && BARE_METAL_SCHEMES.includes(scheme);
}

/**
 * Every target the sources name for the node, merged when equal.
 *
 * @example
 * targetsOf({ name: 'worker-1', internalIPs: [], labels: { 'redfish.alertfence.io/bmc': 'rack1' } }, mapping);
 * // { targets: [{ target: { bmc: 'rack1' }, sources: ['node labels/annotations'] }], problems: [] }
 */
export function targetsOf(
  node: NodeIdentity,
  mapping: NodeMapping,
): { targets: FoundTarget[]; problems: string[] } {
  const found: FoundTarget[] = [];
  const problems: string[] = [];
  const add = (target: SystemTarget, source: string) => {
    const same = found.find((f) => f.target.bmc === target.bmc && f.target.system === target.system);
    if (same) same.sources.push(source);
    else found.push({ target, sources: [source] });
  };

  if (mapping.nodeKeyPrefix !== undefined) {
    const fromNode = nodeKeys(node, mapping.nodeKeyPrefix);
    problems.push(...fromNode.problems);
    if (fromNode.target) add(fromNode.target, fromNode.source);
  }
  for (const [index, entry] of mapping.entries.entries()) {
    if (!matches(entry, node)) continue;
    const key = entry.node !== undefined ? `node ${entry.node}` : `providerID ${entry.providerID}`;
    add(
      { bmc: entry.bmc, ...(entry.system === undefined ? {} : { system: entry.system }) },
      `mapping nodes[${index}] (${key})`,
    );
  }
  return { targets: found, problems };
}

/** The node's single target; zero, several, or a contradiction among its keys is a refusal. */
export function pickTarget(node: NodeIdentity, mapping: NodeMapping): TargetPick {
  const { targets, problems } = targetsOf(node, mapping);
  if (problems.length > 0) return { refusal: `node ${node.name}: ${problems.join('; ')}` };
  if (targets.length === 1 && targets[0]) return { found: targets[0] };
  if (targets.length === 0) {
    const how =
      mapping.nodeKeyPrefix === undefined
        ? 'add it to the Redfish mapping file'
        : `label it ${mapping.nodeKeyPrefix}bmc (and ${mapping.nodeKeyPrefix}system) or add it to the Redfish mapping file`;
    return { refusal: `node ${node.name} is not mapped to a BMC: ${how}` };
  }
  return {
    refusal: `node ${node.name} is mapped to ${targets.length} different targets (${targets
      .map((t) => `${describeTarget(t.target)} from ${t.sources.join(' and ')}`)
      .join('; ')}); keep one`,
  };
}

/** `rack1/System.Embedded.1`, or `rack1 (its only system)`. */
export function describeTarget(target: SystemTarget): string {
  return target.system === undefined ? `${target.bmc} (its only system)` : `${target.bmc}/${target.system}`;
}

function matches(entry: MappingEntry, node: NodeIdentity): boolean {
  if (entry.node !== undefined && entry.node === node.name) return true;
  return entry.providerID !== undefined && entry.providerID === node.providerID;
}

function nodeKeys(
  node: NodeIdentity,
  prefix: string,
): { target?: SystemTarget; source: string; problems: string[] } {
  const problems: string[] = [];
  const labelsOnly = kubeletProtected(prefix);
  const read = (name: 'bmc' | 'system'): string | undefined => {
    const key = `${prefix}${name}`;
    const label = node.labels?.[key];
    const annotation = labelsOnly ? undefined : node.annotations?.[key];
    if (label !== undefined && annotation !== undefined && label !== annotation) {
      problems.push(`label ${key}=${label} and annotation ${key}=${annotation} disagree`);
      return undefined;
    }
    const value = (label ?? annotation)?.trim();
    return value === '' ? undefined : value;
  };
  const bmc = read('bmc');
  const system = read('system');
  const source = 'node labels/annotations';
  if (problems.length > 0) return { source, problems };
  if (bmc === undefined) {
    if (system !== undefined) problems.push(`${prefix}system is set but ${prefix}bmc is not`);
    return { source, problems };
  }
  return { target: { bmc, ...(system === undefined ? {} : { system }) }, source, problems };
}
