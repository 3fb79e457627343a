/**
 * The words of a fence, in one place: phases, outcomes, event reasons, and the Kubernetes names alertfence
 * writes. The API, the journal, the logs and the Events all speak these same words.
 */

/** The fence sequence of the design, in order. A journal records the last phase that completed. */
export const PHASES = [
  'Confirm',
  'Lock',
  'Mark',
  'PowerOff',
  'VerifyOff',
  'Release',
  'DeleteNode',
  'PowerOn',
  'Done',
] as const;
export type Phase = (typeof PHASES)[number];

/** Index of a phase in the sequence, for "has this fence got past X" checks. */
export function phaseIndex(phase: Phase): number {
  return PHASES.indexOf(phase);
}

/** Per-node result of a request, as returned by the HTTP API. */
export const OUTCOMES = [
  'accepted',
  'in-progress',
  'skipped',
  'refused',
  'planned',
  'not-found',
  'failed',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Where a fence stands, as recorded in its journal. */
export const FENCE_STATUSES = ['running', 'succeeded', 'failed', 'aborted'] as const;
export type FenceStatus = (typeof FENCE_STATUSES)[number];

/**
 * How one run of a fence (an invocation's share of it) ended: `continue` hands it on to the next invocation,
 * `retry` asks for a later attempt, `lock-lost` means another invocation took it over.
 */
export const RUN_STATUSES = ['succeeded', 'continue', 'retry', 'failed', 'aborted', 'lock-lost'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Why a continuation ran nothing (`POST /v1/fences/continue` answers 409 with it). */
export const CONTINUATION_REFUSALS = ['disarmed', 'stale', 'in-progress', 'refused'] as const;
export type ContinuationRefusal = (typeof CONTINUATION_REFUSALS)[number];

/** The fences `GET /v1/fences?status=` lists: running, failed, or waiting for an operator. */
export const FENCE_LIST_FILTERS = ['running', 'failed', 'waiting'] as const;
export type FenceListFilter = (typeof FENCE_LIST_FILTERS)[number];

/** What asked for a fence, or for it to go on. */
/**
 * `detected`: the scheduled tick found the node NotReady for longer than ALERTFENCE_DETECT_AFTER without any
 * alert (the monitoring stack may have died with it).
 */
export const TRIGGER_KINDS = ['alert', 'manual', 'tick', 'detected'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** Why a node was refused or skipped; stable machine-readable words, shown in `reason` and in Events. */
export const REASONS = {
  nodeReady: 'NodeReady',
  notUnhealthyLongEnough: 'NotUnhealthyLongEnough',
  kubeletLeaseFresh: 'KubeletLeaseFresh',
  notInScope: 'NotInScope',
  excluded: 'Excluded',
  controlPlane: 'ControlPlane',
  heldByOtherRemediator: 'HeldByOtherRemediator',
  stormGuard: 'StormGuard',
  /** Too many unhealthy nodes in the node's zone (or region): an outage or a partition of that domain. */
  domainStormGuard: 'FailureDomainStormGuard',
  tooManyFences: 'TooManyConcurrentFences',
  cooldown: 'Cooldown',
  alertResolved: 'AlertResolved',
  notAFenceAlert: 'NotAFenceAlert',
  invalidAlert: 'InvalidAlert',
  noDriver: 'NoDriver',
  /** The cloud does not show the node's instance to these credentials (or it is not the cluster's). */
  instanceNotFound: 'InstanceNotFound',
  /** The cloud refused alertfence's credentials: configuration to fix. */
  cloudAccessDenied: 'CloudAccessDenied',
  dryRun: 'DryRun',
  fenceInProgress: 'FenceInProgress',
  nodeNotFound: 'NodeNotFound',
  accepted: 'Accepted',
  apiUnavailable: 'ApiServerUnavailable',
  /** A fence that stopped part-way picked up again by this request. */
  resume: 'Resume',
  /** A failure that is neither the API server nor the cloud being away: the message says what. */
  error: 'Error',
  /** The journal failed its seal or its consistency checks: never executed, an operator must look. */
  journalRejected: 'JournalRejected',
  /** A fence that stopped longer ago than ALERTFENCE_RESUME_WITHIN: reported, resumed only by a manual request. */
  staleFence: 'StaleFence',
  /** A fence that failed for a reason a retry cannot fix: resumed only by a manual request. */
  needsOperator: 'NeedsOperator',
  /** The deployment is disarmed: continuations and resumes wait until it is armed again. */
  disarmed: 'Disarmed',
  /** A continuation whose nonce is not the one the fence's Lease holds (replayed, forged, or superseded). */
  staleContinuation: 'StaleContinuation',
  /** The Node of that name is not the Node the fence is about (recreated under the same name). */
  nodeReplaced: 'NodeReplaced',
  /** A node whose name alertfence uses for its own bookkeeping Lease. */
  reservedName: 'ReservedName',
  /** An operator paused alertfence cluster-wide (`POST /v1/pause`). */
  paused: 'Paused',
  /** The node was fenced ALERTFENCE_MAX_FENCES_PER_NODE times within ALERTFENCE_FENCE_WINDOW: it needs a human. */
  fenceCap: 'FenceCapReached',
  /** A cluster autoscaler or Karpenter is removing the node: not a failure to fence. */
  plannedRemoval: 'PlannedRemoval',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** Kubernetes Event reasons, one per phase transition, emitted on the Node (on the Lease once it is gone). */
export const EVENT_REASONS = {
  started: 'FenceStarted',
  phaseCompleted: 'FencePhaseCompleted',
  phaseFailed: 'FencePhaseFailed',
  succeeded: 'FenceSucceeded',
  aborted: 'FenceAborted',
  /** A journal failed its seal or consistency checks; nothing was executed. */
  journalRejected: 'FenceJournalRejected',
  /** A fence waits for an operator (it failed for good, or stopped too long ago). */
  needsOperator: 'FenceNeedsOperator',
} as const;
