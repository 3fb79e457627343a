import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CommandResult,
  freePort,
  INSTALL_HINT,
  requirePeer,
  runCommand,
  startProcess,
  tempDir,
} from './process.js';

/** Debian's Alertmanager binary (package `prometheus-alertmanager`, 0.25 on bookworm). */
export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';
/** Alertmanager's CLI, from the same package. */
export const AMTOOL_BIN = '/usr/bin/amtool';

/** Grouping and timing of the single route; the defaults suit fast tests. */
export interface AlertmanagerRoute {
  /** Default `1s`. */
  groupWait?: string;
  /** Default `2s`. */
  groupInterval?: string;
  /** Default `1h`, so a group is not re-sent during a test unless asked. */
  repeatInterval?: string;
  /** Default `['alertname', 'node']`, like the kube-prometheus node alerts. */
  groupBy?: readonly string[];
}

/** The bearer token of the webhook receiver: one of the two, or neither. */
interface AlertmanagerCredentials {
  /** Written to a file in the temp dir and sent as `Authorization: Bearer …` via `credentials_file`. */
  bearerToken?: string;
  /** An existing file with the bearer token (alternative to `bearerToken`). */
  credentialsFile?: string;
}

export type AlertmanagerOptions = AlertmanagerCredentials &
  (
    | {
        /** Where the generated configuration's webhook receiver posts. */
        webhookUrl: string;
        route?: AlertmanagerRoute;
        configYaml?: never;
      }
    | {
        /**
         * A whole configuration instead of the generated one, or a function that renders it given the path of
         * the credentials file (`bearerToken`'s file, or `credentialsFile`; undefined when neither is given).
         */
        configYaml: string | ((credentialsFile: string | undefined) => string | Promise<string>);
        webhookUrl?: never;
        route?: never;
      }
  );

/** An alert as posted to `POST /api/v2/alerts`; times are RFC 3339 strings. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

/** A running Alertmanager with one webhook receiver. */
export interface AlertmanagerServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** The generated configuration file. */
  configFile: string;
  postAlerts(alerts: readonly PostableAlert[]): Promise<void>;
  /** Resolves the alert with exactly these labels (re-posts it with `endsAt` = now). */
  resolve(labels: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

/**
 * Renders an Alertmanager configuration with one route to one webhook receiver (`send_resolved: true`).
 * JSON is valid YAML, so the result is JSON text.
 */
export function alertmanagerConfig(options: {
  webhookUrl: string;
  credentialsFile?: string;
  route?: AlertmanagerRoute;
}): string {
  const route = options.route ?? {};
  const webhook: Record<string, unknown> = { url: options.webhookUrl, send_resolved: true };
  if (options.credentialsFile !== undefined) {
    webhook.http_config = { authorization: { type: 'Bearer', credentials_file: options.credentialsFile } };
  }
  const config = {
    route: {
      receiver: 'alertfence',
      group_by: route.groupBy ?? ['alertname', 'node'],
      group_wait: route.groupWait ?? '1s',
      group_interval: route.groupInterval ?? '2s',
      repeat_interval: route.repeatInterval ?? '1h',
    },
    receivers: [{ name: 'alertfence', webhook_configs: [webhook] }],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * Runs `amtool check-config` on a configuration file. Does not throw on an invalid file: check `code`.
 *
 * @example
 * const result = await checkAlertmanagerConfig('infra/alertmanager.yml');
 * expect(result.code, result.stdout + result.stderr).toBe(0);
 */
export async function checkAlertmanagerConfig(file: string): Promise<CommandResult> {
  const amtool = requirePeer(AMTOOL_BIN, INSTALL_HINT);
  return runCommand(amtool, ['check-config', file], { check: false });
}

/**
 * Starts Alertmanager (no clustering) on a free loopback port with a webhook receiver for `webhookUrl`, or
 * with the configuration `configYaml`.
 *
 * @example
 * const am = await startAlertmanager({ webhookUrl: `${receiverUrl}/webhook`, bearerToken: 's3cr3t' });
 * await am.postAlerts([{ labels: { alertname: 'KubeNodeNotReady', node: 'worker-1' } }]);
 */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<AlertmanagerServer> {
  if (options.bearerToken !== undefined && options.credentialsFile !== undefined) {
    throw new Error('startAlertmanager: pass bearerToken or credentialsFile, not both');
  }
  const command = requirePeer(ALERTMANAGER_BIN, INSTALL_HINT);
  const dir = await tempDir('alertfence-alertmanager');
  try {
    let credentialsFile = options.credentialsFile;
    if (options.bearerToken !== undefined) {
      credentialsFile = join(dir.path, 'bearer-token');
      await writeFile(credentialsFile, options.bearerToken, { mode: 0o600 });
    }
    const configFile = join(dir.path, 'alertmanager.yml');
    const { configYaml } = options;
    await writeFile(
      configFile,
      configYaml === undefined
        ? alertmanagerConfig({
            webhookUrl: options.webhookUrl,
            ...(credentialsFile === undefined ? {} : { credentialsFile }),
            ...(options.route === undefined ? {} : { route: options.route }),
          })
        : typeof configYaml === 'string'
          ? configYaml
          : await configYaml(credentialsFile),
    );

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const peer = await startProcess({
      name: 'alertmanager',
      command,
      args: [
        `--config.file=${configFile}`,
        `--storage.path=${join(dir.path, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.external-url=${url}`,
        // An empty address disables the gossip cluster, which would otherwise bind 0.0.0.0:9094.
        '--cluster.listen-address=',
        '--log.level=debug',
      ],
      cwd: dir.path,
      ready: `${url}/-/ready`,
    });

    const postAlerts = async (alerts: readonly PostableAlert[]): Promise<void> => {
      const response = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`Alertmanager rejected alerts: ${response.status} ${text}`);
    };

    return {
      url,
      configFile,
      postAlerts,
      // An alert whose endsAt has passed is resolved; Alertmanager merges it with the firing one by labels.
      resolve: (labels) => postAlerts([{ labels, endsAt: new Date().toISOString() }]),
      async stop() {
        await peer.stop();
        await dir.remove();
      },
      logs: () => peer.logs(),
    };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}
