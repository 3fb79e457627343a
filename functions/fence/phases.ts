import { DeadlineExceededError } from '../../drivers/driver.js';
import { KUBE_NAMES } from '../kube/names.js';
import { KubePreconditionError } from '../kube/port.js';
import { FencePausedError, PowerTimeoutError, SafetyViolationError } from './errors.js';
import { fencingTaint } from './fence-rules.js';
import { healthRefusal, identityProblem } from './guards.js';
import { type FenceJournal, hasCompleted } from './journal.js';
import { pauseRefusal, readPause } from './pause.js';
import { type Handler, noteEnded, type PhaseInput, requireOffNow } from './phase-support.js';
import { releaseWorkloads } from './release-phase.js';
import { type Phase, REASONS } from './vocabulary.js';

export type { Handler, PhaseInput, PhaseResult } from './phase-support.js';

/**
 * The fence's phases, one handler each, in the order of the runbook. A handler is idempotent: it looks
 * before it acts, so running it again after a crash or a retry does no harm. The executor runs them and
 * journals what they return.
 *
 * Nothing here trusts the journal's word about the world: before each release action the instance is read
 * from the cloud again and must be off, and every Node and pod is acted on by UID.
 */

export const PHASE_HANDLERS: Record<Phase, Handler> = {
  // Confirm and Lock complete before the executor runs (see start.ts); nothing to do if replayed.
  Confirm: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'confirmed' }),
  Lock: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'locked' }),

  async Mark(deps, input) {
    const { journal, deadline } = input;
    const node = await deps.kube.getNode(journal.node, { deadline });
    if (!node)
      return { kind: 'abort', reason: REASONS.nodeNotFound, detail: 'the Node disappeared before power-off' };
    const problem = identityProblem(journal, node);
    if (problem) return { kind: 'abort', reason: REASONS.nodeReplaced, detail: problem };
    try {
      await deps.kube.addTaint(journal.node, fencingTaint(), { uid: journal.nodeUid, deadline });
    } catch (error) {
      // The UID precondition failed: the Node of that name is another one now.
      if (error instanceof KubePreconditionError)
        return { kind: 'abort', reason: REASONS.nodeReplaced, detail: error.message };
      throw error;
    }
    return { kind: 'done', journal, detail: `taint ${fencingTaint().key}:NoSchedule added` };
  },

  async PowerOff(deps, input) {
    const { journal, deadline, driver, instance } = input;
    // Last look before the point of no return: the Node is still the fence's own, and (unless this very
    // request forced it) still down — a kubelet Lease that moved since Confirm means it is alive (invariant 2).
    const [node, kubeletLease, pause] = await Promise.all([
      deps.kube.getNode(journal.node, { deadline }),
      deps.kube.getLease(KUBE_NAMES.kubeletLeaseNamespace, journal.node, { deadline }),
      readPause(deps, { deadline }),
    ]);
    // Paused since this fence was decided on: it stops here, resumable, and waits for the pause to end.
    const paused = pauseRefusal(pause, journal);
    if (paused) throw new FencePausedError(paused.message);
    if (!node)
      return { kind: 'abort', reason: REASONS.nodeNotFound, detail: 'the Node disappeared before power-off' };
    const problem = identityProblem(journal, node);
    if (problem) return { kind: 'abort', reason: REASONS.nodeReplaced, detail: problem };
    if (!input.force) {
      const refusal = healthRefusal(
        { node, kubeletLease },
        deps.config,
        deps.now(),
        journal.kubeletRenewTime,
      );
      if (refusal) {
        await deps.kube.removeTaint(journal.node, fencingTaint().key, { uid: journal.nodeUid, deadline });
        return { kind: 'abort', reason: refusal.reason, detail: refusal.message };
      }
    }
    const description = await driver.describe(instance, { deadline });
    if (description.missing) {
      // It existed when the fence started; not found now is a configuration change (credentials, role,
      // region) far likelier than an instance terminated and aged out within the fence. Never guess.
      throw new SafetyViolationError(
        `instance ${instance.id}, seen ${journal.instanceSeen.cloudState} at ${journal.instanceSeen.at}, is not found right before power-off: check the credentials, role and region; nothing was done`,
      );
    }
    if (description.power === 'off') {
      return {
        kind: 'done',
        journal: noteEnded(journal, description, deps.now()),
        detail: `instance ${instance.id} already ${description.cloudState}`,
      };
    }
    if (description.stopping) {
      // A stop is under way (this fence's own, sent before a crash kept it from being journaled): one stop
      // request per fence; VerifyOff waits for it.
      return { kind: 'done', journal, detail: `instance ${instance.id} already ${description.cloudState}` };
    }
    if (journal.powerOffRequestedAt) {
      // This fence asked for the stop before and the machine runs now: someone started it after our stop, or
      // the request never reached the cloud. Which one, nothing here can tell; one power-off per fence
      // (invariant 3), so a person decides.
      throw new SafetyViolationError(
        `power-off of ${instance.id} was requested by this fence at ${journal.powerOffRequestedAt}, and the instance is ${description.cloudState} now: someone started it again, or the request was lost; it is not powered off a second time. Look at the machine; to fence it again, delete the journal Lease and ask anew`,
      );
    }
    // Written ahead: once the request may have left, a resumed fence must know it was sent (see above).
    const requested = { ...journal, powerOffRequestedAt: new Date(deps.now()).toISOString() };
    await input.writeAhead(requested);
    try {
      await driver.powerOff(instance, { deadline });
    } catch (error) {
      await withdrawIfNotTaken(input, journal);
      throw error;
    }
    return {
      kind: 'done',
      journal: requested,
      detail: `power-off of ${instance.id} requested (was ${description.cloudState})`,
    };
  },

  async VerifyOff(deps, { journal, deadline, driver, instance }, log) {
    try {
      const description = await driver.waitForPower(instance, 'off', {
        deadline,
        // "Not found" means ended only after this fence saw the cloud record it terminated.
        notFoundMeansOff: journal.instanceEnded !== undefined,
        onProgress: (detail) => log.info('progress', { phase: 'VerifyOff', reason: detail }),
      });
      const verified = {
        ...noteEnded(journal, description, deps.now()),
        verifiedOffAt: new Date(deps.now()).toISOString(),
      };
      return {
        kind: 'done',
        journal: verified,
        detail: `instance ${instance.id} verified ${description.cloudState}`,
      };
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      const since = phaseFinishedAt(journal, 'PowerOff');
      if (deps.now() - since > deps.config.powerTimeoutMs) {
        throw new PowerTimeoutError(
          `instance ${instance.id} not off after ${deps.config.powerTimeoutMs / 1000}s`,
          { cause: error },
        );
      }
      return { kind: 'pending', journal, detail: error.message };
    }
  },

  Release: releaseWorkloads,

  async DeleteNode(deps, input) {
    const { journal, deadline } = input;
    // Delete the Node while the machine is off (checked again now): a kubelet registers only at start, so the
    // machine comes back as a fresh Node after power-on. By UID: a Node recreated under the name is not ours.
    await requireOffNow(input, 'deleting the Node');
    try {
      await deps.kube.deleteNode(journal.node, { uid: journal.nodeUid, deadline });
    } catch (error) {
      if (!(error instanceof KubePreconditionError)) throw error;
      throw new SafetyViolationError(
        `a Node ${journal.node} with another UID stands where the fenced one was (${error.message}); it is left alone and the machine stays off`,
      );
    }
    return { kind: 'done', journal, detail: 'Node deleted' };
  },

  async PowerOn(deps, { journal, deadline, driver, instance }) {
    // Safety invariant 7: power on only after the Node is deleted and its volumes released.
    if (!hasCompleted(journal, 'Release') || !hasCompleted(journal, 'DeleteNode')) {
      throw new SafetyViolationError('power-on attempted before release and Node deletion');
    }
    if (journal.powerOn === 'off')
      return { kind: 'done', journal, detail: 'left off (ALERTFENCE_POWER_ON=off)' };
    const description = await driver.describe(instance, { deadline });
    if (description.gone || description.missing)
      return {
        kind: 'done',
        journal,
        detail: `instance ${instance.id} is ${description.cloudState}; nothing to power on`,
      };
    if (description.power === 'off') await driver.powerOn(instance, { deadline });
    try {
      const on = await driver.waitForPower(instance, 'on', { deadline });
      return { kind: 'done', journal, detail: `instance ${instance.id} ${on.cloudState}` };
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      if (deps.now() - phaseFinishedAt(journal, 'DeleteNode') > deps.config.powerTimeoutMs) {
        throw new PowerTimeoutError(
          `instance ${instance.id} not on after ${deps.config.powerTimeoutMs / 1000}s`,
        );
      }
      return { kind: 'pending', journal, detail: error.message };
    }
  },

  Done: async (_deps, { journal }) => ({ kind: 'done', journal, detail: 'fence complete' }),
};

/**
 * After a power-off request that failed: when the cloud's own record shows the machine still running and no
 * stop under way, the request did not take and the written-ahead record is withdrawn, so a retry (a throttled
 * call, say) may ask again. If the cloud cannot be read, or shows anything else, the record stays: a resumed
 * fence then waits for a person rather than risk a second power-off.
 */
async function withdrawIfNotTaken(input: PhaseInput, before: FenceJournal): Promise<void> {
  const now = await input.driver
    .describe(input.instance, { deadline: input.deadline })
    .catch(() => undefined);
  if (now?.power !== 'on' || now.stopping) return;
  await input.writeAhead(before);
}

function phaseFinishedAt(journal: FenceJournal, phase: Phase): number {
  const record = journal.phases.find((candidate) => candidate.phase === phase);
  return record ? Date.parse(record.finishedAt) : Date.parse(journal.updatedAt);
}
