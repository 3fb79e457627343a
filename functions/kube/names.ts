/**
 * The Kubernetes names alertfence reads and writes: taint keys, label and annotation keys, namespaces, the
 * names of its own Leases. The fence's words (phases, outcomes, reasons) are in `fence/vocabulary.ts`.
 */

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
  /** The Lease that holds a cluster-wide pause (`POST /v1/pause`), and its annotation. */
  pauseLease: 'alertfence.pause',
  pauseAnnotation: 'alertfence.io/pause',
  /**
   * Taints of nodes a cluster autoscaler or Karpenter is removing on purpose (Karpenter v1 `disrupted`, its
   * earlier `disruption`): such a node is going away, not failing.
   */
  plannedRemovalTaints: [
    'ToBeDeletedByClusterAutoscaler',
    'karpenter.sh/disrupted',
    'karpenter.sh/disruption',
  ],
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
