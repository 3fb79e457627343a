/**
 * A new fence of a node confirmed down: the cloud must show its machine to these credentials first; a dry run
 * answers the exact plan; otherwise a concurrency slot, then the journal Lease (the lock), then the runtime.
 */
import { DriverAuthError, InstanceNotFoundError, type PowerDriver } from '../../drivers/driver.js';
import { slotRefusal, summary } from './answers.js';
import type { NodeResult, RequestOptions } from './api.js';
import { type FenceContext, holderOf } from './context.js';
import { emitEvent } from './events.js';
import { nodeIdentity } from './fence-rules.js';
import type { NodeSnapshot } from './guards.js';
import type { Handoff } from './handoff.js';
import { runOrHandOver } from './handover.js';
import {
  completePhase,
  type FenceJournal,
  type FenceTrigger,
  historyAfter,
  JOURNAL_VERSION,
} from './journal.js';
import { writeJournal } from './journal-store.js';
import { tell } from './observer.js';
import { planFence } from './plan.js';
import { releaseSlot, takeSlot } from './slots.js';
import { EVENT_REASONS, REASONS } from './vocabulary.js';

type Machine = { driver: PowerDriver; instance: Awaited<ReturnType<PowerDriver['resolve']>> };

/**
 * The node's machine, read now: refused when no driver claims the node, when the cloud does not show the
 * instance to these credentials (a wrong account, role or region answers "not found", never to be taken for
 * "off"), or when the cloud refuses the credentials.
 */
async function findMachine(
  context: FenceContext,
  snapshot: NodeSnapshot,
  deadline: number,
): Promise<
  | (Machine & { seen: Awaited<ReturnType<PowerDriver['describe']>> })
  | Pick<NodeResult, 'outcome' | 'reason' | 'message'>
> {
  const identity = nodeIdentity(snapshot.node ?? {});
  const picked = context.drivers.pick(identity);
  if (!('driver' in picked)) return { outcome: 'refused', reason: REASONS.noDriver, message: picked.reason };
  const { driver } = picked;
  try {
    const instance = await driver.resolve(identity, { deadline });
    const seen = await driver.describe(instance, { deadline });
    if (seen.missing)
      throw new InstanceNotFoundError(`instance ${instance.id} is not found for these credentials`);
    return { driver, instance, seen };
  } catch (error) {
    if (error instanceof InstanceNotFoundError) {
      return { outcome: 'refused', reason: REASONS.instanceNotFound, message: error.message };
    }
    if (error instanceof DriverAuthError) {
      return {
        outcome: 'refused',
        reason: REASONS.cloudAccessDenied,
        message: `${driver.name}: ${error.message}`,
      };
    }
    throw error;
  }
}

/** The journal of a fence that starts now, through Confirm and Lock. */
function newJournal(
  context: FenceContext,
  trigger: FenceTrigger,
  snapshot: NodeSnapshot,
  machine: { instance: Machine['instance']; cloudState: string; gone: boolean },
  fenceId: string,
  confirmed: string,
): FenceJournal {
  const node = snapshot.node ?? {};
  const identity = nodeIdentity(node);
  const at = context.now();
  const iso = new Date(at).toISOString();
  const fresh: FenceJournal = {
    version: JOURNAL_VERSION,
    id: fenceId,
    node: identity.name,
    nodeUid: node.metadata?.uid ?? '',
    ...(identity.providerID ? { providerID: identity.providerID } : {}),
    trigger,
    force: trigger.force,
    status: 'running',
    phase: 'Confirm',
    instance: machine.instance,
    instanceSeen: { at: iso, cloudState: machine.cloudState },
    // The cloud's own record says the machine ended (terminated, deleted): verifiably off, never powered off.
    ...(machine.gone ? { instanceEnded: { at: iso, cloudState: machine.cloudState } } : {}),
    ...(snapshot.kubeletLease?.spec?.renewTime
      ? { kubeletRenewTime: snapshot.kubeletLease.spec.renewTime }
      : {}),
    attempt: 1,
    startedAt: iso,
    updatedAt: iso,
    powerOn: context.config.powerOn,
    release: { detachRequested: [] },
    phases: [],
    history: historyAfter(
      snapshot.journal.kind === 'trusted' ? snapshot.journal.journal : undefined,
      context.config.historyLength,
    ),
  };
  return completePhase(
    completePhase(fresh, 'Confirm', at, at, confirmed),
    'Lock',
    at,
    context.now(),
    'locked',
  );
}

/** Starts (or plans) a new fence of a node confirmed down. */
export async function startFence(
  context: FenceContext,
  trigger: FenceTrigger,
  snapshot: NodeSnapshot,
  confirmed: string,
  options: RequestOptions,
  handoffs: Handoff[],
): Promise<NodeResult> {
  const { kube, config, log } = context;
  const name = snapshot.node?.metadata?.name ?? '';
  if (!snapshot.node?.metadata?.uid) {
    return { node: name, outcome: 'not-found', reason: REASONS.nodeNotFound, message: 'no such Node' };
  }
  const callOptions = { deadline: options.deadline };
  const machine = await findMachine(context, snapshot, options.deadline);
  if (!('driver' in machine)) return { node: name, ...machine };

  if (options.dryRun) {
    // Reads only: safety invariant 5. What the plan shows comes from the watch cache: nothing acts on it, and
    // a consistent list of kinds nothing writes would wait up to 100 ms for the cache to catch up.
    const shown = { ...callOptions, fromCache: true };
    const [pods, attachments, persistentVolumes] = await Promise.all([
      kube.listPodsOnNode(name, shown),
      kube.listVolumeAttachments(name, shown),
      kube.listPersistentVolumes(shown),
    ]);
    const plan = planFence({
      node: name,
      instance: machine.seen,
      pods,
      attachments,
      persistentVolumes,
      config,
    });
    return {
      node: name,
      outcome: 'planned',
      reason: REASONS.dryRun,
      message: 'dry-run: nothing was changed',
      plan,
    };
  }

  const fenceId = context.newId();
  const slot = await takeSlot(context, name, fenceId, callOptions);
  if (!slot.taken) return { node: name, ...slotRefusal(context, slot) };
  const holder = holderOf(context, options.requestId);
  const journal = newJournal(
    context,
    trigger,
    snapshot,
    { instance: machine.instance, cloudState: machine.seen.cloudState, gone: machine.seen.gone },
    fenceId,
    confirmed,
  );
  // Create, or replace the finished fence's Lease at the version we read: either way compare-and-swap,
  // so of N concurrent requests exactly one takes the lock (safety invariant 3).
  const lease = await writeJournal(context, journal, { holder }, snapshot.journal.lease, callOptions);
  if (lease === 'conflict') {
    await releaseSlot(context, name, fenceId).catch(() => {});
    return {
      node: name,
      outcome: 'in-progress',
      reason: REASONS.fenceInProgress,
      message: 'another request took the lock first',
    };
  }
  log.info('fence started', {
    requestId: options.requestId,
    node: name,
    fence: fenceId,
    phase: 'Lock',
    outcome: 'accepted',
  });
  tell(context, { kind: 'started', journal });
  await emitEvent(context, journal, 'Normal', EVENT_REASONS.started, `${trigger.kind}: ${trigger.reason}`);
  const latest = await runOrHandOver(context, { journal, lease }, holder, options, handoffs);
  return {
    node: name,
    outcome: 'accepted',
    reason: REASONS.accepted,
    message: confirmed,
    fence: summary(latest),
    ...(options.wait ? { journal: latest } : {}),
  };
}
