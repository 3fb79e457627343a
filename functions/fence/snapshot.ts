/**
 * What the service reads of the cluster to decide: for a request, one look at the whole cluster (every Node,
 * counted once per zone and region, and every journal) and then each named node's own Leases; for a
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
import { type ClusterSnapshot, summarizeCluster } from './storm-guard.js';

/** What one request reads of the cluster once: its Nodes (and their counts), alertfence's journals and pause. */
export interface RequestSnapshot {
  cluster: ClusterSnapshot;
  nodes: Map<string, Node>;
  journals: Map<string, JournalRead>;
  pause: Pause | undefined;
}

/** Every Node, counted for the storm guards. */
export async function readCluster(context: FenceContext, options: KubeCallOptions): Promise<ClusterSnapshot> {
  return summarizeCluster(await context.kube.listNodes(options), context.config);
}

/**
 * One look at the cluster per request, whatever the number of nodes it names: every Node (for the storm
 * guards), every journal and the pause (one label-selected list of alertfence's own Leases). A grouped alert then reads
 * nothing more per node until the cheap guards have passed.
 */
export async function readRequestSnapshot(
  context: FenceContext,
  options: KubeCallOptions,
): Promise<RequestSnapshot> {
  const { kube, config, keys } = context;
  const [nodes, leases] = await Promise.all([
    kube.listNodes(options),
    kube.listLeases(config.namespace, `app.kubernetes.io/managed-by=${KUBE_NAMES.component}`, options),
  ]);
  const journals = new Map<string, JournalRead>();
  let pause: Pause | undefined;
  for (const lease of leases) {
    const name = lease.metadata?.name ?? '';
    if (name === KUBE_NAMES.pauseLease) pause = pauseOf(lease, context.now());
    else if (name !== KUBE_NAMES.slotsLease) journals.set(name, readJournal(lease, keys));
  }
  return {
    cluster: summarizeCluster(nodes, config),
    nodes: new Map(nodes.map((node) => [node.metadata?.name ?? '', node])),
    journals,
    pause,
  };
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
