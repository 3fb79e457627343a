/**
 * The scheduled tick: every journal, looked at. A fence whose continuation was lost (its hold ran out) is
 * resumed under every guard a resume runs; one that waits for an operator, or a journal alertfence will not
 * obey, is reported. With ALERTFENCE_DETECT_AFTER set, it also finds nodes NotReady for that long that no
 * fence is about, and fences them under every guard: a node whose death took the monitoring stack with it is
 * fenced all the same. Disarmed, it only reports what it would do. A process that follows the Nodes finds them
 * in what it holds, so a tick reads no list of every Node there.
 */
import type { Config } from '../config.js';
import { readiness } from '../kube/node-facts.js';
import type { Node } from '../kube/objects.js';
import { journalRejected } from './answers.js';
import type { Answered, FenceTarget, InvocationOptions, NodeResult } from './api.js';
import type { FenceContext } from './context.js';
import type { Handoff } from './handoff.js';
import type { FenceTrigger } from './journal.js';
import { isActive } from './journal.js';
import type { JournalRead } from './journal-store.js';
import { requestFences } from './request.js';
import { scopeRefusal } from './scope.js';
import { readRequestSnapshot } from './snapshot.js';

const TICK_TRIGGER: FenceTrigger = { kind: 'tick', reason: 'scheduled tick', force: false };

/**
 * Nodes NotReady for at least ALERTFENCE_DETECT_AFTER, in scope, that no journal has a fence of (an active
 * fence is the tick's to resume). Everything else (cooldown, cap, storm, health, pause) is the request's
 * guards' to decide, as for an alert.
 */
export function detectedDown(
  nodes: Iterable<Node>,
  journals: ReadonlyMap<string, JournalRead>,
  config: Config,
  now: number,
): FenceTarget[] {
  if (config.detectAfterMs <= 0) return [];
  const targets: FenceTarget[] = [];
  for (const node of nodes) {
    const name = node.metadata?.name ?? '';
    const read = journals.get(name);
    if (read?.kind === 'rejected' || (read?.kind === 'trusted' && isActive(read.journal))) continue;
    if (scopeRefusal(node, config)) continue;
    const ready = readiness(node);
    if (ready.status === 'True' || ready.since === undefined) continue;
    const downForMs = now - ready.since;
    if (downForMs < config.detectAfterMs) continue;
    const minutes = Math.round(downForMs / 60_000);
    targets.push({
      node: name,
      trigger: {
        kind: 'detected',
        reason: `Ready=${ready.status} for ${minutes}m, past ALERTFENCE_DETECT_AFTER (${config.detectAfterMs / 60_000}m), with no alert`,
        force: false,
      },
    });
  }
  return targets;
}

/**
 * The Nodes detection must read: none when it is off; when the process follows the Nodes and can vouch for
 * them, those they show down long enough, to be read again consistently (a view a moment behind can name a
 * node that came back, never one that has been down for minutes and is not in it); else every Node.
 */
function nodesToDetect(context: FenceContext): readonly string[] | 'all' {
  const { config } = context;
  if (config.detectAfterMs <= 0) return [];
  const followed = context.nodeView?.current();
  if (!followed) return 'all';
  return detectedDown(followed, new Map(), config, context.now()).map((target) => target.node);
}

export async function tick(
  context: FenceContext,
  options: InvocationOptions,
): Promise<Answered<NodeResult[]>> {
  const { config, log } = context;
  // One look at the cluster serves the whole tick: the journals to resume (and their Nodes), the nodes to
  // detect, the pause. Every Node decided about is its own consistent read, as an alert's is.
  const snapshot = await readRequestSnapshot(
    context,
    nodesToDetect(context),
    { deadline: options.deadline },
    { activeFences: true },
  );
  const targets: FenceTarget[] = [];
  const results: NodeResult[] = [];
  for (const [node, read] of snapshot.journals) {
    if (read.kind === 'rejected')
      results.push(await journalRejected(context, node, read, options.requestId, config.dryRun));
    else if (read.kind === 'trusted' && isActive(read.journal)) targets.push({ node, trigger: TICK_TRIGGER });
  }
  const detected = detectedDown(snapshot.nodes.values(), snapshot.journals, config, context.now());
  targets.push(...detected);
  const handoffs: Handoff[] = [];
  const requestOptions = { ...options, dryRun: config.dryRun };
  results.push(...(await requestFences(context, targets, requestOptions, handoffs, snapshot)));
  log.info('tick', {
    requestId: options.requestId,
    fences: targets.length - detected.length,
    detected: detected.length,
    outcome: 'ok',
  });
  return { answer: results, handoffs };
}
