/**
 * What the service reads of the cluster to decide: for a request, the Nodes it names (each with a consistent
 * GET, or every Node with one list for a grouped alert of many), every journal, and the storm guards' counts
 * only once a node needs them (a Ready node's alert never does); then each named node's own Leases; for a
 * continuation, one node's all.
 */

import { KUBE_NAMES } from '../kube/names.js';
import type { Node } from '../kube/objects.js';
import type { KubeCallOptions } from '../kube/port.js';
import type { FenceContext } from './context.js';
import type { NodeSnapshot } from './guards.js';
import { journalLeaseName } from './journal.js';
import { type JournalRead, readJournal } from './journal-store.js';
import { type Pause, pauseOf } from './pause.js';
import { type ClusterSnapshot, countHealthRows, scopeSelector, summarizeCluster } from './storm-guard.js';

/** What one request reads of the cluster once: its Nodes, alertfence's journals and pause, and the counts. */
export interface RequestSnapshot {
  /** The Nodes the request names that exist (every Node when it was read with a list). */
  nodes: Map<string, Node>;
  journals: Map<string, JournalRead>;
  pause: Pause | undefined;
  /** The storm guards' counts, read the first time a node needs them and then kept for the request. */
  counts: () => Promise<ClusterSnapshot>;
}

/**
 * A request naming more Nodes than this reads every Node with one list and counts from it; one naming this
 * many or fewer reads each with a GET. A zone going dark is a grouped alert of hundreds: one list of 1,000
 * Nodes costs the API server about 45 ms of CPU, 333 GETs (each a consistent read) about 300 ms.
 */
export const NAMED_NODES_READ_ONE_BY_ONE = 50;
/** GETs of a grouped alert's Nodes in flight at once. */
const NODE_READS_IN_FLIGHT = 16;

async function mapInFlight<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The followed Nodes with the named ones as their own consistent read shows them. */
function withNamed(followed: readonly Node[], named: readonly Node[]): Node[] {
  const byName = new Map(followed.map((node) => [node.metadata?.name ?? '', node]));
  for (const node of named) byName.set(node.metadata?.name ?? '', node);
  return [...byName.values()];
}

/**
 * The storm guards' counts for a decision about `named`: from the Nodes this process follows when it can vouch
 * for them (`NodeView`: what the watch cache holds, kept in memory), else from a table of the Nodes in scope
 * (name and readiness, about 170 bytes a Node, from the watch cache) when it settles them, else from every
 * Node. Decisions about the named Nodes themselves never come from here: they are read consistently by the
 * caller, and their reads replace what the view or the table says of them.
 */
export async function readCounts(
  context: FenceContext,
  named: readonly Node[],
  options: KubeCallOptions,
): Promise<ClusterSnapshot> {
  const { kube, config } = context;
  const followed = context.nodeView?.current();
  if (followed) return summarizeCluster(withNamed(followed, named), config);
  const rows = await kube.listNodeHealth(scopeSelector(config), options);
  return countHealthRows(rows, named, config) ?? summarizeCluster(await kube.listNodes(options), config);
}

/** Once, and again after a failure: a failed read is tried again for the next node. */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= read().catch((error) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

/**
 * One look at the cluster per request, whatever the number of nodes it names: the named Nodes (`'all'`: every
 * Node, as the tick's detection needs), every journal and the pause (one label-selected list of alertfence's
 * own Leases). The counts wait until a node needs them; when every Node was listed, they come from that list.
 */
export async function readRequestSnapshot(
  context: FenceContext,
  names: readonly string[] | 'all',
  options: KubeCallOptions,
): Promise<RequestSnapshot> {
  const { kube, config, keys } = context;
  const unique = names === 'all' ? [] : [...new Set(names)];
  const listed = names === 'all' || unique.length > NAMED_NODES_READ_ONE_BY_ONE;
  const [found, leases] = await Promise.all([
    listed
      ? kube.listNodes(options)
      : mapInFlight(unique, NODE_READS_IN_FLIGHT, (name) => kube.getNode(name, options)),
    kube.listLeases(config.namespace, `app.kubernetes.io/managed-by=${KUBE_NAMES.component}`, options),
  ]);
  const journals = new Map<string, JournalRead>();
  let pause: Pause | undefined;
  for (const lease of leases) {
    const name = lease.metadata?.name ?? '';
    if (name === KUBE_NAMES.pauseLease) pause = pauseOf(lease, context.now());
    else if (name !== KUBE_NAMES.slotsLease) journals.set(name, readJournal(lease, keys));
  }
  const nodes = new Map<string, Node>();
  for (const node of found) if (node) nodes.set(node.metadata?.name ?? '', node);
  if (listed) {
    const counted = summarizeCluster([...nodes.values()], config);
    return { nodes, journals, pause, counts: async () => counted };
  }
  return { nodes, journals, pause, counts: once(() => readCounts(context, [...nodes.values()], options)) };
}

/** The node's own Leases (kubelet heartbeat, another remediator's lock), read once the cheap guards passed. */
export async function completeSnapshot(
  context: FenceContext,
  name: string,
  node: Node | undefined,
  journal: JournalRead,
  options: KubeCallOptions,
): Promise<NodeSnapshot> {
  const [kubeletLease, remediatorLease] = await Promise.all([
    context.kube.getLease(KUBE_NAMES.kubeletLeaseNamespace, name, options),
    context.kube.getLease(KUBE_NAMES.medik8sLeaseNamespace, `node-${name}`, options),
  ]);
  return { node, kubeletLease, journal, remediatorLease };
}

/** Everything about one node at once: the Node, its Leases and its journal (a continuation's look). */
export async function readNodeSnapshot(
  context: FenceContext,
  name: string,
  options: KubeCallOptions,
): Promise<NodeSnapshot> {
  const { kube, config, keys } = context;
  const [node, lease] = await Promise.all([
    kube.getNode(name, options),
    kube.getLease(config.namespace, journalLeaseName(name), options),
  ]);
  return completeSnapshot(context, name, node, readJournal(lease, keys), options);
}
