/** Which nodes alertfence may fence at all: its scope, before any look at their health. */
import { KUBE_NAMES } from '../kube/names.js';
import { isControlPlane, matchesSelector } from '../kube/node-facts.js';
import type { Node } from '../kube/objects.js';
import { type Decision, type GuardConfig, refuse } from './decision.js';
import { REASONS } from './vocabulary.js';

/**
 * Whether a node is in alertfence's scope: opted in, not excluded, not being removed by an autoscaler, not
 * control plane unless allowed.
 */
export function scopeRefusal(node: Node, config: GuardConfig): Decision | undefined {
  const labels = node.metadata?.labels ?? {};
  const name = node.metadata?.name;
  if (name === KUBE_NAMES.slotsLease || name === KUBE_NAMES.pauseLease) {
    return refuse(REASONS.reservedName, `alertfence keeps its own state in a Lease of this name`);
  }
  if (!matchesSelector(labels, config.nodeSelector)) {
    return refuse(
      REASONS.notInScope,
      `node does not match ALERTFENCE_NODE_SELECTOR "${config.nodeSelector}"`,
    );
  }
  for (const label of [config.excludeLabel, KUBE_NAMES.medik8sExcludeLabel]) {
    if (label in labels) return refuse(REASONS.excluded, `node carries the exclusion label ${label}`);
  }
  const removal = (node.spec?.taints ?? []).find((taint) =>
    (KUBE_NAMES.plannedRemovalTaints as readonly string[]).includes(taint.key),
  );
  if (removal) {
    return refuse(
      REASONS.plannedRemoval,
      `node carries the taint ${removal.key}: an autoscaler is removing it, which is not a failure to fence`,
    );
  }
  if (isControlPlane(node) && !config.allowControlPlane) {
    return refuse(
      REASONS.controlPlane,
      'node is a control-plane node (set ALERTFENCE_ALLOW_CONTROL_PLANE=true)',
    );
  }
  return undefined;
}
