import type { InstanceDescription } from '../../drivers/driver.js';
import type { Config } from '../config.js';
import { KUBE_NAMES } from '../kube/names.js';
import type { PersistentVolume, Pod, VolumeAttachment } from '../kube/objects.js';
import { blockingPods, fencingTaint, volumesToDetach } from './fence-rules.js';
import type { Phase } from './vocabulary.js';

/** One action of a fence's phase, as an operator reads it in a dry-run's plan. */
export interface PlannedAction {
  phase: Phase;
  action: string;
  /** What the action would touch: object names, instance and volume ids. */
  targets?: string[];
}

export interface PlanInput {
  node: string;
  instance: InstanceDescription;
  pods: Pod[];
  attachments: VolumeAttachment[];
  persistentVolumes: PersistentVolume[];
  config: Pick<Config, 'namespace' | 'powerOn' | 'releaseTimeoutMs'>;
}

/**
 * The exact plan of a fence, from a read-only look at the cluster and the cloud. Pure: the dry-run answer
 * is this, and nothing is called to produce it but reads.
 */
export function planFence(input: PlanInput): PlannedAction[] {
  const { node, instance, config } = input;
  const pods = blockingPods(input.pods).map((pod) => `pod/${pod.metadata?.namespace}/${pod.metadata?.name}`);
  const attachments = input.attachments.map((va) => `volumeattachment/${va.metadata?.name}`);
  const detach = volumesToDetach(instance.volumes, input.persistentVolumes);
  const ref = `${instance.ref.provider}:${instance.ref.id}`;
  return [
    { phase: 'Lock', action: 'take the fence Lease', targets: [`lease/${config.namespace}/${node}`] },
    { phase: 'Mark', action: `add taint ${fencingTaint().key}:NoSchedule`, targets: [`node/${node}`] },
    {
      phase: 'PowerOff',
      action: instance.power === 'off' ? `nothing: instance is ${instance.cloudState}` : 'hard power-off',
      targets: [ref],
    },
    { phase: 'VerifyOff', action: 'wait until the instance is verifiably off', targets: [ref] },
    {
      phase: 'Release',
      action: `add taint ${KUBE_NAMES.outOfServiceTaintKey}=nodeshutdown:NoExecute`,
      targets: [`node/${node}`],
    },
    {
      phase: 'Release',
      action: `wait for pods and VolumeAttachments to go; force-delete after ${config.releaseTimeoutMs / 1000}s`,
      targets: [...pods, ...attachments],
    },
    {
      phase: 'Release',
      action: instance.noCloudVolumes
        ? 'nothing to detach at the cloud: bare metal has no cloud volumes; the out-of-service taint and the forced fallback release its volumes'
        : 'detach PersistentVolume volumes still attached in the cloud',
      targets: detach,
    },
    { phase: 'DeleteNode', action: 'delete the Node object', targets: [`node/${node}`] },
    {
      phase: 'PowerOn',
      action:
        config.powerOn === 'on' ? 'power on and wait until running' : 'leave off (ALERTFENCE_POWER_ON=off)',
      targets: [ref],
    },
  ];
}
