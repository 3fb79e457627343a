import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type CommandResult,
  freePort,
  INSTALL_HINT,
  requirePeer,
  runCommand,
  startProcess,
  tempDir,
} from './process.js';

/** Debian's Prometheus server (package `prometheus`, 2.42 on bookworm). */
export const PROMETHEUS_BIN = '/usr/bin/prometheus';
/** Prometheus's CLI, from the same package: `check rules`, `test rules`, `check config`. */
export const PROMTOOL_BIN = '/usr/bin/promtool';

/**
 * Runs `promtool` with `args`. Does not throw on a failed check: look at `code`.
 *
 * @example
 * const result = await promtool(['test', 'rules', 'infra/rules.test.yml']);
 * expect(result.code, result.stdout + result.stderr).toBe(0);
 */
export async function promtool(
  args: readonly string[],
  options: { cwd?: string } = {},
): Promise<CommandResult> {
  const command = requirePeer(PROMTOOL_BIN, INSTALL_HINT);
  return runCommand(command, args, { check: false, ...options });
}

export interface PrometheusOptions {
  /** `prometheus.yml`; relative paths in it (rule_files, …) resolve against the temp dir. */
  configYaml: string;
  /** Extra files written next to the config, keyed by relative path, e.g. `{ 'rules.yml': '…' }`. */
  files?: Record<string, string>;
  /** Appended to the command line. */
  extraArgs?: readonly string[];
}

/** A running Prometheus. */
export interface PrometheusServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  configFile: string;
  /** Re-reads the configuration (`POST /-/reload`; the lifecycle API is enabled). */
  reload(): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

/**
 * Starts Prometheus on a free loopback port with a fresh TSDB in a temporary directory.
 *
 * @example
 * const prom = await startPrometheus({
 *   configYaml: `rule_files: [rules.yml]\nalerting: {alertmanagers: [{static_configs: [{targets: ['${amHost}']}]}]}\n`,
 *   files: { 'rules.yml': rules },
 * });
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const command = requirePeer(PROMETHEUS_BIN, INSTALL_HINT);
  const dir = await tempDir('alertfence-prometheus');
  try {
    const configFile = join(dir.path, 'prometheus.yml');
    await writeFile(configFile, options.configYaml);
    for (const [relativePath, content] of Object.entries(options.files ?? {})) {
      const path = join(dir.path, relativePath);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    }

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const peer = await startProcess({
      name: 'prometheus',
      command,
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir.path, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.external-url=${url}`,
        '--web.enable-lifecycle',
        ...(options.extraArgs ?? []),
      ],
      cwd: dir.path,
      ready: `${url}/-/ready`,
    });

    return {
      url,
      configFile,
      async reload() {
        const response = await fetch(`${url}/-/reload`, { method: 'POST' });
        const text = await response.text();
        if (!response.ok) throw new Error(`Prometheus reload failed: ${response.status} ${text}`);
      },
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
