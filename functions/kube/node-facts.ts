import { KUBE_NAMES } from './names.js';
import { type Lease, type Node, timestampMillis } from './objects.js';

/** Kubernetes object names for Nodes are DNS subdomains (RFC 1123): at most 253 characters. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isValidNodeName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

/** The `Ready` condition's status and since when it has held. */
export interface Readiness {
  status: 'True' | 'False' | 'Unknown';
  since: number | undefined;
  reason: string | undefined;
}

export function readiness(node: Node): Readiness {
  const ready = node.status?.conditions?.find((condition) => condition.type === 'Ready');
  // A node that never reported is as unknown as one that stopped reporting.
  if (!ready) return { status: 'Unknown', since: undefined, reason: 'NoReadyCondition' };
  const status = ready.status === 'True' || ready.status === 'False' ? ready.status : 'Unknown';
  return { status, since: timestampMillis(ready.lastTransitionTime), reason: ready.reason };
}

/** When the kubelet last renewed its heartbeat Lease in `kube-node-lease`. */
export function leaseRenewedAt(lease: Lease | undefined): number | undefined {
  return timestampMillis(lease?.spec?.renewTime ?? lease?.spec?.acquireTime);
}

/** Whether a Lease has a holder whose term has not run out. */
export function isLeaseHeld(lease: Lease | undefined, now: number): boolean {
  const holder = lease?.spec?.holderIdentity;
  if (!holder) return false;
  const renewed = leaseRenewedAt(lease);
  const duration = (lease?.spec?.leaseDurationSeconds ?? 0) * 1000;
  return renewed !== undefined && renewed + duration > now;
}

export function isControlPlane(node: Node): boolean {
  const labels = node.metadata?.labels ?? {};
  return KUBE_NAMES.controlPlaneLabels.some((label) => label in labels);
}

/**
 * Equality-based label selector match (`a=b,c`, `!d` and `a!=b` included): the forms an operator writes in an
 * environment variable.
 */
export function matchesSelector(
  labels: Record<string, string> | undefined,
  selector: string | undefined,
): boolean {
  if (!selector) return true;
  const have = labels ?? {};
  return selector.split(',').every((term) => {
    const clause = term.trim();
    if (clause.startsWith('!')) return !(clause.slice(1) in have);
    const notEqual = clause.indexOf('!=');
    if (notEqual > 0) return have[clause.slice(0, notEqual)] !== clause.slice(notEqual + 2);
    const equal = clause.indexOf('=');
    if (equal < 0) return clause in have;
    const key = clause.slice(0, equal);
    const value = clause.slice(equal + 1).replace(/^=/, '');
    return have[key] === value;
  });
}
