/**
 * kwok processes of our own, each the kubelets of one group of Nodes (those labelled
 * `kwok.x-k8s.io/node=<group>`): stopping a group's process is those kubelets dying together (a zone going
 * dark), starting it again is them coming back. Removing a Node's selecting label is not a reliable kill
 * (kwok 0.7 was seen patching such a Node back to Ready), a stopped process is.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GO_BUILD_HINT, KWOK_LABEL } from './control-plane.js';
import { freePort, type PeerProcess, peerCacheDir, requirePeer, startProcess } from './process.js';

export { KWOK_LABEL };

export interface KwokGroupOptions {
  /** Admin kubeconfig of the control plane. */
  kubeconfig: string;
  /** Directory for the configuration file (the control plane's own temporary directory will do). */
  dir: string;
  /** The group: this process manages the Nodes labelled `kwok.x-k8s.io/node=<group>`. */
  group: string;
  /**
   * Duration of the kubelet Leases, renewed every quarter of it. Default 40 (a kubelet's default, renewed
   * every 10 s); the controller-manager's `--node-monitor-grace-period` must be well above a quarter of it.
   */
  leaseDurationSeconds?: number;
  /**
   * How many Lease renewals and Node status updates kwok sends at once. kwok 0.7 has no client-side rate limit
   * but works with 4 of each by default: 5,000 Leases renewed every 10 s need more than that.
   */
  parallelism?: number;
}

/**
 * The Nodes' stage: a Node that is not Ready is made Ready (`lastTransitionTime` now, as a kubelet that
 * starts reports it), with an address, capacity and node info. There is no periodic status stage: a kubelet
 * with a Lease reports its status rarely, and the node-lifecycle controller reads liveness from the Lease.
 */
export const KWOK_NODE_STAGES = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: alertfence-node-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - type: {{ .type | Quote }}
        status: {{ .status | Quote }}
        reason: {{ .reason | Quote }}
        message: {{ .message | Quote }}
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
      {{ end }}
      addresses:
      - type: InternalIP
        address: {{ NodeIP | Quote }}
      - type: Hostname
        address: {{ NodeName | Quote }}
      capacity: {cpu: "8", memory: 32Gi, pods: "110"}
      allocatable: {cpu: "8", memory: 32Gi, pods: "110"}
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
        containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
      phase: Running
`;

/** A running kwok group; `stop()` is the kubelets dying, `startKwokGroup` with the same options their return. */
export interface KwokGroup {
  group: string;
  pid: number;
  stop(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP) or lets it go on (SIGCONT): a moment without heartbeats, shorter than the
   * node-lifecycle grace period, so the API server's CPU can be measured without kwok's writes.
   */
  pause(): void;
  resume(): void;
  logs(): string;
}

/**
 * Starts one kwok process for the Nodes of `group` and waits until it serves `/healthz`.
 *
 * @example
 * const zoneC = await startKwokGroup({ kubeconfig: cluster.adminKubeconfig, dir: cluster.dir, group: 'zone-c' });
 * await zoneC.stop(); // every Node of zone-c stops heartbeating at once
 */
export async function startKwokGroup(options: KwokGroupOptions): Promise<KwokGroup> {
  const binary = requirePeer(join(peerCacheDir(), 'bin', 'kwok'), GO_BUILD_HINT);
  const parallelism = options.parallelism ?? 16;
  const config = join(options.dir, `kwok-${options.group}.yaml`);
  // An explicit configuration, so a ~/.kwok/kwok.yaml on the machine cannot change the run.
  await writeFile(
    config,
    [
      'apiVersion: config.kwok.x-k8s.io/v1alpha1',
      'kind: KwokConfiguration',
      'options:',
      `  nodeLeaseParallelism: ${parallelism}`,
      `  nodePlayStageParallelism: ${parallelism}`,
      '---',
      KWOK_NODE_STAGES,
    ].join('\n'),
  );
  const port = await freePort();
  const peer: PeerProcess = await startProcess({
    name: `kwok ${options.group}`,
    command: binary,
    args: [
      `--kubeconfig=${options.kubeconfig}`,
      `--config=${config}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-label-selector=${KWOK_LABEL}=${options.group}`,
      `--node-lease-duration-seconds=${options.leaseDurationSeconds ?? 40}`,
      `--server-address=127.0.0.1:${port}`,
    ],
    ready: `http://127.0.0.1:${port}/healthz`,
    timeoutMs: 60_000,
    maxLogChars: 256 * 1024,
  });
  const signal = (name: NodeJS.Signals) => {
    try {
      // kwok leads its own process group (startProcess), so the whole group is signalled.
      process.kill(-peer.pid, name);
    } catch {
      // Already gone.
    }
  };
  return {
    group: options.group,
    pid: peer.pid,
    stop: async () => {
      // A frozen process would not act on SIGTERM before the grace period ends.
      signal('SIGCONT');
      await peer.stop();
    },
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    logs: peer.logs,
  };
}
