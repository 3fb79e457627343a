import { SimulatedDriver } from '../../drivers/simulated/simulated-driver.js';
import type { Config } from '../../functions/config.js';
import type { FenceService } from '../../functions/fence/api.js';
import type { FenceEvent, FenceObserver } from '../../functions/fence/observer.js';
import type { Phase } from '../../functions/fence/vocabulary.js';
import type { createApp } from '../../functions/http/app.js';
import { guardFacts, type NodeView } from '../../functions/kube/node-view.js';
import {
  type Lease,
  microTime,
  type Node,
  type PersistentVolume,
  type Pod,
  type VolumeAttachment,
} from '../../functions/kube/objects.js';
import type { CrashingKube } from '../fakes/crashing-kube.js';
import { FakeKube } from '../fakes/kube.js';
import { RecordingContinuation, TOKEN, wireFence } from './fence-wiring.js';

export { RecordingContinuation, TOKEN };
export const SECOND_TOKEN = 'rotated-token-fedcba9876543210';

/** A clock that only moves when something sleeps: waits are instant and runs are deterministic. */
export class VirtualClock {
  constructor(public time = Date.parse('2026-11-22T10:00:00Z')) {}
  now = (): number => this.time;
  sleep = async (ms: number): Promise<void> => {
    this.time += Math.max(0, ms);
    await new Promise((resolve) => setImmediate(resolve));
  };
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface NodeSpec {
  name: string;
  ready?: boolean;
  /** For how long the node has been unhealthy (ms), when not ready. */
  downFor?: number;
  labels?: Record<string, string>;
  instance?: string;
  /** Default: the simulated cloud's providerID of `instance`. */
  providerID?: string;
}

export function makeNode(spec: NodeSpec, now: number): Node {
  const ready = spec.ready ?? true;
  const since = new Date(now - (spec.downFor ?? 3_600_000)).toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      uid: `uid-${spec.name}`,
      labels: { 'kubernetes.io/hostname': spec.name, ...spec.labels },
    },
    spec: { providerID: spec.providerID ?? SimulatedDriver.providerID(spec.instance ?? `i-${spec.name}`) },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'Unknown',
          reason: ready ? 'KubeletReady' : 'NodeStatusUnknown',
          lastTransitionTime: since,
          lastHeartbeatTime: since,
        },
      ],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    },
  };
}

export function kubeletLease(node: string, renewedAt: number): Lease {
  return {
    metadata: { name: node, namespace: 'kube-node-lease' },
    spec: { holderIdentity: node, leaseDurationSeconds: 40, renewTime: microTime(renewedAt) },
  };
}

export function statefulPod(node: string, name = 'db-0', namespace = 'default'): Pod {
  return {
    metadata: { name, namespace },
    spec: { nodeName: node, containers: [{ name: 'db', image: 'db' }] },
  };
}

export function attachment(node: string, pv: string): VolumeAttachment {
  return {
    metadata: { name: `csi-${pv}` },
    spec: { attacher: 'ebs.csi.aws.com', nodeName: node, source: { persistentVolumeName: pv } },
  };
}

export function persistentVolume(
  name: string,
  volumeHandle: string,
  driver = 'ebs.csi.aws.com',
): PersistentVolume {
  return { metadata: { name }, spec: { csi: { driver, volumeHandle } } };
}

/** Puts the nodes and their kubelet Leases in the fake: renewed `now` when ready, else `downFor` ago. */
export function putNodes(kube: FakeKube, specs: readonly NodeSpec[], now: number): void {
  for (const spec of specs) {
    kube.putNode(makeNode(spec, now));
    const healthy = spec.ready ?? true;
    kube.putLease(
      'kube-node-lease',
      kubeletLease(spec.name, healthy ? now : now - (spec.downFor ?? 3_600_000)),
    );
  }
}

/** A StatefulSet pod on `node` with PV `pv` of volume `volumeHandle`, attached to the node. */
export function putStatefulWorkload(
  kube: FakeKube,
  node: string,
  pv: string,
  volumeHandle: string,
  csiDriver?: string,
): void {
  kube.pods.push(statefulPod(node));
  kube.attachments.push(attachment(node, pv));
  kube.persistentVolumes.push(persistentVolume(pv, volumeHandle, csiDriver));
}

export interface WorldOptions {
  env?: Record<string, string>;
  nodes?: NodeSpec[];
  /** Replaces the in-memory API server (e.g. a subclass that injects crashes). */
  kube?: FakeKube;
  driverOptions?: Partial<ConstructorParameters<typeof SimulatedDriver>[0]>;
  /** Who else hears the fence (`events` records it all anyway). */
  observer?: FenceObserver;
  /** The Nodes a long-running runtime follows, for the storm guards' counts; none by default. */
  nodeView?: Pick<NodeView, 'current'>;
  /**
   * Follow the fake API server's own Nodes, always current, as a long-running runtime's watch keeps them
   * (instead of `nodeView`).
   */
  followsNodes?: boolean;
}

export interface World {
  clock: VirtualClock;
  kube: FakeKube;
  driver: SimulatedDriver;
  config: Config;
  service: FenceService;
  app: ReturnType<typeof createApp>;
  continuation: RecordingContinuation;
  logs: string[];
  /** Every event the fence told its observer, in order. */
  events: FenceEvent[];
  /** Runs scheduled continuations until none is left (or `limit` invocations), like a runtime would. */
  drain(limit?: number): Promise<number>;
  /** POSTs JSON to the app with the bearer token. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

/**
 * A cluster of three workers (worker-1 dead for an hour, with a StatefulSet pod, its VolumeAttachment and an
 * attached PV volume) on the simulated cloud, with the service and app wired as the entrypoints wire them.
 */
export function createWorld(options: WorldOptions = {}): World {
  const clock = new VirtualClock();
  const kube = options.kube ?? new FakeKube();
  const driver = new SimulatedDriver({
    now: clock.now,
    sleep: clock.sleep,
    transitionMs: 4_000,
    detachMs: 1_000,
    ...options.driverOptions,
  });
  const wired = wireFence({
    kube,
    drivers: [driver],
    env: {
      ALERTFENCE_TOKENS: `${TOKEN},${SECOND_TOKEN}`,
      ALERTFENCE_DRIVERS: 'simulated',
      ALERTFENCE_MAX_UNHEALTHY: '50%',
      ...options.env,
    },
    now: clock.now,
    sleep: clock.sleep,
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.nodeView ? { nodeView: options.nodeView } : {}),
    ...(options.followsNodes
      ? { nodeView: { current: () => [...kube.nodes.values()].map(guardFacts) } }
      : {}),
  });
  const nodes = options.nodes ?? [
    { name: 'worker-1', ready: false, downFor: 3_600_000 },
    { name: 'worker-2' },
    { name: 'worker-3' },
  ];
  putNodes(kube, nodes, clock.now());
  for (const spec of nodes) {
    const healthy = spec.ready ?? true;
    driver.addInstance(
      spec.instance ?? `i-${spec.name}`,
      healthy ? [] : [`vol-${spec.name}`, `vol-${spec.name}-scratch`],
    );
    if (!healthy) putStatefulWorkload(kube, spec.name, `pv-${spec.name}`, `vol-${spec.name}`);
  }
  return {
    clock,
    kube,
    driver,
    config: wired.config,
    service: wired.service,
    app: wired.app,
    continuation: wired.continuation,
    logs: wired.logs,
    events: wired.events,
    async drain(limit = 50) {
      return (await wired.drain(limit)).length;
    },
    post: wired.post,
  };
}

/**
 * Starts worker-1's fence by an alert in a world over a `CrashingKube`; the process dies once the journal
 * records `phase`, its continuation is lost and its Lease hold runs out: what the tick or a repeat resumes.
 */
export async function loseFenceAfter(world: World, kube: CrashingKube, phase: Phase): Promise<void> {
  kube.crashAfter = phase;
  await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
  await world.drain().catch(() => {});
  kube.restart();
  world.continuation.handoffs.length = 0;
  world.clock.advance(world.config.lockDurationMs + 1_000);
}

/** An Alertmanager v4 webhook payload as Alertmanager 0.25 sends it. */
export function alertPayload(
  alerts: Array<{
    node?: string;
    status?: 'firing' | 'resolved';
    alertname?: string;
    labels?: Record<string, string>;
  }>,
) {
  return {
    receiver: 'alertfence',
    status: alerts.every((alert) => alert.status === 'resolved') ? 'resolved' : 'firing',
    alerts: alerts.map((alert, index) => ({
      status: alert.status ?? 'firing',
      labels: {
        alertname: alert.alertname ?? 'KubeNodeNotReady',
        job: 'kube-state-metrics',
        severity: 'warning',
        ...(alert.node ? { node: alert.node } : {}),
        ...alert.labels,
      },
      annotations: { summary: 'Node is not ready.' },
      startsAt: '2026-11-22T09:55:52.92Z',
      endsAt: alert.status === 'resolved' ? '2026-11-22T10:00:00Z' : '0001-01-01T00:00:00Z',
      generatorURL: '',
      fingerprint: `fp${index}`,
    })),
    groupLabels: { alertname: 'KubeNodeNotReady' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://am:9093',
    version: '4',
    groupKey: '{}:{alertname="KubeNodeNotReady"}',
    truncatedAlerts: 0,
  };
}
