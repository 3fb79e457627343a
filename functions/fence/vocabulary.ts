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
export type FenceStatus = 'running' | 'succeeded' | 'failed' | 'aborted';

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
  tooManyFences: 'TooManyConcurrentFences',
  cooldown: 'Cooldown',
  alertResolved: 'AlertResolved',
  notAFenceAlert: 'NotAFenceAlert',
  invalidAlert: 'InvalidAlert',
  noDriver: 'NoDriver',
  dryRun: 'DryRun',
  fenceInProgress: 'FenceInProgress',
  nodeNotFound: 'NodeNotFound',
  accepted: 'Accepted',
  apiUnavailable: 'ApiServerUnavailable',
  /** A fence that stopped part-way picked up again by this request. */
  resume: 'Resume',
  /** A failure that is neither the API server nor the cloud being away: the message says what. */
  error: 'Error',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** Kubernetes Event reasons, one per phase transition, emitted on the Node (on the Lease once it is gone). */
export const EVENT_REASONS = {
  started: 'FenceStarted',
  phaseCompleted: 'FencePhaseCompleted',
  phaseFailed: 'FencePhaseFailed',
  succeeded: 'FenceSucceeded',
  aborted: 'FenceAborted',
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
  /** Label on the journal Lease with the fence's status, for `kubectl get lease -L`. */
  statusLabel: 'alertfence.io/status',
  /** medik8s remediators lock nodes with Leases here and honour this exclusion label. */
  medik8sLeaseNamespace: 'medik8s-leases',
  medik8sExcludeLabel: 'remediation.medik8s.io/exclude-from-remediation',
  kubeletLeaseNamespace: 'kube-node-lease',
  controlPlaneLabels: ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master'],
  /** The name alertfence uses as field manager and Event reporting component. */
  component: 'alertfence',
} as const;
