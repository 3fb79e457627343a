/**
 * Turns the runs into numbers, a timeline JSON, an SVG chart (and a PNG when `rsvg-convert` is installed),
 * and a Markdown summary, all under `test/e2e/out/`.
 */
import { access, constants, mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../peers/process.js';
import { type Chart, type Lane, type Marker, renderChart, type Segment, type Tone } from './chart.js';
import { type FenceObservability, metricsSnapshot, notificationSequence } from './fence-observability.js';
import type { ScenarioResult } from './scenario.js';
import { type MilestoneKey, seconds } from './timeline.js';

export const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));

/** The numbers of a run with alertfence; seconds. */
export interface RecoveryNumbers {
  /** Kubelet dies → Ready=Unknown: the node-monitor grace period (less the age of the last heartbeat). */
  deathToReadyUnknown?: number;
  /** Ready=Unknown → webhook at alertfence: the rule's `for:`, scrape and evaluation, Alertmanager's group_wait. */
  readyUnknownToWebhook?: number;
  /** The headline: webhook received → StatefulSet replacement Running (target ≤ 15 s). */
  alertToRunning?: number;
  /** Kubelet dies → StatefulSet replacement Running. */
  total?: number;
  /** Kubelet dies → Deployment replacement Running. */
  deploymentTotal?: number;
  /** The whole fence: webhook received → journal Done. */
  fence?: number;
  /** Time inside alertfence's cloud calls (EC2 through the recording proxy; Nova and Cinder from their logs). */
  cloud?: number;
  /** Out-of-service taint → the node's pods and VolumeAttachments gone: waiting on Kubernetes' controllers. */
  controllers?: number;
  /** fence − cloud − controllers: alertfence's own time (API calls, journal writes, its 1 s Release poll). */
  overhead?: number;
  /** VolumeAttachments gone → Release done: how late alertfence's 1 s Release poll noticed (part of overhead). */
  releasePollLag?: number;
  /** Webhook → out-of-service taint, less the cloud calls in it: alertfence's own time on the critical path. */
  criticalPathOverhead?: number;
  /** The Release fell back to force-deleting (ALERTFENCE_RELEASE_TIMEOUT ran out before PodGC acted). */
  releaseForced: boolean;
  ec2Calls: string[];
}

/** The numbers of a run without alertfence; seconds from the kubelet's death. */
export interface BaselineNumbers {
  deathToReadyUnknown?: number;
  webhookDelivered?: number;
  podsEvicted?: number;
  deploymentMultiAttach?: number;
  window: number;
  statefulSetReplacementCreated: boolean;
  statefulSetRunningAtEnd: boolean;
  deploymentRunningAtEnd: boolean;
  volumesStillOnDeadInstance: boolean;
  deadInstanceStillRunning: boolean;
}

const oneDecimal = (value: number | undefined) => (value === undefined ? '?' : value.toFixed(1));

const between = (result: ScenarioResult, from: MilestoneKey, to: MilestoneKey) =>
  seconds(result.timeline.at(from), result.timeline.at(to));

function callSeconds(result: ScenarioResult, from: number | undefined, to: number | undefined): number {
  if (from === undefined || to === undefined) return 0;
  const ms = result.cloudCalls
    .filter((call) => call.start >= from && call.end <= to)
    .reduce((sum, call) => sum + (call.end - call.start), 0);
  return Math.round(ms / 10) / 100;
}

const minus = (a: number | undefined, ...rest: Array<number | undefined>) =>
  a === undefined || rest.some((value) => value === undefined)
    ? undefined
    : Math.round((a - rest.reduce((sum: number, value) => sum + (value ?? 0), 0)) * 100) / 100;

export function recoveryNumbers(result: ScenarioResult): RecoveryNumbers {
  const at = (key: MilestoneKey) => result.timeline.at(key);
  const fence = between(result, 'webhookReceived', 'fenceDone');
  const cloud = callSeconds(result, at('webhookReceived'), at('fenceDone'));
  const controllers = between(result, 'outOfServiceTaint', 'attachmentsReleased');
  const toTaint = between(result, 'webhookReceived', 'outOfServiceTaint');
  return {
    deathToReadyUnknown: between(result, 'heartbeatStopped', 'readyUnknown'),
    readyUnknownToWebhook: between(result, 'readyUnknown', 'webhookReceived'),
    alertToRunning: between(result, 'webhookReceived', 'replacementRunning'),
    total: between(result, 'heartbeatStopped', 'replacementRunning'),
    deploymentTotal: between(result, 'heartbeatStopped', 'deploymentReplacementRunning'),
    fence,
    cloud,
    controllers,
    overhead: minus(fence, cloud, controllers),
    releasePollLag: between(result, 'attachmentsReleased', 'releaseDone'),
    criticalPathOverhead: minus(toTaint, callSeconds(result, at('webhookReceived'), at('outOfServiceTaint'))),
    releaseForced: Boolean(result.journal?.release.forcedAt),
    // The fence's own calls: /readyz's pre-flight looked an instance up before any alert came.
    ec2Calls: result.cloudCalls
      .filter((call) => call.start >= (at('webhookReceived') ?? Number.NEGATIVE_INFINITY))
      .map((call) => call.action),
  };
}

export function baselineNumbers(result: ScenarioResult): BaselineNumbers {
  const fromDeath = (key: MilestoneKey) => between(result, 'heartbeatStopped', key);
  const running = (app: string) =>
    result.final.pods.some((pod) => pod.name.startsWith(app) && !pod.original && pod.phase === 'Running');
  return {
    deathToReadyUnknown: fromDeath('readyUnknown'),
    webhookDelivered: fromDeath('webhookReceived'),
    podsEvicted: fromDeath('podsEvicted'),
    deploymentMultiAttach: fromDeath('deploymentMultiAttach'),
    window: Math.round(result.settings.boundMs / 1000),
    statefulSetReplacementCreated: result.timeline.has('replacementCreated'),
    statefulSetRunningAtEnd: running('db-'),
    deploymentRunningAtEnd: running('web-'),
    volumesStillOnDeadInstance: result.final.volumes.every((volume) =>
      volume.attachedTo.includes(result.final.victimInstance),
    ),
    deadInstanceStillRunning: !result.timeline.has('powerOffVerified'),
  };
}

/** Segment helpers over one run's milestones, in seconds from its t0; missing milestones drop the segment. */
function spans(result: ScenarioResult, endS: number) {
  const t = (key: MilestoneKey) => {
    const at = result.timeline.at(key);
    return at === undefined ? undefined : (at - result.t0) / 1000;
  };
  const span = (
    from: MilestoneKey | number,
    to: MilestoneKey | number | undefined,
    tone: Tone,
    label: string,
  ): Segment[] => {
    const start = typeof from === 'number' ? from : t(from);
    const stop = to === undefined ? undefined : typeof to === 'number' ? to : t(to);
    if (start === undefined) return [];
    return [{ from: start, to: stop ?? endS, tone, label, ...(stop === undefined ? { open: true } : {}) }];
  };
  const marker = (key: MilestoneKey, label: string): Marker[] => {
    const at = t(key);
    return at === undefined ? [] : [{ at, label }];
  };
  return { t, span, marker };
}

function recoveryPanel(result: ScenarioResult) {
  const numbers = recoveryNumbers(result);
  // Room after the recovery for the labels of the green segments.
  const endS = Math.ceil((result.end - result.t0) / 1000 / 5) * 5 + 5;
  const { span, marker } = spans(result, endS);
  const newNode = result.final.pods.find((pod) => pod.name === 'db-0')?.node ?? '?';
  const webNode = result.final.pods.find((pod) => pod.name.startsWith('web-'))?.node ?? '?';
  const lanes: Lane[] = [
    {
      label: 'worker-1 (Node)',
      sublabel: 'kwok kubelet',
      segments: [
        ...span(0, 'readyUnknown', 'wait', 'dead, still Ready'),
        ...span('readyUnknown', 'nodeDeleted', 'down', 'Ready=Unknown'),
        ...span('nodeDeleted', 'nodeReregistered', 'off', 'deleted'),
        ...span('nodeReregistered', endS, 'up', 're-registered, Ready'),
      ],
    },
    {
      label: machineLabel(result),
      sublabel: result.final.victimInstance,
      segments: [
        ...span(0, 'powerOffVerified', 'down', 'running, hung'),
        ...span('powerOffVerified', 'poweredOn', 'off', result.cloud.words.off),
        ...span('poweredOn', endS, 'up', 'running'),
      ],
    },
    {
      label: 'KubeNodeNotReady',
      sublabel: `Prometheus, for: ${result.settings.alertFor}`,
      segments: [
        ...span('alertPending', 'alertFiring', 'wait', 'pending'),
        ...span('alertFiring', 'nodeDeleted', 'down', 'firing'),
      ],
    },
    {
      label: 'alertfence',
      sublabel: 'fence of worker-1',
      segments: [
        ...span('webhookReceived', 'outOfServiceTaint', 'act', 'power off'),
        ...span('outOfServiceTaint', 'releaseDone', 'wait', 'waiting for Kubernetes'),
        ...span('releaseDone', 'fenceDone', 'act', 'delete, power on'),
      ],
    },
    {
      label: 'db-0 (StatefulSet)',
      sublabel: 'RWO volume',
      segments: [
        ...span(0, 'podsEvicted', 'down', 'on dead node'),
        ...span('podsEvicted', 'oldPodsGone', 'down', 'Terminating'),
        ...span('replacementCreated', 'replacementRunning', 'wait', 'attaching'),
        ...span('replacementRunning', endS, 'up', `Running on ${newNode}`),
      ],
    },
    {
      label: 'web (Deployment)',
      sublabel: 'RWO volume',
      segments: [
        ...span(0, 'podsEvicted', 'down', 'on dead node'),
        ...span('deploymentReplacementCreated', 'deploymentReplacementRunning', 'wait', 'Multi-Attach'),
        ...span('deploymentReplacementRunning', endS, 'up', `Running on ${webNode}`),
      ],
    },
    {
      label: volumeLabel(result),
      sublabel: result.cloud.words.volumeRead,
      segments: [
        ...span(0, 'volumesDetachedInCloud', 'down', 'on dead instance'),
        ...span('volumesDetachedInCloud', 'replacementVolumeAttached', 'off', 'detached'),
        ...span('replacementVolumeAttached', endS, 'up', `attached to ${newNode}`),
      ],
    },
  ];
  const markers = [
    ...marker('readyUnknown', 'Node Ready=Unknown (node-lifecycle controller)'),
    ...marker('alertFiring', 'KubeNodeNotReady firing (Prometheus)'),
    ...marker('webhookReceived', 'webhook received by alertfence'),
    ...marker('powerOffVerified', 'instance verified stopped'),
    ...marker(
      'oldPodsGone',
      numbers.releaseForced
        ? `old pods gone (force-deleted by alertfence after ALERTFENCE_RELEASE_TIMEOUT ${result.settings.releaseTimeout})`
        : 'old pods gone (out-of-service taint → eviction, PodGC)',
    ),
    ...marker('volumesDetachedInCloud', 'VolumeAttachments gone, volumes detached in the cloud'),
    ...marker('replacementRunning', `db-0 Running on ${newNode}, volume attached there`),
    ...marker('nodeReregistered', 'worker-1 powered on and re-registered'),
  ];
  return {
    panel: {
      title: `With alertfence: db-0 Running again ${oneDecimal(numbers.total)} s after the kubelet died, ${oneDecimal(numbers.alertToRunning)} s after the alert reached alertfence`,
      maxS: endS,
      lanes,
      markers,
    },
    numbers,
  };
}

function baselinePanel(result: ScenarioResult) {
  const endS = Math.round(result.settings.boundMs / 1000);
  const { span, marker } = spans(result, endS);
  const open = undefined;
  return {
    title: `Without alertfence: after ${endS} s db-0 is still Terminating on the dead node and its volume still attached there`,
    maxS: endS,
    lanes: [
      {
        label: 'worker-1 (Node)',
        sublabel: 'kwok kubelet',
        segments: [
          ...span(0, 'readyUnknown', 'wait', 'dead, still Ready'),
          ...span('readyUnknown', open, 'down', 'Ready=Unknown, for good'),
        ],
      },
      {
        label: machineLabel(result),
        sublabel: result.final.victimInstance,
        segments: span(0, open, 'down', 'running, hung: nobody powers it off'),
      },
      {
        label: 'KubeNodeNotReady',
        sublabel: `Prometheus, for: ${result.settings.alertFor}`,
        segments: [
          ...span('alertPending', 'alertFiring', 'wait', 'pending'),
          ...span('alertFiring', open, 'down', 'firing; the webhook reaches a receiver that does nothing'),
        ],
      },
      {
        label: 'db-0 (StatefulSet)',
        sublabel: 'RWO volume',
        segments: [
          ...span(0, 'podsEvicted', 'down', 'on dead node'),
          ...span('podsEvicted', open, 'down', 'Terminating forever: no kubelet confirms, no replacement'),
        ],
      },
      {
        label: 'web (Deployment)',
        sublabel: 'RWO volume',
        segments: [
          ...span(0, 'podsEvicted', 'down', 'on dead node'),
          ...span('deploymentReplacementCreated', open, 'wait', 'replacement Pending: Multi-Attach error'),
        ],
      },
      {
        label: volumeLabel(result),
        sublabel: result.cloud.words.volumeRead,
        segments: span(0, open, 'down', 'attached to the dead instance'),
      },
    ],
    markers: [
      ...marker('readyUnknown', 'Node Ready=Unknown'),
      ...marker('alertFiring', 'KubeNodeNotReady firing'),
      ...marker(
        'podsEvicted',
        `toleration (${result.settings.tolerationSeconds} s) over: pods evicted, stay Terminating`,
      ),
      ...marker('deploymentMultiAttach', 'Deployment replacement scheduled: Multi-Attach error'),
    ],
  };
}

/** The chart of a pair of runs: with alertfence first, then without. */
export function chartOf(withRun: ScenarioResult | undefined, withoutRun: ScenarioResult | undefined): Chart {
  const recovery = withRun ? recoveryPanel(withRun) : undefined;
  const baseline = withoutRun ? baselinePanel(withoutRun) : undefined;
  const windowS = withoutRun ? Math.round(withoutRun.settings.boundMs / 1000) : (recovery?.panel.maxS ?? 60);
  const settings = (withRun ?? withoutRun)?.settings;
  const bars = [];
  const headlineBar = (label: string, downTo: number | undefined, value: string) => ({
    label,
    segments: [
      {
        from: 0,
        to: Math.min(downTo ?? windowS, windowS),
        tone: 'down' as Tone,
        ...(downTo === undefined ? { open: true } : {}),
      },
      ...(downTo === undefined
        ? []
        : [{ from: downTo, to: Math.min(downTo + 6, windowS), tone: 'up' as Tone }]),
    ],
    value,
  });
  if (recovery) {
    const { total, deploymentTotal } = recovery.numbers;
    bars.push(headlineBar('db-0, with alertfence', total, `back after ${oneDecimal(total)} s`));
    bars.push(
      headlineBar('web, with alertfence', deploymentTotal, `back after ${oneDecimal(deploymentTotal)} s`),
    );
  }
  if (withoutRun) {
    bars.push(headlineBar('db-0, without', undefined, `still down at ${windowS} s`));
    bars.push(headlineBar('web, without', undefined, `still down at ${windowS} s`));
  }
  return {
    title: 'A node dies: the StatefulSet and Deployment on it, with and without alertfence',
    subtitle: settings
      ? [
          `Real kube-apiserver, controller-manager and scheduler 1.33, kube-state-metrics, Prometheus, Alertmanager; kwok kubelets; ${(withRun ?? withoutRun)?.cloud.label ?? 'the cloud'}.`,
          `node-monitor grace ${settings.nodeMonitorGracePeriod}, alert for: ${settings.alertFor}, ALERTFENCE_UNHEALTHY_FOR ${settings.unhealthyFor}, pod tolerations ${settings.tolerationSeconds} s. Time axis: seconds since worker-1's kubelet died.`,
        ]
      : [],
    headline: {
      title: 'Time each workload is unavailable after its node dies (seconds)',
      maxS: windowS,
      bars,
    },
    panels: [...(recovery ? [recovery.panel] : []), ...(baseline ? [baseline] : [])],
  };
}

function eventsOf(result: ScenarioResult) {
  return result.timeline.list().map((event) => ({
    t: seconds(result.t0, event.at),
    key: event.key,
    label: event.label,
    at: new Date(event.at).toISOString(),
    source: event.source,
    ...(event.detail ? { detail: event.detail } : {}),
  }));
}

/** The timeline document of one run, as written to `timeline.json`. */
export function timelineDocument(result: ScenarioResult) {
  return {
    scenario: result.name,
    alertfence: result.alertfence,
    t0: new Date(result.t0).toISOString(),
    end: new Date(result.end).toISOString(),
    settings: result.settings,
    ruleSource: result.ruleSource,
    numbers: result.alertfence ? recoveryNumbers(result) : baselineNumbers(result),
    events: eventsOf(result),
    webhooks: result.webhooks.map((at) => seconds(result.t0, at)),
    cloudCalls: result.cloudCalls.map((call) => ({
      action: call.action,
      t: seconds(result.t0, call.start),
      durationMs: call.end - call.start,
      status: call.status,
    })),
    attacher: result.attacherEvents.map((event) => ({ ...event, t: seconds(result.t0, event.at) })),
    journal: result.journal,
    ...(result.observability
      ? {
          notifications: notificationSequence(result.observability, result.t0),
          metrics: {
            before: result.observability.metricsBefore
              ? new Date(result.observability.metricsBefore.at).toISOString()
              : undefined,
            after: result.observability.metricsAfter
              ? new Date(result.observability.metricsAfter.at).toISOString()
              : undefined,
            series: metricsSnapshot(result.observability),
          },
        }
      : {}),
    final: result.final,
    startupMs: result.startup,
  };
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * A Markdown table with its columns padded to their widest cell, as the repository's formatter (Biome) writes
 * tables, so a generated file passes `biome check`.
 */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const width = (text: string) => [...text].length;
  const widths = header.map((title, column) =>
    Math.max(3, width(title), ...rows.map((row) => width(row[column] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    `| ${widths.map((w, column) => (cells[column] ?? '') + ' '.repeat(w - width(cells[column] ?? ''))).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

const show = (value: number | boolean | undefined, unit = '') =>
  value === undefined ? 'not seen' : `${value}${unit}`;

/** The Markdown summary of the runs (the numbers of `docs/e2e-results.md`). */
/** `EC2 calls` or `Nova and Cinder calls`. */
function cloudCalls(result: ScenarioResult): string {
  return result.cloud.kind === 'aws' ? 'EC2 calls' : 'Nova and Cinder calls';
}

function machineLabel(result: ScenarioResult): string {
  return result.cloud.kind === 'aws' ? 'EC2 instance' : 'Nova server';
}

function volumeLabel(result: ScenarioResult): string {
  return result.cloud.kind === 'aws' ? 'EBS volume of db-0' : 'Cinder volume of db-0';
}

export function summaryMarkdown(
  withRun: ScenarioResult | undefined,
  withoutRun: ScenarioResult | undefined,
): string {
  const lines = ['# alertfence e2e: measured numbers', ''];
  if (withRun) {
    const n = recoveryNumbers(withRun);
    lines.push(
      '## With alertfence',
      '',
      ...markdownTable(
        ['measure', 'seconds'],
        [
          ['kubelet dies → Ready=Unknown', show(n.deathToReadyUnknown)],
          ['Ready=Unknown → webhook at alertfence', show(n.readyUnknownToWebhook)],
          ['**alert at alertfence → StatefulSet replacement Running**', `**${show(n.alertToRunning)}**`],
          ['kubelet dies → StatefulSet replacement Running', show(n.total)],
          ['kubelet dies → Deployment replacement Running', show(n.deploymentTotal)],
          ['whole fence (webhook → journal Done)', show(n.fence)],
          [`of which in ${cloudCalls(withRun)}`, show(n.cloud)],
          ['of which waiting on Kubernetes controllers', show(n.controllers)],
          ['orchestration overhead (the rest)', show(n.overhead)],
          ['of which Release noticing late (its 1 s poll)', show(n.releasePollLag)],
          [
            `overhead on the critical path (webhook → out-of-service taint, less ${cloudCalls(withRun)})`,
            show(n.criticalPathOverhead),
          ],
        ],
      ),
      '',
      `Release forced: ${n.releaseForced}. ${cloudCalls(withRun)}: ${n.ec2Calls.join(', ')}.`,
      '',
    );
  }
  if (withoutRun) {
    const n = baselineNumbers(withoutRun);
    lines.push(
      '## Without alertfence',
      '',
      ...markdownTable(
        ['measure', 'value'],
        [
          ['kubelet dies → Ready=Unknown', show(n.deathToReadyUnknown, ' s')],
          [
            'kubelet dies → first webhook delivered (to a receiver that does nothing)',
            show(n.webhookDelivered, ' s'),
          ],
          ['kubelet dies → pods evicted (Terminating)', show(n.podsEvicted, ' s')],
          ['kubelet dies → Deployment replacement hits Multi-Attach', show(n.deploymentMultiAttach, ' s')],
          ['observation window', show(n.window, ' s')],
          ['StatefulSet replacement created', show(n.statefulSetReplacementCreated)],
          ['StatefulSet Running at the end', show(n.statefulSetRunningAtEnd)],
          ['Deployment replacement Running at the end', show(n.deploymentRunningAtEnd)],
          ['volumes still attached to the dead instance', show(n.volumesStillOnDeadInstance)],
          ['dead instance still running', show(n.deadInstanceStillRunning)],
        ],
      ),
      '',
    );
  }
  if (withRun?.observability) lines.push(...observabilityMarkdown(withRun, withRun.observability));
  for (const run of [withRun, withoutRun]) {
    if (!run) continue;
    lines.push(
      `## Timeline: ${run.name}`,
      '',
      ...markdownTable(
        ['t (s)', 'milestone', 'seen by', 'detail'],
        eventsOf(run).map((event) => [
          event.t?.toFixed(2) ?? '',
          event.label,
          event.source,
          event.detail ?? '',
        ]),
      ),
      '',
    );
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

const inline = (text: unknown) =>
  String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

/** The notifications the receivers got and the `/metrics` snapshot, as Markdown. */
export function observabilityMarkdown(run: ScenarioResult, observed: FenceObservability): string[] {
  const sequence = notificationSequence(observed, run.t0);
  const rows = metricsSnapshot(observed);
  const value = (n: number | undefined) => (n === undefined ? '—' : String(Number(n.toFixed(3))));
  return [
    `## Notifications received (${run.name})`,
    '',
    ...markdownTable(
      ['t (s)', 'received at', 'receiver', 'event', 'outcome / reason', 'message (JSON) or text (Slack)'],
      sequence.map((n) => [
        n.t.toFixed(2),
        n.receivedAt,
        n.format,
        `\`${n.event}\``,
        'outcome' in n ? `${inline(n.outcome)} / ${inline(n.reason)}` : '',
        inline('message' in n ? n.message : n.text),
      ]),
    ),
    '',
    `## /metrics after the fence (${run.name}; before: scraped just before the kubelet died)`,
    '',
    ...markdownTable(
      ['series', 'before', 'after'],
      rows.map((row) => [`\`${row.series}\``, value(row.before), value(row.after)]),
    ),
    '',
  ];
}

/** Writes `timeline.json`, `timeline.svg`, `timeline.png` (when rsvg-convert exists), `summary.md` and logs. */
export async function writeReport(
  withRun: ScenarioResult | undefined,
  withoutRun: ScenarioResult | undefined,
  outDir = OUT_DIR,
): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, content: string) => {
    const path = join(outDir, name);
    await writeFile(path, content);
    written.push(path);
  };
  const runs = [withRun, withoutRun].filter((run): run is ScenarioResult => run !== undefined);
  await write(
    'timeline.json',
    `${JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        machine: { cpus: cpus().length, node: process.version },
        runs: runs.map(timelineDocument),
      },
      null,
      2,
    )}\n`,
  );
  await write('timeline.svg', renderChart(chartOf(withRun, withoutRun)));
  await write('summary.md', summaryMarkdown(withRun, withoutRun));
  for (const run of runs) {
    if (run.observability?.metricsAfter)
      await write(`${run.name}.metrics.txt`, run.observability.metricsAfter.text);
    if (run.observability) {
      await write(
        `${run.name}.notifications.json`,
        `${JSON.stringify(run.observability.notifications, null, 2)}\n`,
      );
    }
    for (const [name, text] of Object.entries(run.logs)) {
      await write(`${run.name}.${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.log`, text);
    }
  }
  const rsvg = '/usr/bin/rsvg-convert';
  if (await executable(rsvg)) {
    const png = join(outDir, 'timeline.png');
    await runCommand(rsvg, ['--format=png', '--output', png, join(outDir, 'timeline.svg')]);
    written.push(png);
  }
  return written;
}
