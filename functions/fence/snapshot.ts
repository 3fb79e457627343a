/**
 * What the service reads of the cluster to decide: for a request, the Nodes it names (each with a consistent
 * GET, or every Node with one list for a grouped alert of many), every journal, and the storm guards' counts
 * only once a node needs them (a Ready node's alert never does); then each named node's own Leases; for a
 * continuation, one node's all.
 */

import { KUBE_NAMES } from '../kube/names.js';
import { readiness } from '../kube/node-facts.js';
import type { Node } from '../kube/objects.js';
import type { KubeCallOptions } from '../kube/port.js';
import type { FenceContext, FollowedNodes } from './context.js';
import type { NodeSnapshot } from './guards.js';
import { isActive, journalLeaseName } from './journal.js';
import { type JournalRead, readJournal } from './journal-store.js';
import { type Pause, pauseOf } from './pause.js';
import {
  type ClusterSnapshot,
  countHealthRows,
  recountNode,
  scopeSelector,
  summarizeCluster,
} from './storm-guard.js';

/** What one request reads of the cluster once: its Nodes, alertfence's journals and pause, and the counts. */
export interface RequestSnapshot {
  /**
   * The Nodes the request names that exist (every Node when it was read with a list), and those of its active
   * fences when it asked for them (`SnapshotScope`).
   */
  nodes: Map<string, Node>;
  journals: Map<string, JournalRead>;
  pause: Pause | undefined;
  /** The storm guards' counts, read the first time a node needs them and then kept for the request. */
  counts: () => Promise<ClusterSnapshot>;
  /** A node's own Leases, read with the journals when the request names that one node and it is not Ready. */
  leases: Map<string, Promise<NodeLeases>>;
}

/** A node's kubelet heartbeat Lease and another remediator's lock on it. */
type NodeLeases = Pick<NodeSnapshot, 'kubeletLease' | 'remediatorLease'>;

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

/** The counts of each view's Nodes at a version: an alert recounts only its named nodes while nothing changed. */
const countedViews = new WeakMap<object, { version: number; config: object; counts: ClusterSnapshot }>();

/**
 * The storm guards' counts from the Nodes the process follows, with the named nodes as their own consistent
 * read shows them; `undefined` when the view cannot vouch for what it holds.
 */
function countFollowed(
  view: FollowedNodes,
  named: readonly Node[],
  config: FenceContext['config'],
): ClusterSnapshot | undefined {
  // Read together (nothing runs in between): the version is that of these Nodes.
  const version = view.version?.();
  const followed = view.current();
  if (!followed) return undefined;
  const kept = countedViews.get(view);
  let counts: ClusterSnapshot;
  if (kept && version !== undefined && kept.version === version && kept.config === config) {
    counts = kept.counts;
  } else {
    counts = summarizeCluster(followed, config);
    if (version !== undefined) countedViews.set(view, { version, config, counts });
  }
  for (const node of named) {
    const name = node.metadata?.name ?? '';
    const before = followed.find((held) => held.metadata?.name === name);
    counts = recountNode(counts, before, node, config);
  }
  return counts;
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
  const followed = context.nodeView ? countFollowed(context.nodeView, named, config) : undefined;
  if (followed) return followed;
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

/** What a look at the cluster reads besides the Nodes it names. */
export interface SnapshotScope {
  /**
   * Also the Node of every active fence the journals show (the tick's, which resumes them): read with a GET
   * once the journals are listed, unless every Node was listed.
   */
  activeFences?: boolean;
}

/**
 * One look at the cluster per request, whatever the number of nodes it names: the named Nodes (`'all'`: every
 * Node), every journal and the pause (one label-selected list of alertfence's own Leases). The counts wait
 * until a node needs them; when every Node was listed, they come from that list.
 */
export async function readRequestSnapshot(
  context: FenceContext,
  names: readonly string[] | 'all',
  options: KubeCallOptions,
  scope: SnapshotScope = {},
): Promise<RequestSnapshot> {
  const { kube, config, keys } = context;
  const unique = names === 'all' ? [] : [...new Set(names)];
  const listed = names === 'all' || unique.length > NAMED_NODES_READ_ONE_BY_ONE;
  const nodeLeases = new Map<string, Promise<NodeLeases>>();
  const readNamed = async (name: string) => {
    const node = await kube.getNode(name, options);
    // An alert about one node that is not Ready (the usual webhook) needs its Leases unless a cheap guard
    // refuses it: read them while the journals are still being listed, one round trip fewer. A grouped alert
    // reads them only for the nodes that pass the cheap guards (a zone going dark costs no read a node).
    if (unique.length === 1 && node && readiness(node).status !== 'True') {
      const reading = readNodeLeases(context, name, options);
      reading.catch(() => {}); // Told when used; a node refused before never needs them.
      nodeLeases.set(name, reading);
    }
    return node;
  };
  const [found, leases] = await Promise.all([
    listed ? kube.listNodes(options) : mapInFlight(unique, NODE_READS_IN_FLIGHT, readNamed),
    kube.listLeases(config.namespace, `app.kubernetes.io/managed-by=${KUBE_NAMES.component}`, options),
  ]);
  const journals = new Map<string, JournalRead>();
  let pause: Pause | undefined;
  for (const lease of leases) {
    const name = lease.metadata?.name ?? '';
    if (name === KUBE_NAMES.pauseLease) pause = pauseOf(lease, context.now());
    else if (name !== KUBE_NAMES.slotsLease) journals.set(name, readJournal(lease, keys));
  }
  if (scope.activeFences && !listed) {
    // A fence's Node is read as an alert reads its own: consistently, and absent only when the API server says so.
    const read = new Set(unique);
    const fenced = [...journals]
      .filter(([name, journal]) => !read.has(name) && journal.kind === 'trusted' && isActive(journal.journal))
      .map(([name]) => name);
    found.push(...(await mapInFlight(fenced, NODE_READS_IN_FLIGHT, (name) => kube.getNode(name, options))));
  }
  const nodes = new Map<string, Node>();
  for (const node of found) if (node) nodes.set(node.metadata?.name ?? '', node);
  if (listed) {
    const counted = summarizeCluster([...nodes.values()], config);
    return { nodes, journals, pause, counts: async () => counted, leases: nodeLeases };
  }
  const counts = once(() => readCounts(context, [...nodes.values()], options));
  return { nodes, journals, pause, counts, leases: nodeLeases };
}

/** A node's own Leases: the kubelet's heartbeat, and another remediator's lock. */
async function readNodeLeases(
  context: FenceContext,
  name: string,
  options: KubeCallOptions,
): Promise<NodeLeases> {
  const [kubeletLease, remediatorLease] = await Promise.all([
    context.kube.getLease(KUBE_NAMES.kubeletLeaseNamespace, name, options),
    context.kube.getLease(KUBE_NAMES.medik8sLeaseNamespace, `node-${name}`, options),
  ]);
  return { kubeletLease, remediatorLease };
}

/**
 * The node's own Leases (kubelet heartbeat, another remediator's lock), read once the cheap guards passed, or
 * taken from the request's look at the cluster when it read them already.
 */
export async function completeSnapshot(
  context: FenceContext,
  name: string,
  node: Node | undefined,
  journal: JournalRead,
  options: KubeCallOptions,
  read?: Promise<NodeLeases>,
): Promise<NodeSnapshot> {
  const { kubeletLease, remediatorLease } = await (read ?? readNodeLeases(context, name, options));
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
