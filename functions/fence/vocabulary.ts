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

/** What asked for a fence, or for it to go on. */
export const TRIGGER_KINDS = ['alert', 'manual', 'tick'] as const;
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

/** Names alertfence writes into the cluster. */
export const KUBE_NAMES = {
  /** NoSchedule taint added at Mark; never cordon (KubeNodeNotReady ignores unschedulable nodes). */
  fencingTaintKey: 'alertfence.io/fencing',
  /** Kubernetes' non-graceful node shutdown taint (KEP-2268, GA in 1.28); controllers match the key only. */
  outOfServiceTaintKey: 'node.kubernetes.io/out-of-service',
  outOfServiceTaintValue: 'nodeshutdown',
  /** Annotation on the journal Lease holding the journal as JSON. */
  journalAnnotation: 'alertfence.io/journal',
  /** Annotation holding the HMAC that seals the journal (and the hand-over digest) to this Lease. */
  sealAnnotation: 'alertfence.io/seal',
  /** Annotation holding the SHA-256 of the current hand-over's nonce; the nonce itself is never stored. */
  handoffAnnotation: 'alertfence.io/handoff',
  /** Label telling alertfence's Leases apart: `journal` or `slots`. */
  kindLabel: 'alertfence.io/kind',
  /** The Lease that holds the cluster-wide fence slots (ALERTFENCE_MAX_CONCURRENT_FENCES). */
  slotsLease: 'alertfence.fence-slots',
  /** Annotation of the slots Lease holding its entries as JSON. */
  slotsAnnotation: 'alertfence.io/slots',
  /** The holder a Lease names between a hand-over and its continuation's takeover. */
  handoffHolder: 'alertfence/handoff',
  /** Label on the journal Lease with the fence's status, for `kubectl get lease -L`. */
  statusLabel: 'alertfence.io/status',
  /** medik8s remediators lock nodes with Leases here and honour this exclusion label. */
  medik8sLeaseNamespace: 'medik8s-leases',
  medik8sExcludeLabel: 'remediation.medik8s.io/exclude-from-remediation',
  kubeletLeaseNamespace: 'kube-node-lease',
  controlPlaneLabels: ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master'],
  /** The well-known failure-domain labels the storm guard groups nodes by. */
  zoneLabel: 'topology.kubernetes.io/zone',
  regionLabel: 'topology.kubernetes.io/region',
  /** The name alertfence uses as field manager and Event reporting component. */
  component: 'alertfence',
} as const;
