import { randomUUID } from 'node:crypto';
import { InstanceNotFoundError, type InstanceRef, type PowerDriver } from '../../drivers/driver.js';
import { nodeIdentity } from '../kube/node-facts.js';
import type { Lease } from '../kube/objects.js';
import {
  type ExecutorDeps,
  emitEvent,
  isRetryable,
  type RunResult,
  runFence,
  writeJournal,
} from './executor.js';
import { type ClusterSnapshot, type Decision, decide, type NodeSnapshot } from './guards.js';
import {
  completePhase,
  type FenceJournal,
  type FenceTrigger,
  journalLeaseName,
  readJournal,
} from './journal.js';
import { type PlannedStep, planFence } from './plan.js';
import { EVENT_REASONS, KUBE_NAMES, type Outcome, REASONS } from './vocabulary.js';

/** Everything a later invocation needs to pick a fence up where this one handed it over. */
export interface Handoff {
  node: string;
  fenceId: string;
  /** The holder that handed over; only it may be taken over while the Lease is still held. */
  holder: string;
}

/** How a runtime continues a fence after the request that accepted it has been answered. */
export interface Continuation {
  schedule(handoff: Handoff): Promise<void>;
}

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

/** Options of one invocation that continues a fence. */
export interface ContinueOptions {
  requestId: string;
  deadline: number;
  shouldStop?: () => boolean;
}

export interface FenceService {
  /** Confirms, guards and starts (or plans) fences; answers without waiting for the long phases. */
  request(targets: FenceTarget[], options: RequestOptions): Promise<NodeResult[]>;
  /** Continues a fence handed over by an earlier invocation. */
  continueFence(handoff: Handoff, options: ContinueOptions): Promise<RunResult | undefined>;
  journal(node: string): Promise<FenceJournal | undefined>;
}

/** Backoff of in-invocation retries after a transient failure; then the next alert repeat resumes. */
const RETRY_DELAYS_MS = [2_000, 5_000, 15_000] as const;
/** Retries need room before the invocation's deadline to run a step and save it. */
const RETRY_DEADLINE_MARGIN_MS = 10_000;

const summary = (journal: FenceJournal) => ({ id: journal.id, phase: journal.phase, status: journal.status });

export function createFenceService(deps: FenceServiceDeps): FenceService {
  const { kube, config, now } = deps;
  const newId = deps.newId ?? randomUUID;

  async function readNode(node: string): Promise<NodeSnapshot> {
    const [found, kubeletLease, lease, remediatorLease] = await Promise.all([
      kube.getNode(node),
      kube.getLease(KUBE_NAMES.kubeletLeaseNamespace, node),
      kube.getLease(config.namespace, journalLeaseName(node)),
      kube.getLease(KUBE_NAMES.medik8sLeaseNamespace, `node-${node}`),
    ]);
    return { node: found, kubeletLease, journalLease: lease, journal: readJournal(lease), remediatorLease };
  }

  async function readCluster(): Promise<ClusterSnapshot> {
    const [nodes, leases] = await Promise.all([kube.listNodes(), kube.listLeases(config.namespace)]);
    const runningFences = leases
      .map(readJournal)
      .filter(
        (journal): journal is FenceJournal => journal?.status === 'running' || journal?.status === 'failed',
      );
    return { nodes, runningFences };
  }

  /** Runs a fence now (wait mode) or hands it to the runtime; either way, this invocation holds the Lease. */
  async function proceed(journal: FenceJournal, lease: Lease, holder: string, options: RequestOptions) {
    if (options.wait) {
      const result = await runFence(
        deps,
        { journal, lease },
        { holder, deadline: options.deadline, requestId: options.requestId, shouldStop: options.shouldStop },
      );
      if (result.status === 'continue') {
        await deps.continuation.schedule({ node: journal.node, fenceId: journal.id, holder });
      }
      return result.journal;
    }
    await deps.continuation.schedule({ node: journal.node, fenceId: journal.id, holder });
    return journal;
  }

  /** Takes over a fence whose last holder stopped, with compare-and-swap; undefined if someone else won. */
  async function takeOver(journal: FenceJournal, lease: Lease, holder: string) {
    const next: FenceJournal = {
      ...journal,
      attempt: journal.attempt + 1,
      updatedAt: new Date(now()).toISOString(),
    };
    const updated = await writeJournal(deps, next, holder, lease);
    return updated === 'conflict' ? undefined : { journal: next, lease: updated };
  }

  async function start(
    target: FenceTarget,
    snapshot: NodeSnapshot,
    decision: Decision,
    cluster: ClusterSnapshot,
    options: RequestOptions,
  ): Promise<NodeResult> {
    const base = { node: target.node };
    const holder = `${options.requestId}/${newId()}`;

    if (decision.resume) {
      if (options.dryRun) {
        return {
          ...base,
          outcome: 'planned',
          reason: REASONS.resume,
          message: decision.message,
          fence: summary(decision.resume),
        };
      }
      const taken = snapshot.journalLease && (await takeOver(decision.resume, snapshot.journalLease, holder));
      if (!taken)
        return {
          ...base,
          outcome: 'in-progress',
          reason: REASONS.fenceInProgress,
          message: 'another invocation resumed it',
        };
      const journal = await proceed(taken.journal, taken.lease, holder, options);
      return {
        ...base,
        outcome: 'accepted',
        reason: REASONS.resume,
        message: decision.message,
        fence: summary(journal),
        ...(options.wait ? { journal } : {}),
      };
    }

    const node = snapshot.node;
    if (!node)
      return { ...base, outcome: 'not-found', reason: REASONS.nodeNotFound, message: 'no such Node' };
    const identity = nodeIdentity(node);
    const picked = deps.drivers.pick(identity);
    if (!('driver' in picked))
      return { ...base, outcome: 'refused', reason: REASONS.noDriver, message: picked.reason };
    const driver: PowerDriver = picked.driver;
    const callOptions = { deadline: options.deadline };
    let instance: InstanceRef;
    try {
      instance = await driver.resolve(identity, callOptions);
    } catch (error) {
      if (error instanceof InstanceNotFoundError) {
        return { ...base, outcome: 'refused', reason: REASONS.noDriver, message: error.message };
      }
      throw error;
    }

    if (options.dryRun) {
      // Reads only: safety invariant 5.
      const [description, pods, attachments, persistentVolumes] = await Promise.all([
        driver.describe(instance, callOptions),
        kube.listPodsOnNode(target.node),
        kube.listVolumeAttachments(target.node),
        kube.listPersistentVolumes(),
      ]);
      const plan = planFence({
        node: target.node,
        instance: description,
        pods,
        attachments,
        persistentVolumes,
        config,
      });
      return {
        ...base,
        outcome: 'planned',
        reason: REASONS.dryRun,
        message: 'dry-run: nothing was changed',
        plan,
      };
    }

    const at = now();
    const fresh: FenceJournal = {
      version: 1,
      id: newId(),
      node: target.node,
      ...(node.metadata?.uid ? { nodeUid: node.metadata.uid } : {}),
      trigger: target.trigger,
      status: 'running',
      phase: 'Confirm',
      instance,
      attempt: 1,
      startedAt: new Date(at).toISOString(),
      updatedAt: new Date(at).toISOString(),
      powerOn: config.powerOn,
      release: { detachRequested: [] },
      steps: [],
    };
    const journal = completePhase(
      completePhase(fresh, 'Confirm', at, at, decision.message),
      'Lock',
      at,
      now(),
      holder,
    );
    // Create, or replace the finished fence's Lease at the version we read: either way compare-and-swap,
    // so of N concurrent requests exactly one takes the lock (safety invariant 3).
    const lease = await writeJournal(deps, journal, holder, snapshot.journalLease);
    if (lease === 'conflict') {
      return {
        ...base,
        outcome: 'in-progress',
        reason: REASONS.fenceInProgress,
        message: 'another request took the lock first',
      };
    }
    cluster.runningFences.push(journal);
    deps.log.info('fence started', {
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
      outcome: 'accepted',
      reason: REASONS.accepted,
      message: decision.message,
      fence: summary(latest),
      ...(options.wait ? { journal: latest } : {}),
    };
  }

  return {
    async request(targets, options) {
      let cluster: ClusterSnapshot | undefined;
      const results: NodeResult[] = [];
      // One node at a time: each accepted fence counts against the storm guard of the next.
      for (const target of targets) {
        try {
          const snapshot = await readNode(target.node);
          cluster ??= await readCluster();
          const decision = decide(
            { node: target.node, trigger: target.trigger.kind, force: target.trigger.force },
            snapshot,
            cluster,
            config,
            now(),
          );
          const journal = snapshot.journal;
          const result: NodeResult =
            decision.outcome === 'accepted'
              ? await start(target, snapshot, decision, cluster, options)
              : {
                  node: target.node,
                  outcome: decision.outcome,
                  reason: decision.reason,
                  message: decision.message,
                  ...(journal ? { fence: summary(journal) } : {}),
                };
          deps.log.info('decision', {
            requestId: options.requestId,
            node: target.node,
            outcome: result.outcome,
            reason: result.reason,
          });
          results.push(result);
        } catch (error) {
          // Fail closed (safety invariant 6): nothing destructive happened; ask for a retry when it may help.
          const retryable = isRetryable(error);
          const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          deps.log.warn('could not decide', {
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
    },

    async continueFence(handoff, options) {
      for (let retry = 0; ; retry++) {
        const lease = await kube.getLease(config.namespace, journalLeaseName(handoff.node));
        const journal = readJournal(lease);
        if (!lease || !journal || journal.id !== handoff.fenceId) return undefined;
        // Only the invocation that handed over may be taken over while its hold lasts; a failed run has
        // released its hold, so a retry finds it empty.
        const current = lease.spec?.holderIdentity;
        if (current && current !== handoff.holder) return undefined;
        const holder = `${options.requestId}/${newId()}`;
        const taken = await takeOver(journal, lease, holder);
        if (!taken) return undefined;
        const result = await runFence(deps, taken, {
          holder,
          deadline: options.deadline,
          requestId: options.requestId,
          shouldStop: options.shouldStop,
        });
        if (result.status === 'continue') {
          await deps.continuation.schedule({ node: handoff.node, fenceId: handoff.fenceId, holder });
          return result;
        }
        // A transient failure (throttling, an API server blip) is retried here with backoff rather than
        // left to Alertmanager's next repeat, which may be many minutes away.
        const delay = RETRY_DELAYS_MS[retry];
        if (result.status !== 'retry' || delay === undefined || options.shouldStop?.()) return result;
        if (now() + delay >= options.deadline - RETRY_DEADLINE_MARGIN_MS) return result;
        deps.log.info('retrying after a transient failure', {
          requestId: options.requestId,
          node: handoff.node,
          fence: handoff.fenceId,
          reason: result.journal.lastError?.message,
          retryInMs: delay,
        });
        await deps.sleep(delay);
      }
    },

    async journal(node) {
      return readJournal(await kube.getLease(config.namespace, journalLeaseName(node)));
    },
  };
}
