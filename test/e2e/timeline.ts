/**
 * The e2e timeline: named milestones with the wall-clock time each was first seen and who saw it, and the
 * numbers derived from them. Written as JSON by the run and drawn by `chart.ts`.
 */

/** Every milestone of a run, in the order of the story, with the words the chart and the report use. */
export const MILESTONES = {
  heartbeatStopped: 'kubelet of the node stops (kwok heartbeat off); machine hung, still running',
  readyUnknown: 'Node Ready=Unknown (node-lifecycle controller)',
  unreachableTaint: 'node.kubernetes.io/unreachable taint added',
  alertPending: 'KubeNodeNotReady pending in Prometheus',
  alertFiring: 'KubeNodeNotReady firing in Prometheus',
  alertInAlertmanager: 'alert active in Alertmanager (API)',
  webhookReceived: 'webhook delivered by Alertmanager',
  fenceAccepted: 'fence accepted (Confirm + Lock)',
  hardReboot: 'write-up procedure: hard reboot of the machine, then the Node deleted',
  powerOffRequested: 'power-off requested (StopInstances / os-stop)',
  powerOffVerified: 'power-off verified (instance stopped / server SHUTOFF)',
  outOfServiceTaint: 'out-of-service taint added',
  podsEvicted: 'old pods marked for deletion (Terminating)',
  oldPodsGone: 'old pods gone',
  attachmentsReleased: 'VolumeAttachments of the node gone',
  detachLost:
    'CSI attacher (model forgets-deleted-node): detach asked, its Node object gone, nothing sent to the cloud',
  volumesDetachedInCloud: 'volumes detached in the cloud (DescribeVolumes / Cinder)',
  releaseDone: 'Release phase done',
  nodeDeleted: 'Node object deleted',
  replacementCreated: 'StatefulSet replacement pod created',
  replacementScheduled: 'StatefulSet replacement pod scheduled',
  replacementVolumeAttached: 'StatefulSet volume attached to the new node (DescribeVolumes / Cinder)',
  replacementRunning: 'StatefulSet replacement pod Running',
  deploymentReplacementCreated: 'Deployment replacement pod created',
  deploymentMultiAttach: 'Deployment replacement: Multi-Attach error (attach/detach controller)',
  deploymentReplacementRunning: 'Deployment replacement pod Running',
  poweredOn: 'machine running again (StartInstances / os-start)',
  nodeReregistered: 'Node re-registered and Ready',
  fenceDone: 'fence journal Done',
  bound: 'end of the observation window',
} as const;

export type MilestoneKey = keyof typeof MILESTONES;

export interface TimelineEvent {
  key: MilestoneKey;
  label: string;
  /** Wall clock, epoch ms. */
  at: number;
  /** Who observed or reported it: `harness` (polling the API/moto), `alertfence` (its log/journal), … */
  source: string;
  detail?: string;
}

/** A recorder of first occurrences. */
export class Timeline {
  private readonly events = new Map<MilestoneKey, TimelineEvent>();

  /** Records `key` unless it was recorded already (an earlier sighting wins). */
  mark(key: MilestoneKey, at: number, source: string, detail?: string): void {
    const existing = this.events.get(key);
    if (existing && existing.at <= at) return;
    this.events.set(key, { key, label: MILESTONES[key], at, source, ...(detail ? { detail } : {}) });
  }

  has(key: MilestoneKey): boolean {
    return this.events.has(key);
  }

  at(key: MilestoneKey): number | undefined {
    return this.events.get(key)?.at;
  }

  /** Events in time order. */
  list(): TimelineEvent[] {
    return [...this.events.values()].sort((a, b) => a.at - b.at);
  }
}

/** Seconds from `from` to `to`, to 0.01 s; undefined when either is missing. */
export function seconds(from: number | undefined, to: number | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  return Math.round((to - from) / 10) / 100;
}
