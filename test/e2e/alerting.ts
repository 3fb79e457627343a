/**
 * The real alerting path of the e2e: kube-state-metrics → Prometheus with the repository's KubeNodeNotReady
 * rule (`infra/prometheus/`, shorter `for:`) → Alertmanager with the repository's route and receiver
 * (`infra/alertmanager/`, local URL and token file, shorter group timings) → alertfence.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { startAlertmanager } from '../peers/alertmanager.js';
import { GO_BUILD_HINT } from '../peers/control-plane.js';
import { freePort, type PeerProcess, peerCacheDir, requirePeer, startProcess } from '../peers/process.js';
import { type PrometheusServer, startPrometheus } from '../peers/prometheus.js';

export const ALERT_NAME = 'KubeNodeNotReady';
/** Where the repository keeps its Prometheus rules and its Alertmanager configuration. */
export const RULES_DIR = new URL('../../infra/prometheus/', import.meta.url);
export const ALERTMANAGER_CONFIG = new URL('../../infra/alertmanager/alertmanager.yml', import.meta.url);
/** The receiver of `infra/alertmanager/alertmanager.yml` that posts to alertfence. */
const RECEIVER = 'alertfence';

/** Group timings of the test route (production: 30 s, 1 m, 5 m): the rule's `for:` already waited. */
export const TEST_ROUTE_TIMINGS = { group_wait: '1s', group_interval: '2s', repeat_interval: '1m' } as const;

interface RuleFile {
  groups?: Array<{ name?: string; rules?: Array<Record<string, unknown>> }>;
}

/** The KubeNodeNotReady rule of the repository's rule files with `for:` replaced, and its file. */
export async function nodeNotReadyRule(
  forDuration: string,
): Promise<{ rule: Record<string, unknown>; source: string }> {
  const dir = fileURLToPath(RULES_DIR);
  const files = (await readdir(dir))
    .filter((file) => /\.ya?ml$/.test(file) && !/\.test\.ya?ml$/.test(file))
    .sort();
  for (const file of files) {
    const parsed = parse(await readFile(join(dir, file), 'utf8')) as RuleFile | null;
    for (const group of parsed?.groups ?? []) {
      const rule = group.rules?.find((candidate) => candidate.alert === ALERT_NAME);
      if (rule) return { rule: { ...rule, for: forDuration }, source: `infra/prometheus/${file}` };
    }
  }
  throw new Error(`no ${ALERT_NAME} rule in infra/prometheus/ (files: ${files.join(', ') || 'none'})`);
}

interface RouteNode {
  receiver?: string;
  routes?: RouteNode[];
  [key: string]: unknown;
}

interface AlertmanagerFile {
  route?: RouteNode;
  receivers?: Array<{ name?: string; webhook_configs?: Array<Record<string, unknown>> }>;
  [key: string]: unknown;
}

/**
 * The repository's Alertmanager configuration, as deployed, with only what a test must change: the webhook
 * URL, the token file, and the group timings of the routes to alertfence.
 */
export async function alertmanagerTestConfig(
  webhookUrl: string,
  credentialsFile: string | undefined,
): Promise<string> {
  if (credentialsFile === undefined)
    throw new Error('alertmanagerTestConfig: the receiver needs a token file');
  const config = parse(await readFile(ALERTMANAGER_CONFIG, 'utf8')) as AlertmanagerFile;
  const receiver = config.receivers?.find((candidate) => candidate.name === RECEIVER);
  if (!receiver?.webhook_configs?.length) {
    throw new Error(`infra/alertmanager/alertmanager.yml has no webhook receiver named ${RECEIVER}`);
  }
  receiver.webhook_configs = receiver.webhook_configs.map((webhook) => ({
    ...webhook,
    url: webhookUrl,
    http_config: { authorization: { type: 'Bearer', credentials_file: credentialsFile } },
  }));
  let routed = 0;
  const visit = (route: RouteNode | undefined) => {
    if (!route) return;
    if (route.receiver === RECEIVER) {
      Object.assign(route, TEST_ROUTE_TIMINGS);
      routed++;
    }
    for (const child of route.routes ?? []) visit(child);
  };
  visit(config.route);
  if (routed === 0) throw new Error(`no route of infra/alertmanager/alertmanager.yml leads to ${RECEIVER}`);
  return stringify(config);
}

export interface PrometheusAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  activeAt?: string;
}

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  startsAt: string;
  status: { state: string };
}

export interface Alerting {
  ruleSource: string;
  prometheus: PrometheusServer;
  alertmanagerUrl: string;
  /** Alerts as Prometheus evaluates them (`GET /api/v1/alerts`). */
  prometheusAlerts(): Promise<PrometheusAlert[]>;
  /** Active alerts as Alertmanager holds them (`GET /api/v2/alerts`). */
  alertmanagerAlerts(): Promise<AlertmanagerAlert[]>;
  /**
   * When Prometheus's own record (its `ALERTS` series, one sample per rule evaluation) first shows an alert
   * with these labels firing between `from` and `to`; undefined if it never does.
   */
  firstFiring(labels: Record<string, string>, from: number, to: number): Promise<number | undefined>;
  logs(): Record<string, string>;
  stop(): Promise<void>;
}

export interface AlertingOptions {
  adminKubeconfig: string;
  /** Where Alertmanager's receiver posts (alertfence's `/v1/alerts`). */
  webhookUrl: string;
  bearerToken: string;
  /** The rule's `for:` for the test, e.g. `10s` (production: 15m). */
  forDuration: string;
}

/**
 * Starts Alertmanager, kube-state-metrics (nodes only) and Prometheus scraping it every second with the rule.
 * Everything started is stopped if a later start fails.
 */
export async function startAlerting(options: AlertingOptions): Promise<Alerting> {
  const { rule, source } = await nodeNotReadyRule(options.forDuration);
  const ksmCommand = requirePeer(join(peerCacheDir(), 'bin', 'kube-state-metrics'), GO_BUILD_HINT);
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const alertmanager = await startAlertmanager({
      bearerToken: options.bearerToken,
      configYaml: (credentialsFile) => alertmanagerTestConfig(options.webhookUrl, credentialsFile),
    });
    started.push(alertmanager);
    const alertmanagerUrl = alertmanager.url;

    const [ksmPort, telemetryPort] = await Promise.all([freePort(), freePort()]);
    const ksm: PeerProcess = await startProcess({
      name: 'kube-state-metrics',
      command: ksmCommand,
      args: [
        `--kubeconfig=${options.adminKubeconfig}`,
        '--host=127.0.0.1',
        `--port=${ksmPort}`,
        '--telemetry-host=127.0.0.1',
        `--telemetry-port=${telemetryPort}`,
        '--resources=nodes',
      ],
      ready: `http://127.0.0.1:${ksmPort}/healthz`,
    });
    started.push(ksm);

    const prometheus = await startPrometheus({
      configYaml: stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: ['rules.yml'],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(alertmanagerUrl).host] }] }] },
        scrape_configs: [
          { job_name: 'kube-state-metrics', static_configs: [{ targets: [`127.0.0.1:${ksmPort}`] }] },
        ],
      }),
      files: { 'rules.yml': stringify({ groups: [{ name: 'alertfence-e2e', rules: [rule] }] }) },
    });
    started.push(prometheus);

    return {
      ruleSource: source,
      prometheus,
      alertmanagerUrl,
      async prometheusAlerts() {
        const response = await fetch(`${prometheus.url}/api/v1/alerts`);
        const body = (await response.json()) as { data?: { alerts?: PrometheusAlert[] } };
        return body.data?.alerts ?? [];
      },
      async alertmanagerAlerts() {
        const response = await fetch(`${alertmanagerUrl}/api/v2/alerts?active=true`);
        return (await response.json()) as AlertmanagerAlert[];
      },
      async firstFiring(labels, from, to) {
        const matchers = Object.entries({ ...labels, alertstate: 'firing' })
          .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
          .join(',');
        const query = new URLSearchParams({
          query: `ALERTS{${matchers}}`,
          start: String(from / 1000),
          end: String(to / 1000),
          step: '1',
        });
        const response = await fetch(`${prometheus.url}/api/v1/query_range?${query}`);
        const body = (await response.json()) as { data?: { result?: { values?: [number, string][] }[] } };
        const times = (body.data?.result ?? [])
          .flatMap((series) => series.values ?? [])
          .map(([t]) => t * 1000);
        return times.length > 0 ? Math.min(...times) : undefined;
      },
      logs: () => ({
        'kube-state-metrics': ksm.logs(),
        prometheus: prometheus.logs(),
        alertmanager: alertmanager.logs(),
      }),
      async stop() {
        for (const peer of started.reverse()) await peer.stop();
      },
    };
  } catch (error) {
    for (const peer of started.reverse()) await peer.stop();
    throw error;
  }
}
