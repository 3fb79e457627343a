/**
 * The worker machines' kubelets, played by the control plane's kwok with a pod stage of ours, plus two loops:
 *
 * - {@link WORKER_POD_STAGES}, given to `startControlPlane({ kwok: true, kwokStages })`: a pod turns Running
 *   only once {@link VOLUMES_ATTACHED_ANNOTATION} is set. kwok's default stages make every pod Running at
 *   once, volumes or not, which would hide the Multi-Attach block.
 * - {@link registerWorker} creates the Node annotated `volumes.kubernetes.io/controller-managed-attach-detach`:
 *   the attach/detach controller only manages Nodes that carry it.
 * - the volume gate sets that annotation when every CSI volume of the pod is attached to its node, as the
 *   kubelet's volume manager waits for the attach before it starts containers.
 * - the boot watcher re-registers a Node whose machine was stopped (or rebooted) and is running again, as a
 *   kubelet does when it starts: kwok knows nothing about the cloud, so this loop is what ties the two together.
 */
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ControlPlane } from '../peers/control-plane.js';
import type { E2eCloud, Machine } from './clouds.js';
import { every, type Loop } from './loop.js';

/** Set by the volume gate; kwok's pod stage waits for it. */
export const VOLUMES_ATTACHED_ANNOTATION = 'e2e.alertfence.io/volumes-attached';
/** The kubelet sets this when the attach/detach controller attaches for it (the default). */
const CONTROLLER_MANAGED_ATTACH = 'volumes.kubernetes.io/controller-managed-attach-detach';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** kwok's pod stages: Running only after the volume gate, deleted at once when deleted (a live kubelet). */
export const WORKER_POD_STAGES = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: e2e-pod-running-after-attach
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
    - key: '.metadata.annotations["${VOLUMES_ATTACHED_ANNOTATION}"]'
      operator: 'In'
      values: ['true']
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Running
      startTime: {{ $now | Quote }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
      conditions:
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: true
        started: true
        restartCount: 0
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: e2e-pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    finalizers:
      empty: true
    delete: true
`;

export type WorkerNodeSpec = Machine;

/** Registers a worker's Node (as its kubelet does at start) on the control plane's kwok; waits until Ready. */
export function registerWorker(cluster: ControlPlane, spec: WorkerNodeSpec): Promise<V1Node> {
  return cluster.createNode(spec.name, {
    providerID: spec.providerID,
    labels: { 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': spec.zone },
    annotations: { [CONTROLLER_MANAGED_ATTACH]: 'true' },
  });
}

/**
 * The kubelet volume manager's wait: marks a scheduled pod once each of its PersistentVolumeClaims' volumes
 * has a VolumeAttachment to the pod's node with `status.attached` (kwok then makes it Running).
 */
export function startVolumeGate(kubeconfig: KubeConfig, options: { intervalMs?: number } = {}): Loop {
  const core = kubeconfig.makeApiClient(CoreV1Api);
  const storage = kubeconfig.makeApiClient(StorageV1Api);
  const waiting = (pod: V1Pod) =>
    pod.spec?.nodeName &&
    !pod.metadata?.deletionTimestamp &&
    pod.metadata?.annotations?.[VOLUMES_ATTACHED_ANNOTATION] !== 'true';
  return every(options.intervalMs ?? 200, async () => {
    const pods = (await core.listPodForAllNamespaces()).items.filter(waiting);
    if (pods.length === 0) return;
    const [claims, attachments] = await Promise.all([
      core.listPersistentVolumeClaimForAllNamespaces(),
      storage.listVolumeAttachment(),
    ]);
    const volumeOfClaim = new Map(
      claims.items.map((claim) => [
        `${claim.metadata?.namespace}/${claim.metadata?.name}`,
        claim.spec?.volumeName ?? '',
      ]),
    );
    const attached = new Set(
      attachments.items
        .filter((attachment) => attachment.status?.attached && !attachment.metadata?.deletionTimestamp)
        .map((attachment) => `${attachment.spec.source.persistentVolumeName}@${attachment.spec.nodeName}`),
    );
    for (const pod of pods) {
      const ready = (pod.spec?.volumes ?? [])
        .filter((volume) => volume.persistentVolumeClaim)
        .every((volume) => {
          const pv = volumeOfClaim.get(
            `${pod.metadata?.namespace}/${volume.persistentVolumeClaim?.claimName}`,
          );
          return pv && attached.has(`${pv}@${pod.spec?.nodeName}`);
        });
      if (!ready) continue;
      await core
        .patchNamespacedPod(
          {
            name: pod.metadata?.name ?? '',
            namespace: pod.metadata?.namespace ?? '',
            body: { metadata: { annotations: { [VOLUMES_ATTACHED_ANNOTATION]: 'true' } } },
          },
          mergePatch,
        )
        .catch((error: unknown) => {
          if (!(error instanceof ApiException && error.code === 404)) throw error;
        });
    }
  });
}

/**
 * Re-registration: when a worker's machine is running again after having been stopped or in a transition
 * (a reboot), and its Node is gone, the kubelet starting on it registers the Node anew. `onRegistered`
 * reports when it did.
 */
export function startBootWatcher(
  options: {
    kubeconfig: KubeConfig;
    cloud: Pick<E2eCloud, 'power'>;
    cluster: ControlPlane;
    machines: readonly WorkerNodeSpec[];
    onRegistered?: (name: string, at: number) => void;
    /**
     * Machines known to have gone down, by instance id: the harness adds one it rebooted, since a hard
     * reboot of the fake virt driver is over before a poll could see it.
     */
    wasDown?: Set<string>;
    /**
     * How long a machine boots: from the first time the watcher sees it running again to its kubelet's
     * registration. 0 (the default) registers at once; the cloud's fakes have no guest to boot.
     */
    bootMs?: number;
  },
  intervalMs = 250,
): Loop {
  const core = options.kubeconfig.makeApiClient(CoreV1Api);
  const wasDown = options.wasDown ?? new Set<string>();
  const registering = new Set<string>();
  const upSince = new Map<string, number>();
  return every(intervalMs, async () => {
    const states = await options.cloud.power(options.machines.map((machine) => machine.instanceId));
    for (const machine of options.machines) {
      const state = states.get(machine.instanceId);
      if (state === 'stopped' || state === 'transition') {
        wasDown.add(machine.instanceId);
        upSince.delete(machine.instanceId);
      }
      if (state !== 'running' || !wasDown.has(machine.instanceId) || registering.has(machine.name)) continue;
      // Booting: the guest and its kubelet take `bootMs` once the cloud shows the machine running.
      const since = upSince.get(machine.instanceId) ?? Date.now();
      upSince.set(machine.instanceId, since);
      if (Date.now() - since < (options.bootMs ?? 0)) continue;
      const exists = await core.readNode({ name: machine.name }).then(
        () => true,
        (error: unknown) => {
          if (error instanceof ApiException && error.code === 404) return false;
          throw error;
        },
      );
      // A kubelet registers only at start (and a running one does not re-register a deleted Node).
      if (exists) continue;
      registering.add(machine.name);
      wasDown.delete(machine.instanceId);
      upSince.delete(machine.instanceId);
      try {
        await registerWorker(options.cluster, machine);
        options.onRegistered?.(machine.name, Date.now());
      } finally {
        registering.delete(machine.name);
      }
    }
  });
}
