import { randomUUID } from 'node:crypto';
import { DriverAuthError, InstanceNotFoundError, type PowerDriver } from '../../drivers/driver.js';
import { isLeaseHeld, nodeIdentity } from '../kube/node-facts.js';
import type { Lease } from '../kube/objects.js';
import type { KubeCallOptions } from '../kube/port.js';
import { describeError, isRetryable } from './errors.js';
import { emitEvent, recordEvent } from './events.js';
import { type ExecutorDeps, type RunResult, runFence } from './executor.js';
import {
  type ClusterSnapshot,
  decide,
  type NodeSnapshot,
  type ResumeRefusal,
  resumeRefusal,
} from './guards.js';
import type { Continuation, Handoff } from './handoff.js';
import {
  completePhase,
  type FenceJournal,
  type FenceTrigger,
  hasCompleted,
  isActive,
  isStale,
  JOURNAL_VERSION,
  journalLeaseName,
} from './journal.js';
import {
  type JournalRead,
  newHandoffNonce,
  nonceMatches,
  readJournal,
  writeJournal,
} from './journal-store.js';
import { type PlannedStep, planFence } from './plan.js';
import { releaseSlot, type SlotAnswer, takeSlot } from './slots.js';
import { EVENT_REASONS, KUBE_NAMES, type Outcome, REASONS, type Reason } from './vocabulary.js';

export interface FenceServiceDeps extends ExecutorDeps {
  continuation: Continuation;
  newId?: () => string;
}

/** A request to fence one node, from an alert or by hand. */
export interface FenceTarget {
  node: string;
  trigger: FenceTrigger;
}

/** Per-node answer of the HTTP API. */
export interface NodeResult {
  node: string;
  outcome: Outcome;
  reason: string;
  message: string;
  fence?: { id: string; phase: string; status: string };
  plan?: PlannedStep[];
  journal?: FenceJournal;
  /** True when the outcome is `failed` and a retry may succeed (the HTTP layer answers 503). */
  retryable?: boolean;
}

export interface RequestOptions {
  requestId: string;
  dryRun: boolean;
  /** Epoch ms by which the invocation must answer. */
  deadline: number;
  /** Run the fence in this invocation until done (manual `wait`) instead of handing it to the runtime. */
  wait?: boolean;
  /** True once the process is shutting down: a running fence saves its step and stops. */
  shouldStop?: () => boolean;
}

/** Options of one invocation that continues a fence, or runs the scheduled tick. */
export interface ContinueOptions {
  requestId: string;
  deadline: number;
  shouldStop?: () => boolean;
}

/** What a continuation came to: a run of the fence, or a refusal that says why nothing ran. */
export type ContinueAnswer =
  | RunResult
  | { status: 'disarmed' | 'stale' | 'in-progress' | 'refused'; reason: Reason; message: string };

/** A node's journal as `GET /v1/nodes/{node}/fence` shows it; a rejected one says why. */
export type JournalView =
  | { kind: 'trusted'; journal: FenceJournal }
  | { kind: 'rejected'; reason: string; id?: string; status?: string };

export interface FenceService {
  /** Confirms, guards and starts (or plans, or resumes) fences; answers without waiting for the long phases. */
  request(targets: FenceTarget[], options: RequestOptions): Promise<NodeResult[]>;
  /** Continues a fence handed over by an earlier invocation, if its nonce is the one the fence expects. */
  continueFence(handoff: Handoff, options: ContinueOptions): Promise<ContinueAnswer>;
  /**
   * The scheduled tick: resumes fences whose continuation was lost (under every guard a resume runs) and
   * reports the ones that wait for an operator. Single-flight within a process.
   */
  tick(options: ContinueOptions): Promise<NodeResult[]>;
  /** The node's journal when alertfence trusts it (sealed, consistent); undefined otherwise. */
  journal(node: string): Promise<FenceJournal | undefined>;
  /** The node's journal for `GET /v1/nodes/{node}/fence`: trusted, or rejected with the reason. */
  view(node: string): Promise<JournalView | undefined>;
}

/** Backoff of in-invocation retries after a transient failure; then the next alert repeat resumes. */
const RETRY_DELAYS_MS = [2_000, 5_000, 15_000] as const;
/** Retries need room before the invocation's deadline to run a step and save it. */
const RETRY_DEADLINE_MARGIN_MS = 10_000;

const summary = (journal: FenceJournal) => ({ id: journal.id, phase: journal.phase, status: journal.status });

const TICK_TRIGGER: FenceTrigger = { kind: 'tick', reason: 'scheduled tick', force: false };

export function createFenceService(deps: FenceServiceDeps): FenceService {
  const { kube, config, now, log } = deps;
  const newId = deps.newId ?? randomUUID;
  const keys = config.journalKeys;
  let tickInFlight: Promise<NodeResult[]> | undefined;

  async function readNode(node: string, options: KubeCallOptions): Promise<NodeSnapshot> {
    const [found, kubeletLease, lease, remediatorLease] = await Promise.all([
      kube.getNode(node, options),
      kube.getLease(KUBE_NAMES.kubeletLeaseNamespace, node, options),
      kube.getLease(config.namespace, journalLeaseName(node), options),
      kube.getLease(KUBE_NAMES.medik8sLeaseNamespace, `node-${node}`, options),
    ]);
    return { node: found, kubeletLease, journal: readJournal(lease, keys), remediatorLease };
  }

  async function readCluster(options: KubeCallOptions): Promise<ClusterSnapshot> {
    return { nodes: await kube.listNodes(options) };
  }

  /** The answer for a journal alertfence will not obey; logged and recorded as an Event for the operator. */
  async function rejected(node: string, read: Extract<JournalRead, { kind: 'rejected' }>, requestId: string) {
    const message = `the journal of node ${node} is refused: ${read.reason}; nothing is executed until an operator checks it (kubectl get lease -n ${config.namespace} ${node} -o yaml) and deletes the Lease`;
    log.error('journal rejected', {
      requestId,
      node,
      fence: read.id,
      outcome: 'refused',
      reason: read.reason,
    });
    await recordEvent(deps, { node }, 'Warning', EVENT_REASONS.journalRejected, message);
    return { node, outcome: 'refused' as const, reason: REASONS.journalRejected, message };
  }

  /** Writes a hand-over (a fresh nonce, the Lease kept for it) and gives it to the runtime. */
  async function handOff(journal: FenceJournal, lease: Lease): Promise<void> {
    if (deps.continuation.accepting?.() === false) return;
    const { nonce, digest } = newHandoffNonce();
    const written = await writeJournal(
      deps,
      { ...journal, updatedAt: new Date(now()).toISOString() },
      { holder: KUBE_NAMES.handoffHolder, handoffDigest: digest },
      lease,
    );
    if (written === 'conflict') {
      log.warn('fence taken over before it could be handed on', { node: journal.node, fence: journal.id });
      return;
    }
    await deps.continuation.schedule({ node: journal.node, fenceId: journal.id, nonce });
  }

  /** Runs a fence now (wait mode) or hands it to the runtime; either way, this invocation holds the Lease. */
  async function proceed(
    journal: FenceJournal,
    lease: Lease,
    holder: string,
    options: RequestOptions,
  ): Promise<FenceJournal> {
    if (!options.wait) {
      await handOff(journal, lease);
      return journal;
    }
    const result = await runFence(
      deps,
      { journal, lease },
      {
        holder,
        deadline: options.deadline,
        requestId: options.requestId,
        force: journal.force,
        shouldStop: options.shouldStop,
      },
    );
    if (result.status === 'continue') await handOff(result.journal, result.lease);
    return result.journal;
  }

  /**
   * Takes over a fence with compare-and-swap, as `holder`, driven from now on by a request that forces it or
   * not; `handoffDigest` is kept only by the continuation it belongs to (a retried event may present it again),
   * any other takeover voids it. Undefined when someone else won.
   */
  async function takeOver(
    journal: FenceJournal,
    lease: Lease,
    holder: string,
    force: boolean,
    handoffDigest?: string,
  ) {
    const next: FenceJournal = {
      ...journal,
      force,
      attempt: journal.attempt + 1,
      updatedAt: new Date(now()).toISOString(),
    };
    const updated = await writeJournal(deps, next, { holder, handoffDigest }, lease);
    return updated === 'conflict' ? undefined : { journal: next, lease: updated };
  }

  /** Ends a fence that has not powered anything off: the node came back, was excluded or replaced. */
  async function abandon(journal: FenceJournal, lease: Lease, refusal: ResumeRefusal, requestId: string) {
    const holder = `${requestId}/${newId()}`;
    const taken = await takeOver(journal, lease, holder, false);
    if (!taken) return;
    await kube
      .removeTaint(journal.node, KUBE_NAMES.fencingTaintKey, { uid: journal.nodeUid })
      .catch((error) =>
        log.warn('could not remove the fencing taint', { node: journal.node, reason: String(error) }),
      );
    const at = new Date(now()).toISOString();
    const aborted: FenceJournal = { ...taken.journal, status: 'aborted', finishedAt: at, updatedAt: at };
    await writeJournal(deps, aborted, { holder: undefined }, taken.lease);
    log.warn('fence aborted on resume', {
      requestId,
      node: journal.node,
      fence: journal.id,
      reason: refusal.message,
    });
    await emitEvent(deps, aborted, 'Warning', EVENT_REASONS.aborted, `${refusal.reason}: ${refusal.message}`);
    await releaseSlot(deps, journal.node, journal.id).catch(() => {});
  }

  /**
   * Whether the instance a fence names is still the one its live Node resolves to now (before power-off, when
   * the cloud must show it): a journal never points the power-off at another machine.
   */
  async function instanceProblem(journal: FenceJournal, snapshot: NodeSnapshot, deadline: number) {
    if (hasCompleted(journal, 'PowerOff') || !snapshot.node) return undefined;
    const identity = nodeIdentity(snapshot.node);
    const picked = deps.drivers.pick(identity);
    if (!('driver' in picked)) return picked.reason;
    try {
      const ref = await picked.driver.resolve(identity, { deadline });
      if (ref.provider !== journal.instance.provider || ref.id !== journal.instance.id) {
        return `the Node resolves to ${ref.provider}:${ref.id}, not the journal's ${journal.instance.provider}:${journal.instance.id}`;
      }
      return undefined;
    } catch (error) {
      if (error instanceof InstanceNotFoundError) return error.message;
      throw error;
    }
  }

  /**
   * A fence that waits for an operator: stopped longer ago than ALERTFENCE_RESUME_WITHIN, or failed for a
   * reason a retry cannot fix. Reported, and resumed by nothing but a manual request.
   */
  function waitsForOperator(journal: FenceJournal): NodeResult | undefined {
    const base = { node: journal.node, fence: summary(journal) };
    const stopped = `fence ${journal.id} stopped after ${journal.phase} at ${journal.updatedAt}${journal.lastError ? ` (${journal.lastError.message})` : ''}`;
    if (isStale(journal, false, config.resumeWithinMs, now())) {
      log.warn('stale fence waits for an operator', {
        node: journal.node,
        fence: journal.id,
        outcome: 'refused',
        reason: REASONS.staleFence,
      });
      return {
        ...base,
        outcome: 'refused',
        reason: REASONS.staleFence,
        message: `${stopped}, longer ago than ALERTFENCE_RESUME_WITHIN (${config.resumeWithinMs / 1000}s); check the node and the machine, then resume it with a manual request`,
      };
    }
    if (journal.status === 'failed') {
      return {
        ...base,
        outcome: 'refused',
        reason: REASONS.needsOperator,
        message: `${stopped}; a retry cannot fix it: check, then resume it with a manual request`,
      };
    }
    return undefined;
  }

  /** Refusals a resume gets before anything else: a fence in progress, or one that waits for an operator. */
  function resumeGate(journal: FenceJournal, lease: Lease, trigger: FenceTrigger): NodeResult | undefined {
    if (isLeaseHeld(lease, now())) {
      return {
        node: journal.node,
        fence: summary(journal),
        outcome: 'in-progress',
        reason: REASONS.fenceInProgress,
        message: `fence ${journal.id} is running`,
      };
    }
    return trigger.kind === 'manual' ? undefined : waitsForOperator(journal);
  }

  /**
   * Resumes a fence that stopped part-way, under the guards its remaining phases need, driven from now on by
   * `trigger` (its force, never the old request's).
   */
  async function resume(
    target: FenceTarget,
    snapshot: NodeSnapshot,
    stored: { journal: FenceJournal; lease: Lease },
    cluster: () => Promise<ClusterSnapshot>,
    options: RequestOptions,
  ): Promise<NodeResult> {
    const { journal, lease } = stored;
    const gate = resumeGate(journal, lease, target.trigger);
    if (gate) return gate;
    const base = { node: target.node, fence: summary(journal) };
    const force = target.trigger.force;
    const refusal = resumeRefusal(journal, snapshot, await cluster(), config, now(), force);
    if (refusal) {
      if (refusal.abort && !options.dryRun) await abandon(journal, lease, refusal, options.requestId);
      return { ...base, outcome: refusal.outcome, reason: refusal.reason, message: refusal.message };
    }
    const mismatch = await instanceProblem(journal, snapshot, options.deadline);
    if (mismatch) {
      return {
        ...base,
        outcome: 'refused',
        reason: REASONS.journalRejected,
        message: `fence ${journal.id} is not resumed: ${mismatch}`,
      };
    }
    const message = `resuming fence ${journal.id} after ${journal.phase}`;
    if (options.dryRun) return { ...base, outcome: 'planned', reason: REASONS.resume, message };
    const slot = await takeSlot(deps, journal.node, journal.id, { deadline: options.deadline });
    if (!slot.taken) return { ...base, ...slotRefusal(slot) };
    const holder = `${options.requestId}/${newId()}`;
    const taken = await takeOver(journal, lease, holder, force);
    if (!taken) {
      return {
        node: target.node,
        outcome: 'in-progress',
        reason: REASONS.fenceInProgress,
        message: 'another invocation resumed it',
      };
    }
    const latest = await proceed(taken.journal, taken.lease, holder, options);
    return {
      node: target.node,
      outcome: 'accepted',
      reason: REASONS.resume,
      message,
      fence: summary(latest),
      ...(options.wait ? { journal: latest } : {}),
    };
  }

  /** The answer for a slot refused: the node is being fenced already, or the limit is reached. */
  function slotRefusal(answer: Exclude<SlotAnswer, { taken: true }>) {
    if ('sameNode' in answer) {
      return {
        outcome: 'in-progress' as const,
        reason: REASONS.fenceInProgress,
        message: `fence ${answer.sameNode.fence} of this node is starting`,
      };
    }
    return tooMany(answer.running);
  }

  function tooMany(running: ReadonlyArray<{ node: string; fence: string }>) {
    return {
      outcome: 'refused' as const,
      reason: REASONS.tooManyFences,
      message: `${running.length} fence(s) already running (${running.map((entry) => entry.node).join(', ')}), ALERTFENCE_MAX_CONCURRENT_FENCES is ${config.maxConcurrentFences}`,
    };
  }

  /** Starts (or plans) a new fence of a node confirmed down. */
  async function begin(
    target: FenceTarget,
    snapshot: NodeSnapshot,
    message: string,
    options: RequestOptions,
  ) {
    const base = { node: target.node };
    const node = snapshot.node;
    if (!node?.metadata?.uid)
      return {
        ...base,
        outcome: 'not-found' as const,
        reason: REASONS.nodeNotFound,
        message: 'no such Node',
      };
    const identity = nodeIdentity(node);
    const picked = deps.drivers.pick(identity);
    if (!('driver' in picked))
      return { ...base, outcome: 'refused' as const, reason: REASONS.noDriver, message: picked.reason };
    const driver: PowerDriver = picked.driver;
    const callOptions = { deadline: options.deadline };
    let instance: Awaited<ReturnType<PowerDriver['resolve']>>;
    let seen: Awaited<ReturnType<PowerDriver['describe']>>;
    try {
      // Before anything is decided on it, the cloud must show the instance to these credentials: a wrong
      // account, role or region answers "not found", which must never be mistaken for "off".
      instance = await driver.resolve(identity, callOptions);
      seen = await driver.describe(instance, callOptions);
      if (seen.missing)
        throw new InstanceNotFoundError(`instance ${instance.id} is not found for these credentials`);
    } catch (error) {
      if (error instanceof InstanceNotFoundError) {
        return {
          ...base,
          outcome: 'refused' as const,
          reason: REASONS.instanceNotFound,
          message: error.message,
        };
      }
      if (error instanceof DriverAuthError) {
        return {
          ...base,
          outcome: 'refused' as const,
          reason: REASONS.cloudAccessDenied,
          message: `${driver.name}: ${error.message}`,
        };
      }
      throw error;
    }

    if (options.dryRun) {
      // Reads only: safety invariant 5.
      const [pods, attachments, persistentVolumes] = await Promise.all([
        kube.listPodsOnNode(target.node, callOptions),
        kube.listVolumeAttachments(target.node, callOptions),
        kube.listPersistentVolumes(callOptions),
      ]);
      const plan = planFence({
        node: target.node,
        instance: seen,
        pods,
        attachments,
        persistentVolumes,
        config,
      });
      return {
        ...base,
        outcome: 'planned' as const,
        reason: REASONS.dryRun,
        message: 'dry-run: nothing was changed',
        plan,
      };
    }

    const fenceId = newId();
    const slot = await takeSlot(deps, target.node, fenceId, callOptions);
    if (!slot.taken) return { ...base, ...slotRefusal(slot) };
    const holder = `${options.requestId}/${newId()}`;
    const at = now();
    const iso = new Date(at).toISOString();
    const fresh: FenceJournal = {
      version: JOURNAL_VERSION,
      id: fenceId,
      node: target.node,
      nodeUid: node.metadata.uid,
      ...(identity.providerID ? { providerID: identity.providerID } : {}),
      trigger: target.trigger,
      force: target.trigger.force,
      status: 'running',
      phase: 'Confirm',
      instance,
      instanceSeen: { at: iso, cloudState: seen.cloudState },
      ...(snapshot.kubeletLease?.spec?.renewTime
        ? { kubeletRenewTime: snapshot.kubeletLease.spec.renewTime }
        : {}),
      attempt: 1,
      startedAt: iso,
      updatedAt: iso,
      powerOn: config.powerOn,
      release: { detachRequested: [] },
      steps: [],
    };
    const journal = completePhase(
      completePhase(fresh, 'Confirm', at, at, message),
      'Lock',
      at,
      now(),
      'locked',
    );
    // Create, or replace the finished fence's Lease at the version we read: either way compare-and-swap,
    // so of N concurrent requests exactly one takes the lock (safety invariant 3).
    const lease = await writeJournal(deps, journal, { holder }, snapshot.journal.lease, callOptions);
    if (lease === 'conflict') {
      await releaseSlot(deps, target.node, fenceId).catch(() => {});
      return {
        ...base,
        outcome: 'in-progress' as const,
        reason: REASONS.fenceInProgress,
        message: 'another request took the lock first',
      };
    }
    log.info('fence started', {
      requestId: options.requestId,
      node: target.node,
      fence: journal.id,
      phase: 'Lock',
      outcome: 'accepted',
    });
    await emitEvent(
      deps,
      journal,
      'Normal',
      EVENT_REASONS.started,
      `${target.trigger.kind}: ${target.trigger.reason}`,
    );
    const latest = await proceed(journal, lease, holder, options);
    return {
      ...base,
      outcome: 'accepted' as const,
      reason: REASONS.accepted,
      message,
      fence: summary(latest),
      ...(options.wait ? { journal: latest } : {}),
    };
  }

  /** One node of a request: a journal refused, a fence resumed, or a new fence decided on. */
  async function handle(
    target: FenceTarget,
    options: RequestOptions,
    cluster: () => Promise<ClusterSnapshot>,
  ): Promise<NodeResult> {
    const snapshot = await readNode(target.node, { deadline: options.deadline });
    const read = snapshot.journal;
    if (read.kind === 'rejected') return rejected(target.node, read, options.requestId);
    if (read.kind === 'trusted' && isActive(read.journal)) {
      return resume(target, snapshot, read, cluster, options);
    }
    const decision = decide({ force: target.trigger.force }, snapshot, await cluster(), config, now());
    if (decision.outcome !== 'accepted') {
      return {
        node: target.node,
        ...decision,
        ...(read.kind === 'trusted' ? { fence: summary(read.journal) } : {}),
      };
    }
    return begin(target, snapshot, decision.message, options);
  }

  /** Runs `handle` for each target in turn, failing closed per node (safety invariant 6). */
  async function each(targets: FenceTarget[], options: RequestOptions): Promise<NodeResult[]> {
    let snapshot: Promise<ClusterSnapshot> | undefined;
    const cluster = () => {
      snapshot ??= readCluster({ deadline: options.deadline });
      return snapshot;
    };
    const results: NodeResult[] = [];
    for (const target of targets) {
      try {
        const result = await handle(target, options, cluster);
        log.info('decision', {
          requestId: options.requestId,
          node: target.node,
          outcome: result.outcome,
          reason: result.reason,
        });
        results.push(result);
      } catch (error) {
        // Nothing destructive happened; ask for a retry when it may help.
        const retryable = isRetryable(error);
        const message = describeError(error);
        log.warn('could not decide', {
          requestId: options.requestId,
          node: target.node,
          outcome: 'failed',
          reason: message,
        });
        results.push({
          node: target.node,
          outcome: 'failed',
          reason: retryable ? REASONS.apiUnavailable : REASONS.error,
          message,
          retryable,
        });
      }
    }
    return results;
  }

  async function continueOnce(handoff: Handoff, options: ContinueOptions): Promise<ContinueAnswer> {
    const refused = (status: 'stale' | 'in-progress' | 'refused', reason: Reason, message: string) => {
      log.warn('continuation refused', {
        requestId: options.requestId,
        node: handoff.node,
        fence: handoff.fenceId,
        outcome: status,
        reason: message,
      });
      return { status, reason, message };
    };
    const deadline = options.deadline;
    const snapshot = await readNode(handoff.node, { deadline });
    const read = snapshot.journal;
    if (read.kind === 'rejected') {
      const answer = await rejected(handoff.node, read, options.requestId);
      return { status: 'refused', reason: answer.reason, message: answer.message };
    }
    if (read.kind !== 'trusted' || read.journal.id !== handoff.fenceId || !isActive(read.journal)) {
      return refused(
        'stale',
        REASONS.staleContinuation,
        `fence ${handoff.fenceId} of ${handoff.node} is not running`,
      );
    }
    // The nonce proves this is the continuation the fence handed itself to, and no replay or forgery.
    if (!nonceMatches(handoff.nonce, read.handoffDigest)) {
      return refused(
        'stale',
        REASONS.staleContinuation,
        `not the continuation fence ${handoff.fenceId} expects (replayed, forged or superseded)`,
      );
    }
    const { journal, lease } = read;
    const holder = lease.spec?.holderIdentity;
    if (holder && holder !== KUBE_NAMES.handoffHolder && isLeaseHeld(lease, now())) {
      return refused('in-progress', REASONS.fenceInProgress, `fence ${journal.id} is running`);
    }
    const waiting = waitsForOperator(journal);
    if (waiting) return refused('refused', waiting.reason as Reason, waiting.message);
    const refusal = resumeRefusal(
      journal,
      snapshot,
      await readCluster({ deadline }),
      config,
      now(),
      journal.force,
    );
    if (refusal) {
      if (refusal.abort) await abandon(journal, lease, refusal, options.requestId);
      return refused('refused', refusal.reason, refusal.message);
    }
    const mismatch = await instanceProblem(journal, snapshot, deadline);
    if (mismatch) return refused('refused', REASONS.journalRejected, mismatch);
    const slot = await takeSlot(deps, journal.node, journal.id, { deadline });
    if (!slot.taken) {
      const answer = slotRefusal(slot);
      return refused(
        answer.outcome === 'in-progress' ? 'in-progress' : 'refused',
        answer.reason,
        answer.message,
      );
    }
    const runner = `${options.requestId}/${newId()}`;
    const taken = await takeOver(journal, lease, runner, journal.force, read.handoffDigest);
    if (!taken)
      return refused('in-progress', REASONS.fenceInProgress, 'another invocation took the fence over');
    const result = await runFence(deps, taken, {
      holder: runner,
      deadline,
      requestId: options.requestId,
      force: taken.journal.force,
      handoffDigest: read.handoffDigest,
      shouldStop: options.shouldStop,
    });
    if (result.status === 'continue') await handOff(result.journal, result.lease);
    return result;
  }

  return {
    request: each,

    async continueFence(handoff, options) {
      // Disarmed means disarmed: a fence handed over while armed waits, journaled, until the deployment is
      // armed again (then the tick or an alert repeat resumes it under the guards).
      if (config.dryRun) {
        log.warn('continuation refused: the deployment is disarmed', {
          requestId: options.requestId,
          node: handoff.node,
          fence: handoff.fenceId,
          outcome: 'disarmed',
        });
        return {
          status: 'disarmed',
          reason: REASONS.disarmed,
          message: 'alertfence is disarmed (ALERTFENCE_DRY_RUN is not false): the fence waits in its journal',
        };
      }
      for (let retry = 0; ; retry++) {
        const answer = await continueOnce(handoff, options);
        // A transient failure (throttling, an API server blip) is retried here with backoff rather than
        // left to Alertmanager's next repeat, which may be many minutes away. The run kept the nonce's digest,
        // so the same hand-over may take the fence again.
        const delay = RETRY_DELAYS_MS[retry];
        if (answer.status !== 'retry' || delay === undefined || options.shouldStop?.()) return answer;
        if (now() + delay >= options.deadline - RETRY_DEADLINE_MARGIN_MS) return answer;
        log.info('retrying after a transient failure', {
          requestId: options.requestId,
          node: handoff.node,
          fence: handoff.fenceId,
          reason: 'journal' in answer ? answer.journal.lastError?.message : undefined,
          retryInMs: delay,
        });
        await deps.sleep(delay);
      }
    },

    tick(options) {
      tickInFlight ??= (async () => {
        try {
          const leases = await kube.listLeases(config.namespace, `${KUBE_NAMES.kindLabel}=journal`, {
            deadline: options.deadline,
          });
          const targets: FenceTarget[] = [];
          const results: NodeResult[] = [];
          for (const lease of leases) {
            const read = readJournal(lease, keys);
            const node = lease.metadata?.name ?? '';
            if (read.kind === 'rejected') results.push(await rejected(node, read, options.requestId));
            else if (read.kind === 'trusted' && isActive(read.journal))
              targets.push({ node, trigger: TICK_TRIGGER });
          }
          // Disarmed, it reports what it would resume and changes nothing.
          results.push(...(await each(targets, { ...options, dryRun: config.dryRun })));
          log.info('tick', { requestId: options.requestId, fences: targets.length, outcome: 'ok' });
          return results;
        } finally {
          tickInFlight = undefined;
        }
      })();
      return tickInFlight;
    },

    async journal(node) {
      const read = readJournal(await kube.getLease(config.namespace, journalLeaseName(node)), keys);
      return read.kind === 'trusted' ? read.journal : undefined;
    },

    async view(node) {
      const read = readJournal(await kube.getLease(config.namespace, journalLeaseName(node)), keys);
      if (read.kind === 'none') return undefined;
      if (read.kind === 'trusted') return { kind: 'trusted', journal: read.journal };
      return {
        kind: 'rejected',
        reason: read.reason,
        ...(read.id ? { id: read.id } : {}),
        ...(read.status ? { status: read.status } : {}),
      };
    },
  };
}
