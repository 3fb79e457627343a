/**
 * One run of the end-to-end scenario: a cluster of three workers on a cloud (EC2 in moto, or a real OpenStack)
 * with a StatefulSet and a Deployment, each holding a ReadWriteOnce volume, on worker-1; worker-1's kubelet
 * dies while its machine hangs; the run records what happens — with alertfence, with nobody acting, or with
 * the seed write-up's procedure (hard reboot, Node deleted) — until everything is back or the observation
 * window closes.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  StorageV1Api,
  type V1Node,
  type V1PersistentVolume,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';
import type { FenceJournal } from '../../functions/fence/journal.js';
import { startControlPlane } from '../peers/control-plane.js';
import { freePort, type PeerProcess, startProcess, waitUntil } from '../peers/process.js';
import { ALERT_NAME, startAlerting } from './alerting.js';
import { type AttacherEvent, type AttacherMode, startAttacherShim } from './attacher-shim.js';
import type { CloudCall } from './cloud-recorder.js';
import type { E2eCloud } from './clouds.js';
import {
  type FenceObservability,
  type NotificationReceivers,
  scrapeMetrics,
  startNotificationReceivers,
  total,
} from './fence-observability.js';
import {
  registerWorker,
  startBootWatcher,
  startVolumeGate,
  WORKER_POD_STAGES,
  type WorkerNodeSpec,
} from './kwok-workers.js';
import type { Loop } from './loop.js';
import { type MilestoneKey, Timeline } from './timeline.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The knobs of a run; `e2eSettings` holds the values the test uses, with their reasons. */
export interface ScenarioSettings {
  /** kube-controller-manager `--node-monitor-grace-period`. */
  nodeMonitorGracePeriod: string;
  /** The alert rule's `for:`. */
  alertFor: string;
  /** `ALERTFENCE_UNHEALTHY_FOR`. */
  unhealthyFor: string;
  /** `ALERTFENCE_RELEASE_TIMEOUT`. */
  releaseTimeout: string;
  /** `tolerationSeconds` of the pods' not-ready/unreachable NoExecute tolerations. */
  tolerationSeconds: number;
  /** How long after the node dies the run watches before it gives up (with alertfence) or stops (without). */
  boundMs: number;
}

/** Who acts on the alert: alertfence, nobody, or the seed write-up's procedure (what kube-fencing did). */
export type Procedure = 'alertfence' | 'nothing' | 'writeup';

export interface ScenarioOptions {
  name: string;
  /** Run alertfence, armed, as the receiver of Alertmanager's webhook. */
  alertfence: boolean;
  /**
   * Without alertfence: `writeup` plays kube-fencing of the seed write-up at the first webhook — a hard
   * reboot of the machine, then the Node deleted. Default `nothing`.
   */
  procedure?: Exclude<Procedure, 'alertfence'>;
  /** The CSI attacher stand-in's mode (attacher-shim.ts); default `remembers`. */
  attacherMode?: AttacherMode;
  /**
   * How long a machine that was down (stopped or rebooted) boots before its kubelet registers the Node again;
   * default 0, at once. A run that depends on the Node staying away sets it.
   */
  bootMs?: number;
  /** Makes the run's cloud; stopped when the run ends. */
  cloud: () => Promise<E2eCloud>;
  settings: ScenarioSettings;
  /** Progress lines for the test log. */
  log?: (line: string) => void;
}

/** What a run observed; `timeline` in wall-clock ms, `t0` the moment the kubelet died. */
export interface ScenarioResult {
  name: string;
  alertfence: boolean;
  procedure: Procedure;
  cloud: { kind: E2eCloud['kind']; label: string; words: E2eCloud['words'] };
  /** When the write-up's procedure hard-rebooted the machine and deleted the Node. */
  writeup?: { rebootAt: number; nodeDeletedAt: number };
  attacherMode: AttacherMode;
  bootMs: number;
  /** Whether any observation pass saw the hung machine off (`stopped` / `SHUTOFF`). */
  victimSeenOff: boolean;
  /**
   * The StatefulSet's volume as the cloud showed it at each observation pass after the kubelet died: how many
   * passes, how many showed it attached to the hung machine, and the first pass that did not (if any).
   */
  dbVolumeOnVictim: { passes: number; onVictim: number; firstOffAt?: number };
  settings: ScenarioSettings;
  t0: number;
  end: number;
  timeline: Timeline;
  /** alertfence's journal of the fence of worker-1, if any. */
  journal?: FenceJournal;
  /** alertfence's calls to the cloud (EC2 through the recording proxy; Nova and Cinder from their logs). */
  cloudCalls: CloudCall[];
  /** The attacher shim's cloud actions. */
  attacherEvents: Array<{ at: number; kind: string; node: string; volumeId: string; heldBy?: string }>;
  /** Where things stood when the run ended. */
  final: FinalState;
  ruleSource: string;
  /** Start-up durations, ms. */
  startup: Record<string, number>;
  /** Webhook deliveries (alertfence's request log, or the stand-in receiver's). */
  webhooks: number[];
  /** With alertfence: the notifications its two receivers got and its `/metrics` before and after the fence. */
  observability?: FenceObservability;
  logs: Record<string, string>;
}

export interface PodView {
  name: string;
  node: string | undefined;
  phase: string | undefined;
  terminating: boolean;
  original: boolean;
}

export interface FinalState {
  pods: PodView[];
  volumes: Array<{ volumeId: string; workload: string; attachedTo: string[]; attachedToNodes: string[] }>;
  victimNode: 'Ready' | 'NotReady' | 'Unknown' | 'absent';
  victimInstance: string;
  multiAttachEvents: string[];
}

export const NAMESPACE = 'shop';
const STORAGE_CLASS = 'e2e-rwo';
export const VICTIM = 'worker-1';
const WORKERS = ['worker-1', 'worker-2', 'worker-3'] as const;
const TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
/** `ALERTFENCE_CLUSTER_NAME` of the run: the notifications name it. */
const CLUSTER_NAME = 'e2e';
/**
 * How long after the fence's Done the run waits for its notifications and its counters: the notifier sends on
 * a later turn of the event loop and a scrape reuses the cluster-wide state for up to 10 s.
 */
const AFTERMATH_MS = 15_000;
/** Seals the run's journals: an armed alertfence needs one (ALERTFENCE_JOURNAL_KEY). */
const JOURNAL_KEY = randomBytes(32).toString('hex');

/** The two workloads; each has its own RWO volume. */
const WORKLOADS = {
  db: { kind: 'StatefulSet', pv: 'pv-db', claim: 'data-db-0' },
  web: { kind: 'Deployment', pv: 'pv-web', claim: 'web-data' },
} as const;

type Stoppable = { stop(): Promise<void> };

const isNotFound = (error: unknown) => error instanceof ApiException && error.code === 404;

async function orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function podSpec(settings: ScenarioSettings, claim: string, app: string): V1PodSpec {
  return {
    containers: [{ name: app, image: 'registry.k8s.io/pause:3.10' }],
    // Explicit, as DefaultTolerationSeconds would add them with 300 s: the run scales 300 s down as it scales
    // the node-monitor grace period (50 s → 10 s), so a Deployment's eviction happens inside the window.
    tolerations: ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'].map((key) => ({
      key,
      operator: 'Exists',
      effect: 'NoExecute',
      tolerationSeconds: settings.tolerationSeconds,
    })),
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
  };
}

function persistentVolume(
  name: string,
  volumeId: string,
  zone: string,
  claim: string,
  driver: string,
): V1PersistentVolume {
  return {
    metadata: { name },
    spec: {
      capacity: { storage: '10Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: STORAGE_CLASS,
      claimRef: { namespace: NAMESPACE, name: claim },
      csi: { driver, volumeHandle: volumeId, fsType: 'ext4' },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: [zone] }] },
          ],
        },
      },
    },
  };
}

/** The storage objects and the two workloads, as a cluster operator would apply them. */
async function applyWorkloads(
  admin: KubeConfig,
  settings: ScenarioSettings,
  volumes: Record<string, string>,
  zone: string,
  driver: string,
) {
  const core = admin.makeApiClient(CoreV1Api);
  const apps = admin.makeApiClient(AppsV1Api);
  const storage = admin.makeApiClient(StorageV1Api);
  await storage.createCSIDriver({
    body: { metadata: { name: driver }, spec: { attachRequired: true, podInfoOnMount: false } },
  });
  await storage.createStorageClass({
    body: {
      metadata: { name: STORAGE_CLASS },
      provisioner: driver,
      reclaimPolicy: 'Retain',
      volumeBindingMode: 'Immediate',
    },
  });
  for (const workload of Object.values(WORKLOADS)) {
    await core.createPersistentVolume({
      body: persistentVolume(workload.pv, volumes[workload.pv] ?? '', zone, workload.claim, driver),
    });
  }
  const claimSpec = {
    accessModes: ['ReadWriteOnce'],
    storageClassName: STORAGE_CLASS,
    resources: { requests: { storage: '10Gi' } },
  };
  await core.createNamespacedPersistentVolumeClaim({
    namespace: NAMESPACE,
    body: { metadata: { name: WORKLOADS.web.claim }, spec: claimSpec },
  });
  await apps.createNamespacedStatefulSet({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'db' },
      spec: {
        replicas: 1,
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: podSpec(settings, WORKLOADS.db.claim, 'db') },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: claimSpec }],
      },
    },
  });
  // The template's volume is replaced by the claim template's; the StatefulSet names the claim data-db-0.
  await apps.createNamespacedDeployment({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: podSpec(settings, WORKLOADS.web.claim, 'web'),
        },
      },
    },
  });
}

/** A stand-in webhook receiver for the run without alertfence: it only notes when the alert arrived. */
async function startNullReceiver(): Promise<{ url: string; deliveries: number[]; stop(): Promise<void> }> {
  const deliveries: number[] = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      deliveries.push(Date.now());
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/alerts`,
    deliveries,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface LogLine {
  time?: string;
  msg?: string;
  path?: string;
  status?: number;
  durationMs?: number;
  node?: string;
  outcome?: string;
}

function parseLogLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}

/** Runs the scenario; every process it starts is stopped before it returns or throws. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { settings } = options;
  const say = options.log ?? (() => {});
  const stack: Stoppable[] = [];
  const loops: Loop[] = [];
  const timeline = new Timeline();
  const startup: Record<string, number> = {};
  let phaseStart = Date.now();
  const lap = (name: string) => {
    startup[name] = Date.now() - phaseStart;
    phaseStart = Date.now();
  };
  let alertfence: PeerProcess | undefined;
  const logs: Record<string, string> = {};
  const procedure: Procedure = options.alertfence ? 'alertfence' : (options.procedure ?? 'nothing');

  try {
    // Peers: the cloud and the control plane. Started one after the other: the machine has two cores.
    const cloud = await options.cloud();
    stack.push(cloud);
    lap('cloud');
    const cluster = await startControlPlane({
      controllers: true,
      scheduler: true,
      kwok: true,
      kwokStages: WORKER_POD_STAGES,
      nodeMonitorGracePeriod: settings.nodeMonitorGracePeriod,
    });
    stack.push(cluster);
    const admin = cluster.admin;
    lap('control plane');

    // The cloud: three machines, one volume per workload, all in one zone.
    const machines: WorkerNodeSpec[] = [];
    for (const name of WORKERS) machines.push(await cloud.createMachine(name));
    const zone = machines[0]?.zone ?? '';
    const instanceOf = new Map(machines.map((machine) => [machine.name, machine.instanceId]));
    const nodeOfInstance = new Map(machines.map((machine) => [machine.instanceId, machine.name]));
    const victimInstance = instanceOf.get(VICTIM) ?? '';
    const volumes: Record<string, string> = {};
    for (const workload of Object.values(WORKLOADS))
      volumes[workload.pv] = await cloud.createVolume(workload.pv);
    const workloadOfVolume = new Map(Object.entries(WORKLOADS).map(([app, w]) => [volumes[w.pv] ?? '', app]));
    lap('machines and volumes');

    // Kubelets, the attacher, the volume gate.
    // The shim knows the moment the cloud shows a detach or an attach done; the harness's polling comes later.
    let deathAt: number | undefined;
    const detachedFromVictim = new Map<string, AttacherEvent>();
    const attacher = startAttacherShim({
      kubeconfig: admin,
      cloud,
      driverName: cloud.csiDriver,
      ...(options.attacherMode ? { mode: options.attacherMode } : {}),
      instanceOf: (node) => instanceOf.get(node),
      onEvent: (event) => {
        if (deathAt === undefined || event.at < deathAt) return;
        if (event.kind === 'detached' && event.node === VICTIM) {
          detachedFromVictim.set(event.volumeId, event);
          if (detachedFromVictim.size === Object.keys(volumes).length) {
            const all = [...detachedFromVictim.values()];
            timeline.mark('volumesDetachedInCloud', Math.max(...all.map((e) => e.at)), 'attacher shim');
            const released = Math.max(...all.map((e) => e.releasedAt ?? e.at));
            timeline.mark('attachmentsReleased', released, 'attacher shim');
          }
        }
        if (event.kind === 'detach-lost' && event.node === VICTIM) {
          timeline.mark('detachLost', event.at, 'attacher shim', `${event.volumeId} on ${event.instanceId}`);
        }
        if (
          event.kind === 'attached' &&
          event.node !== VICTIM &&
          event.volumeId === volumes[WORKLOADS.db.pv]
        ) {
          timeline.mark(
            'replacementVolumeAttached',
            event.at,
            'attacher shim',
            `${event.volumeId} → ${event.instanceId} (${event.node})`,
          );
        }
      },
    });
    stack.push(attacher);
    loops.push(startVolumeGate(admin));

    // worker-1 first, so both workloads land there; then the two others join.
    const victimSpec = machines[0] as WorkerNodeSpec;
    await registerWorker(cluster, victimSpec);
    await cluster.ensureNamespace(NAMESPACE);
    await applyWorkloads(admin, settings, volumes, zone, cloud.csiDriver);
    const core = admin.makeApiClient(CoreV1Api);
    const storage = admin.makeApiClient(StorageV1Api);
    const listPods = async () => (await core.listNamespacedPod({ namespace: NAMESPACE })).items;
    const originals = await waitUntil(
      async () => {
        const pods = await listPods();
        const running = pods.filter(
          (pod) => pod.status?.phase === 'Running' && pod.spec?.nodeName === VICTIM,
        );
        return running.length === 2 ? running : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: 'the StatefulSet and Deployment pods Running on worker-1' },
    );
    const originalUids = new Set(originals.map((pod) => pod.metadata?.uid ?? ''));
    for (const other of machines.slice(1)) await registerWorker(cluster, other);
    lap('workloads');

    // Alerting, and alertfence (or a receiver that only takes note).
    let webhookUrl: string;
    let receiver: Awaited<ReturnType<typeof startNullReceiver>> | undefined;
    let alertfenceUrl = '';
    let notifications: NotificationReceivers | undefined;
    if (options.alertfence) {
      // The operator's view: a JSON receiver (an incident tool) and a Slack-compatible one.
      notifications = await startNotificationReceivers(CLUSTER_NAME);
      stack.push(notifications);
      const port = await freePort();
      alertfenceUrl = `http://127.0.0.1:${port}`;
      webhookUrl = `${alertfenceUrl}/v1/alerts`;
      alertfence = await startProcess({
        name: 'alertfence',
        command: process.execPath,
        args: ['--import', 'tsx', 'functions/runtimes/node/server.ts'],
        cwd: REPO_ROOT,
        env: {
          // Nothing from the developer's environment may change the armed configuration under test.
          ...Object.fromEntries(
            Object.keys(process.env)
              .filter((key) => key.startsWith('ALERTFENCE_') && key !== 'ALERTFENCE_CACHE')
              .map((key) => [key, undefined]),
          ),
          PORT: String(port),
          HOST: '127.0.0.1',
          KUBECONFIG: cluster.alertfenceKubeconfig,
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          ALERTFENCE_UNHEALTHY_FOR: settings.unhealthyFor,
          ALERTFENCE_RELEASE_TIMEOUT: settings.releaseTimeout,
          // One dead worker of three: the default (30% of three, rounded down) would allow none.
          ALERTFENCE_MAX_UNHEALTHY: '1',
          ...notifications.env,
          ...cloud.alertfenceEnv(),
          NODE_OPTIONS: undefined,
        },
        ready: `${alertfenceUrl}/readyz`,
        timeoutMs: 60_000,
      });
      stack.push(alertfence);
    } else {
      receiver = await startNullReceiver();
      stack.push(receiver);
      webhookUrl = receiver.url;
    }
    lap('alertfence');
    const alerts = await startAlerting({
      adminKubeconfig: cluster.adminKubeconfig,
      webhookUrl,
      bearerToken: TOKEN,
      forDuration: settings.alertFor,
    });
    stack.push(alerts);
    // Prometheus must have seen every node Ready before the death, or the rule starts late.
    await waitUntil(
      async () => {
        const query = encodeURIComponent('kube_node_status_condition{condition="Ready",status="true"} == 1');
        const response = await fetch(`${alerts.prometheus.url}/api/v1/query?query=${query}`);
        const body = (await response.json()) as { data?: { result?: unknown[] } };
        return (body.data?.result?.length ?? 0) === WORKERS.length;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'Prometheus to see the three nodes Ready' },
    );
    lap('alerting');

    const reregistered: number[] = [];
    const wasDown = new Set<string>();
    loops.push(
      startBootWatcher({
        kubeconfig: admin,
        cloud,
        cluster,
        machines,
        wasDown,
        bootMs: options.bootMs ?? 0,
        onRegistered: (name, at) => {
          if (name === VICTIM) reregistered.push(at);
        },
      }),
    );

    // The counters before the failure, so the run can tell what this fence added.
    const metricsBefore = options.alertfence ? await scrapeMetrics(alertfenceUrl, TOKEN) : undefined;

    // The failure.
    say(`${options.name}: stopping the kubelet of ${VICTIM} (machine ${victimInstance} keeps running)`);
    const t0 = Date.now();
    deathAt = t0;
    await cluster.stopHeartbeat(VICTIM);
    timeline.mark('heartbeatStopped', t0, 'harness');

    let logOffset = 0;
    let journal: FenceJournal | undefined;
    const webhooks: number[] = [];
    let victimSeenAbsent = false;
    let victimSeenStopped = false;
    let lastJournalRead = 0;
    let writeup: ScenarioResult['writeup'];
    const dbVolumeOnVictim: ScenarioResult['dbVolumeOnVictim'] = { passes: 0, onVictim: 0 };

    const readJournal = async () => {
      if (!options.alertfence) return;
      const response = await fetch(`${alertfenceUrl}/v1/nodes/${VICTIM}/fence`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      if (response.ok) journal = (await response.json()) as FenceJournal;
      else await response.body?.cancel();
    };

    const observe = async () => {
      const [node, pods, attachments, holders, power, events, promAlerts, amAlerts] = await Promise.all([
        orUndefined(core.readNode({ name: VICTIM })),
        listPods(),
        storage.listVolumeAttachment(),
        cloud.volumeHolders(Object.values(volumes)),
        cloud.power([victimInstance]),
        core.listNamespacedEvent({ namespace: NAMESPACE }),
        alerts.prometheusAlerts(),
        alerts.alertmanagerAlerts(),
      ]);
      // Stamped when the answers are in: what they show happened before this, never after.
      const now = Date.now();
      const mark = (key: MilestoneKey, detail?: string, at = now, source = 'harness') =>
        timeline.mark(key, at, source, detail);

      // The node.
      if (node) {
        const ready = node.status?.conditions?.find((condition) => condition.type === 'Ready');
        if (!victimSeenAbsent && ready?.status === 'Unknown') {
          mark('readyUnknown', `lastTransitionTime ${new Date(ready.lastTransitionTime ?? 0).toISOString()}`);
        }
        const taints = node.spec?.taints ?? [];
        if (taints.some((taint) => taint.key === 'node.kubernetes.io/unreachable')) mark('unreachableTaint');
        if (taints.some((taint) => taint.key === 'node.kubernetes.io/out-of-service'))
          mark('outOfServiceTaint');
        if (victimSeenAbsent && ready?.status === 'True') mark('nodeReregistered');
      } else {
        victimSeenAbsent = true;
        mark('nodeDeleted');
      }

      // The pods.
      const originalsNow = pods.filter((pod) => originalUids.has(pod.metadata?.uid ?? ''));
      if (originalsNow.some((pod) => pod.metadata?.deletionTimestamp)) mark('podsEvicted');
      if (originalsNow.length === 0) mark('oldPodsGone');
      const replacement = (app: string) =>
        pods.find((pod) => pod.metadata?.labels?.app === app && !originalUids.has(pod.metadata?.uid ?? ''));
      const db = replacement('db');
      if (db) {
        mark('replacementCreated');
        if (db.spec?.nodeName) mark('replacementScheduled', db.spec.nodeName);
        if (db.status?.phase === 'Running') mark('replacementRunning', db.spec?.nodeName);
      }
      const web = replacement('web');
      if (web) {
        mark('deploymentReplacementCreated', web.spec?.nodeName);
        if (web.status?.phase === 'Running') mark('deploymentReplacementRunning', web.spec?.nodeName);
      }
      const multiAttach = events.items.find(
        (event) => event.reason === 'FailedAttachVolume' && /Multi-Attach/.test(event.message ?? ''),
      );
      if (multiAttach) mark('deploymentMultiAttach', multiAttach.involvedObject.name);

      // Attachments and the cloud's view of the volumes.
      const onVictim = attachments.items.filter((attachment) => attachment.spec.nodeName === VICTIM);
      if (onVictim.length === 0) mark('attachmentsReleased');
      if ([...holders.values()].every((ids) => !ids.includes(victimInstance))) mark('volumesDetachedInCloud');
      const dbVolumeHolders = holders.get(volumes[WORKLOADS.db.pv] ?? '') ?? [];
      dbVolumeOnVictim.passes++;
      if (dbVolumeHolders.includes(victimInstance)) dbVolumeOnVictim.onVictim++;
      else dbVolumeOnVictim.firstOffAt ??= now;
      const dbNode = db?.spec?.nodeName;
      if (dbNode && dbVolumeHolders.includes(instanceOf.get(dbNode) ?? '')) {
        mark(
          'replacementVolumeAttached',
          `${volumes[WORKLOADS.db.pv]} → ${instanceOf.get(dbNode)} (${dbNode})`,
        );
      }
      const state = power.get(victimInstance);
      if (state === 'stopped') victimSeenStopped = true;
      if (state === 'running' && victimSeenStopped) mark('poweredOn');

      // Alerting.
      const ours = (labels: Record<string, string>) =>
        labels.alertname === ALERT_NAME && labels.node === VICTIM;
      for (const alert of promAlerts.filter((candidate) => ours(candidate.labels))) {
        mark('alertPending', alert.activeAt ? `activeAt ${alert.activeAt}` : undefined);
        if (alert.state === 'firing') mark('alertFiring');
      }
      if (amAlerts.some((alert) => ours(alert.labels) && alert.status.state === 'active')) {
        mark('alertInAlertmanager');
      }

      // alertfence's own account: its request log and its journal.
      if (alertfence) {
        const text = alertfence.logs();
        const fresh = parseLogLines(text.slice(logOffset));
        logOffset = text.lastIndexOf('\n') + 1;
        for (const line of fresh) {
          const at = line.time ? Date.parse(line.time) : now;
          if (line.msg === 'request' && line.path === '/v1/alerts') {
            const received = at - (line.durationMs ?? 0);
            webhooks.push(received);
            mark('webhookReceived', `HTTP ${line.status}`, received, 'alertfence log');
          }
          if (line.msg === 'fence started' && line.node === VICTIM)
            mark('fenceAccepted', undefined, at, 'alertfence log');
        }
        if (timeline.has('fenceAccepted') && now - lastJournalRead >= 1_000) {
          lastJournalRead = now;
          await readJournal();
          if (journal) {
            const step = (phase: string) => journal?.phases.find((candidate) => candidate.phase === phase);
            const journalMark = (key: MilestoneKey, phase: string) => {
              const finished = step(phase)?.finishedAt;
              if (finished)
                timeline.mark(key, Date.parse(finished), 'alertfence journal', step(phase)?.detail);
            };
            journalMark('powerOffRequested', 'PowerOff');
            journalMark('powerOffVerified', 'VerifyOff');
            journalMark('releaseDone', 'Release');
            journalMark('nodeDeleted', 'DeleteNode');
            journalMark('fenceDone', 'Done');
            const taintAt = journal.release.outOfServiceTaintAt;
            if (taintAt) timeline.mark('outOfServiceTaint', Date.parse(taintAt), 'alertfence journal');
          }
        }
      } else if (receiver) {
        for (const at of receiver.deliveries.splice(0)) {
          webhooks.push(at);
          mark(
            'webhookReceived',
            procedure === 'writeup'
              ? 'stand-in receiver: the write-up procedure acts'
              : 'stand-in receiver (nobody acts on it)',
            at,
            'receiver',
          );
        }
        // The seed write-up's procedure (kube-fencing's): at the alert, hard-reboot the machine and delete
        // the Node, with no check that the machine is off and nothing done about its volumes.
        if (procedure === 'writeup' && webhooks.length > 0 && !writeup) {
          const rebootAt = Date.now();
          await cloud.hardReboot(victimInstance);
          wasDown.add(victimInstance);
          await core.deleteNode({ name: VICTIM }).catch((error: unknown) => {
            if (!isNotFound(error)) throw error;
          });
          writeup = { rebootAt, nodeDeletedAt: Date.now() };
          mark('hardReboot', `${victimInstance}`, rebootAt, 'write-up procedure');
          mark('nodeDeleted', 'by the write-up procedure', writeup.nodeDeletedAt, 'write-up procedure');
        }
      }
      if (reregistered[0] !== undefined)
        mark('nodeReregistered', undefined, reregistered[0], 'harness (boot watcher)');
    };

    const recovered = () =>
      timeline.has('replacementRunning') &&
      timeline.has('deploymentReplacementRunning') &&
      timeline.has('nodeReregistered') &&
      timeline.has('fenceDone');
    const deadline = t0 + settings.boundMs;
    const told = new Set<MilestoneKey>();
    while (Date.now() < deadline) {
      await observe();
      for (const event of timeline.list().filter((candidate) => !told.has(candidate.key))) {
        told.add(event.key);
        say(`${options.name}: +${((event.at - t0) / 1000).toFixed(1)}s ${event.label} (${event.source})`);
      }
      if (options.alertfence && recovered()) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await observe();
    await readJournal();
    const end = Date.now();
    let observability: FenceObservability | undefined;
    if (options.alertfence && notifications) {
      observability = await aftermath(
        alertfenceUrl,
        notifications,
        metricsBefore,
        journal,
        say,
        options.name,
      );
    }
    if (!options.alertfence || !recovered()) timeline.mark('bound', Math.min(end, deadline), 'harness');
    // The harness sees "firing" only at its next pass, seconds late on a loaded machine; Prometheus's own
    // record says when it started (to its 1 s evaluation), and the earlier sighting wins.
    const firing = await alerts.firstFiring({ alertname: ALERT_NAME, node: VICTIM }, t0, Date.now());
    if (firing !== undefined) timeline.mark('alertFiring', firing, 'Prometheus ALERTS series');

    // Where things stand at the end.
    const [pods, holdersAtEnd, node, events] = await Promise.all([
      listPods(),
      cloud.volumeHolders(Object.values(volumes)),
      orUndefined(core.readNode({ name: VICTIM })),
      core.listNamespacedEvent({ namespace: NAMESPACE }),
    ]);
    const final: FinalState = {
      pods: pods.map((pod: V1Pod) => ({
        name: pod.metadata?.name ?? '',
        node: pod.spec?.nodeName,
        phase: pod.status?.phase,
        terminating: Boolean(pod.metadata?.deletionTimestamp),
        original: originalUids.has(pod.metadata?.uid ?? ''),
      })),
      volumes: [...holdersAtEnd].map(([volumeId, attachedTo]) => ({
        volumeId,
        workload: workloadOfVolume.get(volumeId) ?? '',
        attachedTo,
        attachedToNodes: attachedTo.map((id) => nodeOfInstance.get(id) ?? id),
      })),
      victimNode: nodeState(node),
      victimInstance,
      multiAttachEvents: events.items
        .filter((event) => event.reason === 'FailedAttachVolume')
        .map((event) => `${event.involvedObject.name}: ${event.message}`),
    };
    if (attacher.lastError()) logs['attacher shim error'] = String(attacher.lastError());
    for (const loop of loops) if (loop.lastError()) logs['loop error'] = String(loop.lastError());
    return {
      name: options.name,
      alertfence: options.alertfence,
      procedure,
      cloud: { kind: cloud.kind, label: cloud.label, words: cloud.words },
      ...(writeup ? { writeup } : {}),
      attacherMode: attacher.mode,
      bootMs: options.bootMs ?? 0,
      victimSeenOff: victimSeenStopped,
      dbVolumeOnVictim,
      settings,
      t0,
      end,
      timeline,
      ...(journal ? { journal } : {}),
      cloudCalls: cloud.calls(),
      attacherEvents: attacher.events.map((event) => ({
        at: event.at,
        kind: event.kind,
        node: event.node,
        volumeId: event.volumeId,
        ...(event.heldBy ? { heldBy: event.heldBy } : {}),
      })),
      final,
      ruleSource: alerts.ruleSource,
      startup,
      webhooks,
      ...(observability ? { observability } : {}),
      logs: {
        ...logs,
        ...(alertfence ? { alertfence: alertfence.logs() } : {}),
        ...alerts.logs(),
        kwok: cluster.logs('kwok'),
        'kube-controller-manager': cluster.logs('kube-controller-manager').slice(-20_000),
      },
    };
  } finally {
    for (const loop of loops.reverse()) await loop.stop();
    for (const peer of stack.reverse()) {
      await peer.stop().catch(() => {});
    }
  }
}

/**
 * After the run: waits (bounded) for the fence's last notification at both receivers and for `/metrics` to
 * count the fence (the counters at once, the last success once the cluster-wide state is read again), then
 * records what there is. It never throws for something missing: the tests assert on what it returns.
 */
async function aftermath(
  baseUrl: string,
  receivers: NotificationReceivers,
  metricsBefore: FenceObservability['metricsBefore'],
  journal: FenceJournal | undefined,
  say: (line: string) => void,
  name: string,
): Promise<FenceObservability> {
  const ended =
    journal?.status === 'succeeded' || journal?.status === 'failed' || journal?.status === 'aborted';
  if (ended) {
    await receivers
      .waitForEvent(`fence.${journal.status}`, AFTERMATH_MS)
      .catch((error: unknown) => say(`${name}: ${String(error)}`));
  }
  const succeededBefore = total(metricsBefore?.text, 'alertfence_fences_total', { outcome: 'succeeded' });
  const metricsAfter = await waitUntil(
    async () => {
      const scrape = await scrapeMetrics(baseUrl, TOKEN);
      const counted =
        total(scrape.text, 'alertfence_fences_total', { outcome: 'succeeded' }) > succeededBefore &&
        total(scrape.text, 'alertfence_last_success_timestamp_seconds') > 0;
      return counted || journal?.status !== 'succeeded' ? scrape : undefined;
    },
    { timeoutMs: AFTERMATH_MS, intervalMs: 500, what: '/metrics to count the fence' },
  ).catch(async (error: unknown) => {
    say(`${name}: ${String(error)}`);
    return scrapeMetrics(baseUrl, TOKEN).catch(() => undefined);
  });
  return {
    notifications: receivers.received(),
    ...(metricsBefore ? { metricsBefore } : {}),
    ...(metricsAfter ? { metricsAfter } : {}),
  };
}

function nodeState(node: V1Node | undefined): FinalState['victimNode'] {
  if (!node) return 'absent';
  const status = node.status?.conditions?.find((condition) => condition.type === 'Ready')?.status;
  return status === 'True' ? 'Ready' : status === 'False' ? 'NotReady' : 'Unknown';
}
