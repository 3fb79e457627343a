/**
 * `npm run chaos -- [--fences 50] [--seed N] [--batch 5] [--out docs/chaos-results.md]`
 *
 * Fences at least `--fences` dead nodes on a real control plane (etcd, kube-apiserver, controllers, kwok
 * kubelets) and moto, while faults are injected at random (seeded):
 *
 * - the function (`functions/runtimes/node/server.ts`, armed, a child process) is SIGKILLed in the middle of its fences and
 *   started again;
 * - kube-apiserver is restarted;
 * - EC2 answers 5xx or slowly, through a fault proxy in front of moto (`ALERTFENCE_AWS_ENDPOINT`).
 *
 * The nodes die in rounds of `--batch`: each round's kubelets are a kwok process of their own, stopped for good.
 * A stand-in scheduler posts `/v1/tick` every few seconds and Alertmanager's repeats are played by re-sending
 * the webhook. Every fence must end Done or fail closed (a journal waiting for an operator, with its reason);
 * exactly one StopInstances must reach moto per fence (counted at the fault proxy, cross-checked against
 * moto's own recorder); and no release may come before moto's own record shows the instance stopped (an
 * auditing proxy in front of the API server asks moto at each release request, the fault proxy at each
 * DetachVolume). The summary is printed and written to `--out`. Not part of CI: it takes minutes.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DetachVolumeCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { ApiException, CoordinationV1Api, CoreV1Api, StorageV1Api } from '@kubernetes/client-node';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { FenceJournal } from '../functions/fence/journal.js';
import { PHASES, type Phase } from '../functions/fence/vocabulary.js';
import { createCertificateAuthority, issueCertificate } from '../test/peers/certs.js';
import { type ControlPlane, startControlPlane } from '../test/peers/control-plane.js';
import { type MotoServer, startMoto } from '../test/peers/moto.js';
import { freePort, type PeerProcess, startProcess, tempDir, waitUntil } from '../test/peers/process.js';
import { peekJournal } from '../test/support/peek-journal.js';
import {
  type ApiAuditProxy,
  type Ec2FaultProxy,
  type ReleaseAudit,
  startApiAuditProxy,
  startEc2FaultProxy,
} from './chaos-proxies.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NAMESPACE = 'alertfence';
const WORKLOADS = 'chaos';
const CLUSTER = 'chaos';
const HEALTHY_NODES = 3;
/** ALERTFENCE_UNHEALTHY_FOR and ALERTFENCE_LOCK_DURATION at their floors, to keep a round short. */
const UNHEALTHY_FOR_MS = 10_000;
const LOCK_DURATION = '10s';
/** The scheduler's tick, and how often the webhook is repeated for fences not yet ended. */
const TICK_EVERY_MS = 2_500;
const REPEAT_EVERY_TICKS = 4;
/** A round that has not ended by then counts its unfinished fences as stuck. */
const ROUND_TIMEOUT_MS = 180_000;
/** API server restarts land within this window after a round's webhooks, while its fences run. */
const FAULT_WINDOW_MS: readonly [number, number] = [300, 12_000];
const API_RESTART_RATE = 0.35;
/** The steps a SIGKILL aims at: the fence is past this one and running the next. */
const KILL_AFTER: readonly Phase[] = [
  'Lock',
  'Mark',
  'PowerOff',
  'VerifyOff',
  'Release',
  'DeleteNode',
  'PowerOn',
];

const say = (line: string) => process.stderr.write(`chaos: ${line}\n`);

/** mulberry32: a small seeded generator, so a run can be replayed with its seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Options {
  fences: number;
  seed: number;
  batch: number;
  out: string;
  serverErrorRate: number;
  slowRate: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      fences: { type: 'string', default: '50' },
      seed: { type: 'string' },
      batch: { type: 'string', default: '5' },
      out: { type: 'string', default: 'docs/chaos-results.md' },
      'ec2-5xx': { type: 'string', default: '0.1' },
      'ec2-slow': { type: 'string', default: '0.1' },
    },
  });
  const whole = (name: string, text: string | undefined, min: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
    return value;
  };
  const rate = (name: string, text: string | undefined) => {
    const value = Number(text);
    if (!(value >= 0 && value < 1)) throw new Error(`--${name} must be a share in [0, 1)`);
    return value;
  };
  return {
    fences: whole('fences', values.fences, 1),
    seed: values.seed === undefined ? randomBytes(4).readUInt32BE() : whole('seed', values.seed, 0),
    batch: whole('batch', values.batch, 1),
    out: values.out ?? 'docs/chaos-results.md',
    serverErrorRate: rate('ec2-5xx', values['ec2-5xx']),
    slowRate: rate('ec2-slow', values['ec2-slow']),
  };
}

/** One dead node of the run and what it holds. */
interface Victim {
  name: string;
  round: number;
  instanceId: string;
  volumeId: string;
  pod: string;
  attachment: string;
}

type Outcome = 'Done' | 'failed closed' | 'aborted' | 'stuck' | 'never started';

interface FenceRecord {
  victim: Victim;
  outcome: Outcome;
  /** Why it failed closed, was aborted or is stuck. */
  reason: string;
  /** StopInstances that reached moto, counted at the fault proxy; and as moto's own recorder saw them. */
  stops: number;
  stopAttempts: number;
  motoStops: number;
  /** Invocations that worked on the fence (the journal's `attempt`). */
  attempts: number;
  instanceState: string;
  nodeDeleted: boolean;
  seconds: number;
}

interface KillRecord {
  round: number;
  /** What each fence of the round was doing: the phase it was past (`Lock→Mark` = running Mark). */
  phases: string[];
}

interface RoundRecord {
  round: number;
  seconds: number;
  /** From the kubelets' death until the API server agreed they were down long enough. */
  downSeconds: number;
  kills: number;
  /** Kills planned that found every fence of the round ended already. */
  killsSkipped?: number;
  apiRestarts: number;
}

/** The function as a child process (`node --import tsx functions/runtimes/node/server.ts`), killed and restarted at will. */
class FunctionProcess {
  private current: PeerProcess | undefined;
  starts = 0;

  constructor(
    private readonly env: Record<string, string | undefined>,
    readonly url: string,
    private readonly logFile: string,
  ) {}

  async start(): Promise<void> {
    this.current = await startProcess({
      name: 'alertfence',
      command: process.execPath,
      args: ['--import', 'tsx', 'functions/runtimes/node/server.ts'],
      cwd: ROOT,
      env: this.env,
      ready: `${this.url}/healthz`,
      timeoutMs: 60_000,
      stopGraceMs: 30_000,
    });
    this.starts += 1;
  }

  /** SIGKILL: no step saved, no Lease released, no continuation handed on. Then a fresh process. */
  async kill(): Promise<void> {
    const running = this.current;
    if (running) {
      try {
        process.kill(-running.pid, 'SIGKILL');
      } catch {
        // Exited already.
      }
      await running.stop();
      await appendFile(this.logFile, running.logs());
    }
    await this.start();
  }

  async stop(): Promise<void> {
    const running = this.current;
    this.current = undefined;
    if (!running) return;
    await running.stop();
    await appendFile(this.logFile, running.logs());
  }
}

/** Alertmanager's webhook (payload version 4) for one node, as a route grouping by node sends it. */
function webhook(node: string) {
  return {
    version: '4',
    groupKey: `{}:{alertname="KubeNodeNotReady", node="${node}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'alertfence',
    groupLabels: { alertname: 'KubeNodeNotReady', node },
    commonLabels: { alertname: 'KubeNodeNotReady', node },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.invalid:9093',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'KubeNodeNotReady', job: 'kube-state-metrics', node, severity: 'warning' },
        annotations: { summary: 'Node is not ready.' },
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: '',
        fingerprint: Buffer.from(node).toString('hex').slice(0, 16),
      },
    ],
  };
}

const isNotFound = (error: unknown) => error instanceof ApiException && error.code === 404;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The cloud side: instances with a data volume, in moto. */
class Cloud {
  private image: Promise<string> | undefined;
  readonly ec2: EC2Client;

  constructor(moto: MotoServer) {
    this.ec2 = new EC2Client({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
  }

  private anyImage(): Promise<string> {
    this.image ??= this.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] })).then((images) => {
      const id = images.Images?.find((image) => image.ImageId && image.RootDeviceType === 'ebs')?.ImageId;
      if (!id) throw new Error('moto offers no EBS-backed AMI');
      return id;
    });
    return this.image;
  }

  async machine(name: string): Promise<{ instance: Instance; volumeId: string }> {
    const output = await this.ec2.send(
      new RunInstancesCommand({
        ImageId: await this.anyImage(),
        InstanceType: 't3.medium',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: `kubernetes.io/cluster/${CLUSTER}`, Value: 'owned' },
              { Key: 'Name', Value: name },
            ],
          },
        ],
      }),
    );
    const instance = output.Instances?.[0];
    if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
    const volume = await this.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: instance.Placement?.AvailabilityZone,
        Size: 10,
        VolumeType: 'gp3',
      }),
    );
    const volumeId = volume.VolumeId ?? '';
    await this.ec2.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instance.InstanceId, Device: '/dev/sdf' }),
    );
    return { instance, volumeId };
  }

  /** The instance's state by moto's own record. */
  async state(instanceId: string): Promise<string> {
    try {
      const output = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      return output.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'absent';
    } catch (error) {
      return `unreadable (${(error as Error).name})`;
    }
  }
}

/** The harness's view of the cluster, as admin. */
class Cluster {
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly storage: StorageV1Api;

  constructor(readonly plane: ControlPlane) {
    this.core = plane.admin.makeApiClient(CoreV1Api);
    this.coordination = plane.admin.makeApiClient(CoordinationV1Api);
    this.storage = plane.admin.makeApiClient(StorageV1Api);
  }

  async journals(): Promise<Map<string, { journal: FenceJournal; holder: string }>> {
    const leases = await this.coordination.listNamespacedLease({
      namespace: NAMESPACE,
      labelSelector: 'alertfence.io/kind=journal',
    });
    const journals = new Map<string, { journal: FenceJournal; holder: string }>();
    for (const lease of leases.items) {
      const journal = peekJournal(lease as Parameters<typeof peekJournal>[0]);
      if (journal) journals.set(journal.node, { journal, holder: lease.spec?.holderIdentity ?? '' });
    }
    return journals;
  }

  async nodeExists(name: string): Promise<boolean> {
    return this.core.readNode({ name }).then(
      () => true,
      (error: unknown) => {
        if (isNotFound(error)) return false;
        throw error;
      },
    );
  }

  /** Down long enough by the API server's account: Ready not True, and the kubelet Lease as old. */
  async confirmedDown(name: string): Promise<boolean> {
    const [node, lease] = await Promise.all([
      this.core.readNode({ name }),
      this.coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' }),
    ]);
    const ready = node.status?.conditions?.find((condition) => condition.type === 'Ready');
    const since = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : Date.now();
    const renewed = lease.spec?.renewTime ? new Date(String(lease.spec.renewTime)).getTime() : Date.now();
    const margin = UNHEALTHY_FOR_MS + 1_000;
    return ready?.status !== 'True' && Date.now() - since > margin && Date.now() - renewed > margin;
  }
}

/** The summary, as Markdown. */
function report(input: {
  options: Options;
  started: number;
  seconds: number;
  fences: FenceRecord[];
  kills: KillRecord[];
  rounds: RoundRecord[];
  apiRestartMs: number[];
  ec2: Ec2FaultProxy;
  api: ApiAuditProxy;
  functionStarts: number;
  /** The auditors flagged a release they were shown for a running instance (their self-check). */
  selfCheck: { api: boolean; ec2: boolean };
}): string {
  const { fences, ec2, api } = input;
  const audits: ReleaseAudit[] = [...api.audits, ...ec2.audits].sort((a, b) => a.at - b.at);
  const violations = audits.filter((audit) => audit.violation);
  const byOutcome = (outcome: Outcome) => fences.filter((fence) => fence.outcome === outcome).length;
  const stopHistogram = new Map<number, number>();
  for (const fence of fences) stopHistogram.set(fence.stops, (stopHistogram.get(fence.stops) ?? 0) + 1);
  const doneWithOneStop = fences.filter((fence) => fence.outcome === 'Done' && fence.stops === 1).length;
  const stopMismatch = fences.filter(
    (fence) =>
      fence.stops > 1 || fence.motoStops !== fence.stops || (fence.outcome === 'Done' && fence.stops !== 1),
  );
  // Only the fences a kill caught running count: a fence that had ended was not in the middle of anything.
  const killedIn = new Map<string, number>();
  for (const kill of input.kills) {
    for (const phase of kill.phases) {
      if (phase.includes('→') || phase === 'no journal yet')
        killedIn.set(phase, (killedIn.get(phase) ?? 0) + 1);
    }
  }
  const releases = new Map<string, number>();
  for (const audit of audits) releases.set(audit.action, (releases.get(audit.action) ?? 0) + 1);
  const ended = byOutcome('Done') + byOutcome('failed closed') + byOutcome('aborted');
  const ok =
    violations.length === 0 &&
    ended === fences.length &&
    stopMismatch.length === 0 &&
    input.selfCheck.api &&
    input.selfCheck.ec2;
  const lines = [
    '# Chaos results',
    '',
    `\`npm run chaos -- --fences ${input.options.fences} --seed ${input.options.seed} --batch ${input.options.batch}\`, ` +
      `${new Date(input.started).toISOString()}, on a 2-core machine.`,
    '',
    `**${ok ? 'PASS' : 'FAIL'}**: ${fences.length} fences, ${ended} ended Done or failed closed, ` +
      `${violations.length} release(s) before moto showed the instance stopped, ${stopMismatch.length} fence(s) ` +
      `without exactly one StopInstances where one was due.`,
    '',
    '| | |',
    '|---|---|',
    `| fences | ${fences.length} (${input.rounds.length} rounds of up to ${input.options.batch}) |`,
    `| Done | ${byOutcome('Done')} |`,
    `| failed closed (journal waits for an operator) | ${byOutcome('failed closed')} |`,
    `| aborted before power-off | ${byOutcome('aborted')} |`,
    `| stuck / never started | ${byOutcome('stuck')} / ${byOutcome('never started')} |`,
    `| violations (release before stopped, by moto's record) | ${violations.length} |`,
    `| StopInstances per fence (reached moto) | ${[...stopHistogram]
      .sort((a, b) => a[0] - b[0])
      .map(([stops, n]) => `${stops}: ${n} fence(s)`)
      .join(', ')} |`,
    `| Done fences with exactly one StopInstances | ${doneWithOneStop} of ${byOutcome('Done')} |`,
    `| StopInstances sent (faults included) | ${fences.reduce((sum, fence) => sum + fence.stopAttempts, 0)} |`,
    `| time | ${input.seconds} s (${(input.seconds / 60).toFixed(1)} min) |`,
    '',
    '## Faults injected',
    '',
    '| kind | count |',
    '|---|---|',
    `| function SIGKILLed mid-fence and restarted | ${input.kills.length} (process started ${input.functionStarts} times) |`,
    `| kube-apiserver restarted | ${input.apiRestartMs.length}${input.apiRestartMs.length ? ` (away ${Math.round(Math.min(...input.apiRestartMs) / 1000)}–${Math.round(Math.max(...input.apiRestartMs) / 1000)} s; ${api.refused.count} alertfence requests found it away)` : ''} |`,
    `| EC2 5xx (InternalError / Unavailable, never reached moto) | ${ec2.faults.serverError} |`,
    `| EC2 slow (held 0.3–2.5 s before moto) | ${ec2.faults.slow} |`,
    `| EC2 calls in all | ${[...ec2.calls.values()].reduce((sum, n) => sum + n, 0)} (${[...ec2.calls].map(([action, n]) => `${action} ${n}`).join(', ')}) |`,
    '',
    `Where the SIGKILLs landed (the round's fences still running at each kill, by phase, as last seen: \`A→B\` = past A, running B): ${[
      ...killedIn,
    ]
      .sort((a, b) => b[1] - a[1])
      .map(([phase, n]) => `${phase} ${n}`)
      .join(', ')}.`,
    '',
    '## Releases audited against moto',
    '',
    `Self-check before the run: a pod delete and a DetachVolume (dry run) for a running instance, sent through the proxies, were ${input.selfCheck.api && input.selfCheck.ec2 ? 'both flagged' : `NOT both flagged (API ${input.selfCheck.api}, EC2 ${input.selfCheck.ec2})`} (and left out of the counts below).`,
    '',
    `Every release request alertfence sent (API server: out-of-service taint, pod, VolumeAttachment and Node deletes; EC2: DetachVolume), with the instance's state in moto's own record at that moment: ${[
      ...releases,
    ]
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')}; ${violations.length} not \`stopped\`.`,
    '',
    ...(violations.length
      ? [
          '| at | action | node | instance | state |',
          '|---|---|---|---|---|',
          ...violations.map(
            (v) =>
              `| ${new Date(v.at).toISOString()} | ${v.action} ${v.object} | ${v.node} | ${v.instanceId} | ${v.state} |`,
          ),
          '',
        ]
      : []),
    '## Fences',
    '',
    '| node | round | outcome | StopInstances (moto) | invocations | instance at the end | Node deleted | s | reason |',
    '|---|---|---|---|---|---|---|---|---|',
    ...fences.map(
      (fence) =>
        `| ${fence.victim.name} | ${fence.victim.round} | ${fence.outcome} | ${fence.stops} (${fence.motoStops}) | ${fence.attempts} | ${fence.instanceState} | ${fence.nodeDeleted ? 'yes' : 'no'} | ${fence.seconds} | ${fence.reason.replace(/\|/g, '/')} |`,
    ),
    '',
    '## What this run does not show',
    '',
    '- EC2 5xx are answered before the call reaches moto. A 5xx after moto acted (the answer lost) would make',
    '  the driver send StopInstances again — harmless to an instance already stopping, but a second call — and',
    '  is not injected.',
    "- moto's state changes are immediate: there is no `stopping` window for a release to race against; the",
    '  unit and model-based tests cover the transitional states.',
    '- The harness plays the scheduler (`POST /v1/tick` every 2.5 s) and Alertmanager (the webhook repeated every',
    '  10 s), far more often than a deployment would: it shows that fences end, not how long a real one waits.',
    '- A kill is aimed from journals polled every 150 ms, so "the step it was in" is the step last seen.',
    '',
    '## Rounds',
    '',
    '| round | s (of which waiting for the API server to call the nodes down) | SIGKILLs | API server restarts |',
    '|---|---|---|---|',
    ...input.rounds.map(
      (round) =>
        `| ${round.round} | ${round.seconds} (${round.downSeconds}) | ${round.kills}${round.killsSkipped ? ` (+${round.killsSkipped} planned after the round ended)` : ''} | ${round.apiRestarts} |`,
    ),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

const SELF_CHECK_POD = 'chaos-auditor-self-check';

/**
 * Shows each auditor a release for a running instance and checks it is flagged, then drops that record: a
 * proxy that flags nothing would make "0 violations" mean nothing. The pod does not exist (the API server
 * answers 404) and the detach is a dry run, so nothing changes.
 */
async function checkAuditors(input: {
  api: ApiAuditProxy;
  ec2: Ec2FaultProxy;
  proxyCa: string;
  moto: MotoServer;
  healthy: ReadonlyArray<{ instanceId: string; volumeId: string }>;
}): Promise<{ api: boolean; ec2: boolean }> {
  const machine = input.healthy[0];
  if (!machine) return { api: false, ec2: false };
  const url = new URL(`${input.api.url}/api/v1/namespaces/${WORKLOADS}/pods/${SELF_CHECK_POD}`);
  await new Promise<void>((resolve) => {
    const request = httpsRequest(url, { method: 'DELETE', ca: input.proxyCa }, (response) => {
      response.resume();
      response.on('end', resolve);
    });
    request.on('error', () => resolve());
    request.end();
  });
  const apiIndex = input.api.audits.findIndex((audit) => audit.object === SELF_CHECK_POD);
  const api = apiIndex >= 0 && input.api.audits[apiIndex]?.violation === true;
  if (apiIndex >= 0) input.api.audits.splice(apiIndex, 1);

  input.ec2.setEnabled(false);
  const client = new EC2Client({
    endpoint: input.ec2.url,
    region: input.moto.region,
    credentials: input.moto.credentials,
    maxAttempts: 1,
  });
  await client
    .send(
      new DetachVolumeCommand({ VolumeId: machine.volumeId, InstanceId: machine.instanceId, DryRun: true }),
    )
    .catch(() => {});
  client.destroy();
  input.ec2.setEnabled(true);
  // Not one of alertfence's calls.
  input.ec2.calls.set('DetachVolume', Math.max(0, (input.ec2.calls.get('DetachVolume') ?? 0) - 1));
  const ec2Index = input.ec2.audits.findIndex((audit) => audit.object === machine.volumeId);
  const ec2 = ec2Index >= 0 && input.ec2.audits[ec2Index]?.violation === true;
  if (ec2Index >= 0) input.ec2.audits.splice(ec2Index, 1);
  return { api, ec2 };
}

async function main(): Promise<void> {
  const opts = options();
  const started = Date.now();
  const random = seeded(opts.seed);
  say(`seed ${opts.seed}, ${opts.fences} fences in rounds of ${opts.batch}`);
  const work = await tempDir('alertfence-chaos');
  const cleanup: Array<() => Promise<unknown>> = [];
  const fences: FenceRecord[] = [];
  const kills: KillRecord[] = [];
  const rounds: RoundRecord[] = [];
  const apiRestartMs: number[] = [];
  const victims = new Map<string, Victim>();
  try {
    // The cloud, recorded by moto itself from here on.
    const moto = await startMoto();
    cleanup.push(() => moto.stop());
    await moto.startRecording();
    const cloud = new Cloud(moto);
    cleanup.push(async () => cloud.ec2.destroy());
    say('starting the control plane (etcd, kube-apiserver, controllers, kwok)');
    const plane = await startControlPlane({ controllers: true, kwok: true });
    cleanup.push(() => plane.stop());
    const cluster = new Cluster(plane);
    await plane.ensureNamespace(WORKLOADS);
    const healthy: Array<{ name: string; instanceId: string; volumeId: string }> = [];
    for (let i = 1; i <= HEALTHY_NODES; i++) {
      const { instance, volumeId } = await cloud.machine(`healthy-${i}`);
      healthy.push({ name: `healthy-${i}`, instanceId: instance.InstanceId ?? '', volumeId });
      await plane.createNode(`healthy-${i}`, {
        providerID: `aws:///${instance.Placement?.AvailabilityZone}/${instance.InstanceId}`,
      });
    }

    const nodeOfInstance = new Map<string, string>();
    const ec2 = await startEc2FaultProxy({
      target: moto.endpoint,
      random,
      serverErrorRate: opts.serverErrorRate,
      slowRate: opts.slowRate,
      slowMs: [300, 2_500],
      instanceState: (id) => cloud.state(id),
      nodeOf: (id) => nodeOfInstance.get(id) ?? '(not a node of this run)',
    });
    cleanup.push(() => ec2.stop());
    const certs = join(work.path, 'proxy');
    await mkdir(certs);
    const proxyCa = await createCertificateAuthority(certs, 'alertfence-chaos-proxy-ca');
    const serving = await issueCertificate(proxyCa, certs, {
      name: 'proxy',
      commonName: 'alertfence-chaos-proxy',
      usage: 'server',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    // alertfence's own kubeconfig: its ServiceAccount token and the API server's CA.
    const own = parseYaml(await readFile(plane.alertfenceKubeconfig, 'utf8')) as {
      clusters: Array<{ cluster: { 'certificate-authority-data'?: string } }>;
      users: Array<{ user: { token: string } }>;
    };
    const caData = own.clusters[0]?.cluster['certificate-authority-data'];
    if (!caData) throw new Error('the control plane kubeconfig has no CA');
    const upstreamCa = Buffer.from(caData, 'base64').toString('utf8');
    const api = await startApiAuditProxy({
      upstream: plane.server,
      upstreamCa,
      cert: serving.certPem,
      key: serving.keyPem,
      instanceState: (id) => cloud.state(id),
      nodeOfPod: (namespace, name) =>
        namespace === WORKLOADS
          ? [...victims.values()].find((victim) => victim.pod === name)?.name
          : undefined,
      nodeOfAttachment: (name) => [...victims.values()].find((victim) => victim.attachment === name)?.name,
      instanceOfNode: (node) =>
        victims.get(node)?.instanceId ?? healthy.find((machine) => machine.name === node)?.instanceId,
    });
    cleanup.push(() => api.stop());
    const selfCheck = await checkAuditors({ api, ec2, proxyCa: proxyCa.certPem, moto, healthy });
    say(
      `auditors' self-check: API ${selfCheck.api ? 'flags' : 'MISSES'}, EC2 ${selfCheck.ec2 ? 'flags' : 'MISSES'} a release of a running instance`,
    );

    // alertfence's kubeconfig: its ServiceAccount token, through the auditing proxy.
    const kubeconfig = join(work.path, 'alertfence.kubeconfig');
    await writeFile(
      kubeconfig,
      stringifyYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'chaos',
            cluster: {
              server: api.url,
              'certificate-authority-data': Buffer.from(proxyCa.certPem).toString('base64'),
            },
          },
        ],
        users: [{ name: 'alertfence', user: { token: own.users[0]?.user.token } }],
        contexts: [{ name: 'chaos', context: { cluster: 'chaos', user: 'alertfence' } }],
        'current-context': 'chaos',
      }),
      { mode: 0o600 },
    );

    const token = randomBytes(24).toString('hex');
    const port = await freePort();
    // Kept after the run, for a look at what the function said.
    const logFile = join(tmpdir(), `alertfence-chaos-${opts.seed}.log`);
    await writeFile(logFile, '');
    const fn = new FunctionProcess(
      {
        // Nothing from the developer's environment may change the armed configuration under test.
        ...Object.fromEntries(
          Object.keys(process.env)
            .filter((key) => /^(ALERTFENCE_|AWS_|KUBE)/.test(key) && key !== 'ALERTFENCE_CACHE')
            .map((key) => [key, undefined]),
        ),
        PORT: String(port),
        HOST: '127.0.0.1',
        KUBECONFIG: kubeconfig,
        ALERTFENCE_TOKENS: token,
        ALERTFENCE_DRY_RUN: 'false',
        ALERTFENCE_JOURNAL_KEY: randomBytes(32).toString('hex'),
        ALERTFENCE_DRIVERS: 'aws',
        ALERTFENCE_AWS_ENDPOINT: ec2.url,
        ALERTFENCE_AWS_CLUSTER_NAME: CLUSTER,
        ALERTFENCE_UNHEALTHY_FOR: `${UNHEALTHY_FOR_MS / 1000}s`,
        ALERTFENCE_LOCK_DURATION: LOCK_DURATION,
        ALERTFENCE_RELEASE_TIMEOUT: '3s',
        ALERTFENCE_MAX_CONCURRENT_FENCES: String(opts.batch),
        // The storm guard is no part of this run: each round kills a batch at once, by design.
        ALERTFENCE_MAX_UNHEALTHY: '100%',
        AWS_REGION: moto.region,
        AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        NODE_OPTIONS: undefined,
        NODE_NO_WARNINGS: '1',
      },
      `http://127.0.0.1:${port}`,
      logFile,
    );
    await fn.start();
    cleanup.push(() => fn.stop());
    const post = (path: string, body: unknown) =>
      fetch(`${fn.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      }).then(
        async (response) => {
          await response.body?.cancel();
          return response.status;
        },
        () => 0,
      );

    const roundCount = Math.ceil(opts.fences / opts.batch);
    for (let round = 1; round <= roundCount; round++) {
      const size = Math.min(opts.batch, opts.fences - (round - 1) * opts.batch);
      const roundStarted = Date.now();
      // The round's machines, their Nodes on a kwok of their own, a pod and a volume (PV + attachment) each.
      const group = `chaos-r${round}`;
      const kubelets = await plane.startKubelets(group);
      const members: Victim[] = [];
      await Promise.all(
        Array.from({ length: size }, async (_, index) => {
          const name = `r${round}-node-${index + 1}`;
          const { instance, volumeId } = await cloud.machine(name);
          const instanceId = instance.InstanceId ?? '';
          const victim: Victim = {
            name,
            round,
            instanceId,
            volumeId,
            pod: `pod-${name}`,
            attachment: `va-${name}`,
          };
          victims.set(name, victim);
          nodeOfInstance.set(instanceId, name);
          members.push(victim);
          await cluster.core.createPersistentVolume({
            body: {
              metadata: { name: `pv-${name}` },
              spec: {
                capacity: { storage: '10Gi' },
                accessModes: ['ReadWriteOnce'],
                persistentVolumeReclaimPolicy: 'Retain',
                csi: { driver: 'ebs.csi.aws.com', volumeHandle: volumeId },
              },
            },
          });
          await plane.createNode(name, {
            group,
            providerID: `aws:///${instance.Placement?.AvailabilityZone}/${instanceId}`,
          });
          await cluster.core.createNamespacedPod({
            namespace: WORKLOADS,
            body: {
              metadata: { name: victim.pod },
              spec: {
                nodeName: name,
                automountServiceAccountToken: false,
                containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
              },
            },
          });
          await cluster.storage.createVolumeAttachment({
            body: {
              metadata: { name: victim.attachment },
              spec: {
                attacher: 'ebs.csi.aws.com',
                nodeName: name,
                source: { persistentVolumeName: `pv-${name}` },
              },
            },
          });
        }),
      );
      members.sort((a, b) => a.name.localeCompare(b.name));
      // The round's kubelets die together, for good; the node-lifecycle controller notices after its grace.
      await kubelets.stop();
      say(
        `round ${round}/${roundCount}: ${size} kubelets stopped; waiting until the API server agrees they are down`,
      );
      await waitUntil(
        async () =>
          (await Promise.all(members.map((victim) => cluster.confirmedDown(victim.name)))).every(Boolean),
        {
          timeoutMs: 120_000,
          intervalMs: 500,
          what: `round ${round}'s nodes to be down for ${UNHEALTHY_FOR_MS} ms`,
        },
      );

      // The webhooks, then faults at random moments while the fences run.
      const firedAt = Date.now();
      await Promise.all(members.map((victim) => post('/v1/alerts', webhook(victim.name))));
      const record: RoundRecord = {
        round,
        seconds: 0,
        downSeconds: Math.round((firedAt - roundStarted) / 1000),
        kills: 0,
        apiRestarts: 0,
      };
      const at = () => FAULT_WINDOW_MS[0] + random() * (FAULT_WINDOW_MS[1] - FAULT_WINDOW_MS[0]);
      const apiRestartAt = random() < API_RESTART_RATE ? at() : undefined;
      // The round's journals as last seen (every 150 ms), so that a kill can aim at a step.
      let latest: Map<string, { journal: FenceJournal; holder: string }> | undefined;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          latest = await cluster.journals().catch(() => latest);
          await sleep(150);
        }
      })();
      const stepOf = (victim: Victim) => {
        const journal = latest?.get(victim.name)?.journal;
        if (!journal) return 'no journal yet';
        if (journal.status !== 'running') return journal.status;
        return `${journal.phase}→${PHASES[PHASES.indexOf(journal.phase) + 1] ?? '?'}`;
      };
      const anyRunning = () =>
        members.some((victim) => {
          const journal = latest?.get(victim.name)?.journal;
          return !journal || journal.status === 'running';
        });
      // Each kill aims at one fence reaching one step (past it, the next one running), after the last kill.
      const pick = random();
      const killCount = pick < 0.3 ? 1 : pick < 0.75 ? 2 : 3;
      const targets = Array.from({ length: killCount }, () => ({
        victim: members[Math.floor(random() * members.length)] as Victim,
        phase: KILL_AFTER[Math.floor(random() * KILL_AFTER.length)] as Phase,
      }));
      const faultTasks: Promise<void>[] = [];
      let lastKill = firedAt;
      let chain = Promise.resolve();
      for (const target of targets) {
        chain = chain.then(async () => {
          await waitUntil(
            () => {
              if (!anyRunning()) return true;
              const journal = latest?.get(target.victim.name)?.journal;
              if (!journal) return false;
              if (journal.status !== 'running') return true;
              return (
                Date.parse(journal.updatedAt) > lastKill &&
                PHASES.indexOf(journal.phase) >= PHASES.indexOf(target.phase)
              );
            },
            { timeoutMs: 60_000, intervalMs: 50 },
          ).catch(() => undefined);
          if (!anyRunning()) {
            record.killsSkipped = (record.killsSkipped ?? 0) + 1;
            return;
          }
          const phases = members.map(stepOf);
          say(`round ${round}: SIGKILL the function (${phases.join(', ')})`);
          await fn.kill();
          lastKill = Date.now();
          kills.push({ round, phases });
          record.kills += 1;
        });
      }
      faultTasks.push(chain);
      if (apiRestartAt !== undefined) {
        faultTasks.push(
          (async () => {
            await sleep(Math.max(0, firedAt + apiRestartAt - Date.now()));
            say(`round ${round}: restarting kube-apiserver`);
            const { downMs } = await plane.restartApiServer();
            apiRestartMs.push(downMs);
            record.apiRestarts += 1;
            say(`round ${round}: kube-apiserver back after ${(downMs / 1000).toFixed(1)} s`);
          })(),
        );
      }

      // The scheduler and Alertmanager's repeats, until every fence of the round has ended.
      const ends = new Map<string, number>();
      let tick = 0;
      for (;;) {
        const journals = await cluster.journals().catch(() => undefined);
        if (journals) {
          for (const victim of members) {
            const status = journals.get(victim.name)?.journal.status;
            if (status && status !== 'running' && !ends.has(victim.name)) ends.set(victim.name, Date.now());
          }
        }
        const open = members.filter((victim) => !ends.has(victim.name));
        if (open.length === 0 || Date.now() - firedAt > ROUND_TIMEOUT_MS) break;
        tick += 1;
        await post('/v1/tick', {});
        const repeat = tick % REPEAT_EVERY_TICKS === 0;
        await Promise.all(
          open
            .filter((victim) => repeat || (journals !== undefined && !journals.has(victim.name)))
            .map((victim) => post('/v1/alerts', webhook(victim.name))),
        );
        await sleep(TICK_EVERY_MS);
      }
      await Promise.all(faultTasks);
      watching = false;
      await watcher;

      // Where each fence ended, by the journal, the proxies and moto's own record.
      const journals = await waitUntil(() => cluster.journals(), { timeoutMs: 60_000, what: 'the journals' });
      const motoCalls = await moto.recordedCalls();
      for (const victim of members) {
        const entry = journals.get(victim.name)?.journal;
        const status = entry?.status;
        const outcome: Outcome =
          status === 'succeeded'
            ? 'Done'
            : status === 'failed'
              ? 'failed closed'
              : status === 'aborted'
                ? 'aborted'
                : entry
                  ? 'stuck'
                  : 'never started';
        const abortStep = entry?.phases.at(-1)?.detail;
        const reason =
          outcome === 'Done'
            ? ''
            : outcome === 'stuck'
              ? `still running after ${entry?.phase}${entry?.lastError ? `: ${entry.lastError.message}` : ''}`
              : outcome === 'never started'
                ? 'no journal'
                : (entry?.lastError?.message ?? abortStep ?? '');
        const endedAt = ends.get(victim.name) ?? Date.now();
        fences.push({
          victim,
          outcome,
          reason,
          stops: ec2.stops.get(victim.instanceId) ?? 0,
          stopAttempts: ec2.stopAttempts.get(victim.instanceId) ?? 0,
          motoStops: motoCalls.filter(
            (call) =>
              call.action === 'StopInstances' && !call.dryRun && call.instanceIds.includes(victim.instanceId),
          ).length,
          attempts: entry?.attempt ?? 0,
          instanceState: await cloud.state(victim.instanceId),
          nodeDeleted: !(await cluster.nodeExists(victim.name)),
          seconds: Math.round((endedAt - firedAt) / 1000),
        });
        if (outcome !== 'Done') {
          // The operator's part: look, then clear what waits, so the next rounds are not held up by it.
          say(`round ${round}: ${victim.name} ${outcome}: ${reason}`);
          await cluster.coordination
            .deleteNamespacedLease({ name: victim.name, namespace: NAMESPACE })
            .catch(() => {});
        }
      }
      record.seconds = Math.round((Date.now() - roundStarted) / 1000);
      rounds.push(record);
      const done = fences.filter((fence) => fence.outcome === 'Done').length;
      const violations = [...api.audits, ...ec2.audits].filter((audit) => audit.violation).length;
      say(
        `round ${round}/${roundCount} in ${record.seconds} s: ${done}/${fences.length} Done so far, ${violations} violation(s), ${kills.length} SIGKILL(s), ${apiRestartMs.length} API restart(s)`,
      );
    }

    await fn.stop();
    const seconds = Math.round((Date.now() - started) / 1000);
    const markdown = report({
      options: opts,
      started,
      seconds,
      fences,
      kills,
      rounds,
      apiRestartMs,
      ec2,
      api,
      functionStarts: fn.starts,
      selfCheck,
    });
    await writeFile(resolve(ROOT, opts.out), markdown);
    process.stdout.write(markdown);
    say(`written to ${opts.out}; alertfence's log: ${logFile}`);
    const failed =
      markdown.includes('**FAIL**') ||
      fences.some((fence) => fence.instanceState !== 'running' && fence.outcome === 'Done');
    process.exitCode = failed ? 1 : 0;
  } finally {
    for (const stop of cleanup.reverse()) await stop().catch(() => {});
    await work.remove();
  }
}

await main();
