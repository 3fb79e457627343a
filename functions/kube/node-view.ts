/**
 * The Nodes kept in memory by a process that stays up (the Node server, OpenFaaS), so that an alert counts the
 * cluster for the storm guards without reading a row a Node: one list from the watch cache, then watches that
 * keep it current, as client-go's informers do. A Lambda is frozen between invocations and keeps none.
 *
 * The view vouches for itself only while it provably follows the API server: a watch the API server accepted
 * less than its `timeoutSeconds` (+ slack) ago, not failed since. A connection that dies silently is found out
 * within that time, and until a new watch is accepted `current()` answers nothing, so the caller reads the
 * cluster itself. It is what the API server's watch cache holds (the `resourceVersion=0` reads the counts used
 * before), a moment later; never a source for deciding about the alerted node itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { Node, NodeCondition } from './objects.js';
import { KubeForbiddenError, KubeGoneError, type NodeWatchEvent, type NodeWatchPort } from './port.js';

/** What the view is doing, for `/readyz` and `/metrics`. */
export interface NodeViewState {
  /** `current`: it vouches for what it holds; `syncing`: listing or between watches; `failing`: see `reason`. */
  status: 'current' | 'syncing' | 'failing';
  /** How many Nodes it holds. */
  nodes: number;
  /** The last failure, while it lasts. */
  reason?: string;
}

export interface NodeView {
  /**
   * The Nodes the selector selects, as the watch last told (stripped to labels, taints and the `Ready`
   * condition); `undefined` when the view cannot vouch that it is current.
   */
  current(): Node[] | undefined;
  /** Moves on with every change to what it holds (a list, an added, changed or deleted Node), never back. */
  version(): number;
  state(): NodeViewState;
  /** Stops following; `current()` answers nothing from then on. */
  close(): void;
}

export interface NodeViewOptions {
  /** Which Nodes to follow: alertfence's scope, as far as labels say it (`scopeSelector`). */
  labelSelector: string;
  log: Logger;
  /**
   * How long each watch lasts before the API server ends it and a new one starts (`timeoutSeconds`): the
   * longest a silently dead connection goes unnoticed is this plus `WATCH_SLACK_SECONDS`.
   */
  watchSeconds?: number;
  /** A monotonic clock in ms (tests inject one). */
  clock?: () => number;
  /** The wall clock in ms: it moves on while a suspended machine's monotonic clock stands still. */
  wallClock?: () => number;
  /** The pause before trying again after the n-th failure in a row (tests make it short). */
  retryDelayMs?: (failures: number) => number;
}

/** Each watch lasts this long: about a request every 5 s, and at most 8 s of a dead connection unnoticed. */
export const WATCH_SECONDS = 5;
/** Time the API server may take past `timeoutSeconds` to end a watch before the view stops vouching. */
export const WATCH_SLACK_SECONDS = 3;

/**
 * 1 s, 2 s, 4 s … up to a minute, whatever the failure. A 403 too: a restarted API server refuses every request
 * for its first moments, until its authorizer has read the RBAC objects, so it is no proof that RBAC lacks
 * `watch`; when RBAC does lack it, a request a minute is what it costs.
 */
function defaultRetryDelay(failures: number): number {
  return Math.min(60_000, 1_000 * 2 ** Math.min(failures - 1, 6));
}

/** What the storm guards read of a Node, and nothing else: memory stays a few hundred bytes a Node. */
export function guardFacts(node: Node): Node {
  const { name, uid, labels, resourceVersion } = node.metadata ?? {};
  const ready = (node.status?.conditions ?? []).filter((condition) => condition.type === 'Ready');
  return {
    metadata: { name, uid, labels, resourceVersion },
    spec: { taints: node.spec?.taints },
    status: { conditions: ready as NodeCondition[] },
  };
}

/**
 * Starts following the Nodes. Failures are logged and retried; the view answers nothing while it cannot
 * vouch, which is never an error for the caller: it reads the cluster itself then.
 *
 * @example
 * const view = followNodes(kube, { labelSelector: scopeSelector(config), log });
 * const nodes = view.current() ?? (await kube.listNodes());
 */
export function followNodes(port: NodeWatchPort, options: NodeViewOptions): NodeView {
  const { labelSelector, log } = options;
  const watchSeconds = options.watchSeconds ?? WATCH_SECONDS;
  const clock = options.clock ?? (() => performance.now());
  const wallClock = options.wallClock ?? Date.now;
  const retryDelay = options.retryDelayMs ?? defaultRetryDelay;
  const stopped = new AbortController();
  const nodes = new Map<string, Node>();
  let synced = false;
  let changes = 0;
  let resourceVersion = '';
  // When the API server last accepted a watch, on both clocks; the view vouches while neither says it is too
  // long ago (a wall clock set back, or a monotonic one stopped by a suspended machine, cannot extend it).
  let opened: { at: number; wallAt: number } | undefined;
  let reason: string | undefined;

  // Never holds the process up, and ends at once on `close`.
  const pause = (ms: number) =>
    sleep(ms, undefined, { signal: stopped.signal, ref: false }).catch(() => undefined);

  const apply = ({ type, node }: NodeWatchEvent) => {
    const name = node.metadata?.name ?? '';
    if (type === 'ADDED' || type === 'MODIFIED') nodes.set(name, guardFacts(node));
    if (type === 'DELETED') nodes.delete(name);
    if (type !== 'BOOKMARK') changes += 1;
    resourceVersion = node.metadata?.resourceVersion ?? resourceVersion;
  };

  async function list() {
    const listed = await port.listNodesToWatch(labelSelector);
    nodes.clear();
    for (const node of listed.nodes) nodes.set(node.metadata?.name ?? '', guardFacts(node));
    resourceVersion = listed.resourceVersion;
    synced = true;
    changes += 1;
  }

  async function follow() {
    let failures = 0;
    let hinted = false;
    while (!stopped.signal.aborted) {
      try {
        if (!synced) {
          await list();
          log.info('following the Nodes', { nodes: nodes.size, labelSelector });
        }
        const began = clock();
        await port.watchNodes(
          labelSelector,
          resourceVersion,
          watchSeconds,
          {
            onOpen: () => {
              opened = { at: clock(), wallAt: wallClock() };
            },
            onEvent: apply,
          },
          stopped.signal,
        );
        if (failures > 0) log.info('following the Nodes again', { nodes: nodes.size });
        failures = 0;
        hinted = false;
        reason = undefined;
        // A watch ended long before its time (a proxy that cuts streams) is not opened again in a tight loop.
        const early = began + (watchSeconds * 1000) / 2 - clock();
        if (early > 0) await pause(Math.min(early, 1_000));
      } catch (error) {
        opened = undefined;
        if (stopped.signal.aborted) return;
        if (error instanceof KubeGoneError) {
          // Too long away: the API server no longer has the changes since our version. List again at once.
          synced = false;
          continue;
        }
        failures += 1;
        reason = error instanceof Error ? error.message : String(error);
        const forbidden = error instanceof KubeForbiddenError;
        // Once when it starts failing, and once more if it turns out to be refused.
        if (failures === 1 || (forbidden && !hinted)) {
          log.warn('cannot follow the Nodes; alerts count the cluster with a read of their own', {
            reason,
            ...(forbidden ? { hint: 'grant alertfence list and watch on nodes (see infra/)' } : {}),
          });
          hinted ||= forbidden;
        }
        await pause(retryDelay(failures));
      }
    }
  }

  void follow();
  const vouchMs = (watchSeconds + WATCH_SLACK_SECONDS) * 1000;
  const vouches = () =>
    synced &&
    !stopped.signal.aborted &&
    opened !== undefined &&
    Math.max(clock() - opened.at, wallClock() - opened.wallAt) < vouchMs;
  return {
    current: () => (vouches() ? [...nodes.values()] : undefined),
    version: () => changes,
    state: () => ({
      status: vouches() ? 'current' : reason ? 'failing' : 'syncing',
      nodes: nodes.size,
      ...(reason ? { reason } : {}),
    }),
    close: () => stopped.abort(),
  };
}
