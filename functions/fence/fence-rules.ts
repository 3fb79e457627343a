/**
 * The fence's rules about Kubernetes objects: which machine a Node names, the taints a fence adds, which pods
 * keep a node's workloads from moving, which cloud volumes a fence may detach. Pure, so the plan and the phases
 * share them.
 */
import type { AttachedVolume, NodeIdentity } from '../../drivers/driver.js';
import { KUBE_NAMES } from '../kube/names.js';
import type { Node, PersistentVolume, Pod, Taint } from '../kube/objects.js';

/** What a driver needs to find a Node's machine: its name, providerID, addresses, labels and annotations. */
export function nodeIdentity(node: Node): NodeIdentity {
  const addresses = node.status?.addresses ?? [];
  return {
    name: node.metadata?.name ?? '',
    providerID: node.spec?.providerID || undefined,
    internalIPs: addresses
      .filter((address) => address.type === 'InternalIP')
      .map((address) => address.address),
    annotations: node.metadata?.annotations ?? {},
    labels: node.metadata?.labels ?? {},
  };
}

export function outOfServiceTaint(): Taint {
  return {
    key: KUBE_NAMES.outOfServiceTaintKey,
    value: KUBE_NAMES.outOfServiceTaintValue,
    effect: 'NoExecute',
  };
}

export function fencingTaint(): Taint {
  return { key: KUBE_NAMES.fencingTaintKey, value: 'true', effect: 'NoSchedule' };
}

/** Whether a pod tolerates a taint (the Kubernetes toleration rules, `Exists` with empty key included). */
export function tolerates(pod: Pod, taint: Taint): boolean {
  return (pod.spec?.tolerations ?? []).some((toleration) => {
    if (toleration.effect && toleration.effect !== taint.effect) return false;
    if (!toleration.key) return toleration.operator === 'Exists';
    if (toleration.key !== taint.key) return false;
    return toleration.operator === 'Exists' || (toleration.value ?? '') === (taint.value ?? '');
  });
}

/**
 * The pods that keep a fenced node's workloads from moving: all but those that tolerate the out-of-service
 * taint, which stay by design and go with the Node. The plan names these, and Release waits for them.
 */
export function blockingPods(pods: readonly Pod[]): Pod[] {
  const taint = outOfServiceTaint();
  return pods.filter((pod) => !tolerates(pod, taint));
}

/**
 * The volumes to detach from a fenced instance: those that back PersistentVolumes, never the root disk or a
 * disk that is the machine's own. The plan names these, and Release detaches them.
 */
export function volumesToDetach(
  attached: readonly AttachedVolume[],
  persistentVolumes: readonly PersistentVolume[],
): string[] {
  const backing = new Set(persistentVolumes.map(pvVolumeId).filter((id) => id !== undefined));
  return attached.filter((volume) => !volume.root && backing.has(volume.id)).map((volume) => volume.id);
}

/**
 * The cloud volume id behind a PersistentVolume: CSI `volumeHandle` (EBS `vol-…`, Cinder UUID) or the in-tree
 * sources (`aws://zone/vol-…` is reduced to `vol-…`).
 */
export function pvVolumeId(pv: PersistentVolume): string | undefined {
  const spec = pv.spec;
  const raw = spec?.csi?.volumeHandle ?? spec?.awsElasticBlockStore?.volumeID ?? spec?.cinder?.volumeID;
  if (!raw) return undefined;
  return raw.startsWith('aws://') ? raw.slice(raw.lastIndexOf('/') + 1) : raw;
}
