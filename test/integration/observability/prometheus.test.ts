/**
 * alertfence and Prometheus, for real: the rules in infra/prometheus pass `promtool test rules`, and a real
 * Prometheus, configured from infra/prometheus/scrape-config.example.yml, scrapes a real alertfence Node server
 * with the bearer token while a fence runs, then answers queries of alertfence's metrics and evaluates the
 * rules against them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { waitUntil } from '../../peers/process.js';
import { type PrometheusServer, promtool, startPrometheus } from '../../peers/prometheus.js';
import { alertPayload } from '../../support/world.js';
import { seedFakeCluster } from '../runtimes/fixtures/fake-cluster.js';
import { startAppServer } from '../runtimes/support/app-server.js';
import { TOKEN } from '../runtimes/support/env.js';
import { useSetup } from '../runtimes/support/setup.js';

const INFRA = join(import.meta.dirname, '../../../infra/prometheus');
const JOURNAL_KEY = 'prometheus-test-journal-key-0123456789abcdef';

/** A Prometheus instant query's vector: each series' labels and value. */
async function query(prometheus: PrometheusServer, expr: string) {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
  return body.data.result.map((series) => ({ labels: series.metric, value: Number(series.value[1]) }));
}

/** The value of a query that yields one series, once it does. */
async function queried(prometheus: PrometheusServer, expr: string, what: string): Promise<number> {
  const [series] = await waitUntil(
    async () => {
      const result = await query(prometheus, expr);
      return result.length === 1 ? result : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250, what: `Prometheus to answer ${expr} (${what})` },
  );
  return series?.value ?? Number.NaN;
}

interface ScrapeConfig {
  rule_files: string[];
  global?: Record<string, string>;
  scrape_configs: Array<{
    job_name: string;
    scrape_interval?: string;
    authorization?: { type: string; credentials_file: string };
    static_configs: Array<{ targets: string[] }>;
  }>;
}

/**
 * The shipped example, pointed at the server under test: its target, a token file beside the config, scrapes
 * and rule evaluations every second. A second job scrapes without a token, to see the refusal.
 */
async function prometheusConfig(target: string): Promise<string> {
  const config = parse(await readFile(join(INFRA, 'scrape-config.example.yml'), 'utf8')) as ScrapeConfig;
  config.global = { scrape_interval: '1s', evaluation_interval: '1s' };
  const [job] = config.scrape_configs;
  if (!job?.authorization) throw new Error('the example scrape config has no alertfence job with a token');
  job.scrape_interval = '1s';
  job.authorization.credentials_file = 'alertfence-token';
  job.static_configs = [{ targets: [target] }];
  config.scrape_configs.push({
    job_name: 'alertfence-without-token',
    scrape_interval: '1s',
    static_configs: [{ targets: [target] }],
  });
  return stringify(config);
}

describe('infra/prometheus', () => {
  it('should pass promtool test rules, every rules test file', async () => {
    // Prepare
    const tests = (await readdir(INFRA)).filter((name) => name.endsWith('.test.yml')).sort();

    // Act
    const results = await Promise.all(tests.map((file) => promtool(['test', 'rules', file], { cwd: INFRA })));

    // Assess
    expect(tests).toEqual(['alertfence-health-rules.test.yml', 'alertfence-rules.test.yml']);
    for (const [index, result] of results.entries()) {
      expect(result.code, `${tests[index]}:\n${result.stdout}${result.stderr}`).toBe(0);
    }
  });

  it('should pass promtool check rules for the health rules', async () => {
    // Act
    const result = await promtool(['check', 'rules', join(INFRA, 'alertfence-health-rules.yml')]);

    // Assess
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 10 rules found');
  });

  it('should have a scrape config example that promtool accepts', async () => {
    // Act
    const result = await promtool(['check', 'config', '--syntax-only', 'scrape-config.example.yml'], {
      cwd: INFRA,
    });

    // Assess
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  });
});

describe('Prometheus scraping the Node server', () => {
  const setup = useSetup(
    async () => {
      const { kube, driver } = seedFakeCluster(300);
      const server = await startAppServer({
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          ALERTFENCE_DRIVERS: 'simulated',
        },
        kube,
        drivers: [driver],
      });
      const prometheus = await startPrometheus({
        configYaml: await prometheusConfig(new URL(server.url).host),
        files: {
          'alertfence-token': `${TOKEN}\n`,
          'alertfence-rules.yml': await readFile(join(INFRA, 'alertfence-rules.yml'), 'utf8'),
          'alertfence-health-rules.yml': await readFile(join(INFRA, 'alertfence-health-rules.yml'), 'utf8'),
        },
      }).catch(async (error: unknown) => {
        await server.stop();
        throw error;
      });
      return { server, prometheus };
    },
    async ({ server, prometheus }) => {
      await prometheus.stop();
      await server.stop();
    },
  );

  it('should query the metrics of a fence it scraped with the bearer token', async () => {
    const { server, prometheus } = setup();

    // Act: a real fence of the dead worker-1, from an alert.
    const posted = await fetch(`${server.url}/v1/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(alertPayload([{ node: 'worker-1' }])),
    });
    expect(posted.status).toBe(202);
    await waitUntil(
      async () => (await server.runtime.assembly.service.journal('worker-1'))?.status === 'succeeded',
      { timeoutMs: 30_000, what: "worker-1's fence to succeed" },
    );

    // Assess: what Prometheus scraped, through its HTTP API.
    expect(await queried(prometheus, 'up{job="alertfence"}', 'the scrape with the token')).toBe(1);
    expect(
      await queried(
        prometheus,
        'alertfence_fences_total{job="alertfence",outcome="succeeded",driver="simulated"} == 1',
        'the fence counted',
      ),
    ).toBe(1);
    expect(
      await queried(
        prometheus,
        'alertfence_decisions_total{job="alertfence",outcome="accepted",reason="Accepted",trigger="alert"}',
        'the decision',
      ),
    ).toBe(1);
    expect(
      await queried(prometheus, 'alertfence_fence_duration_seconds_count{job="alertfence"}', 'the duration'),
    ).toBe(1);
    for (const phase of ['PowerOff', 'VerifyOff', 'Release', 'DeleteNode', 'PowerOn']) {
      expect(
        await queried(
          prometheus,
          `alertfence_phase_duration_seconds_count{job="alertfence",phase="${phase}"}`,
          phase,
        ),
      ).toBe(1);
    }
    expect(
      await queried(
        prometheus,
        'alertfence_driver_calls_total{job="alertfence",driver="simulated",operation="power_off",result="ok"}',
        'the power-off call',
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await queried(
        prometheus,
        'time() - alertfence_last_success_timestamp_seconds{job="alertfence"} < 120',
        'the last success, read from the journals at scrape time',
      ),
    ).toBeGreaterThanOrEqual(0);
    expect(await queried(prometheus, 'alertfence_state_up{job="alertfence"}', 'the state read')).toBe(1);
    expect(
      await queried(prometheus, 'alertfence_fences_running{job="alertfence"} == 0', 'no fence left'),
    ).toBe(0);
    expect(
      await queried(prometheus, 'alertfence_build_info{job="alertfence",runtime="node"}', 'the build'),
    ).toBe(1);
  });

  it('should be refused without the token, and say why', async () => {
    const { prometheus } = setup();

    // Act
    const up = await queried(prometheus, 'up{job="alertfence-without-token"}', 'the scrape without a token');
    const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
      data: { activeTargets: Array<{ labels: Record<string, string>; lastError: string; health: string }> };
    };

    // Assess
    expect(up).toBe(0);
    const refused = targets.data.activeTargets.find(
      (target) => target.labels.job === 'alertfence-without-token',
    );
    expect(refused?.health).toBe('down');
    expect(refused?.lastError).toMatch(/401/);
  });

  it("should evaluate alertfence's rules against the real metrics without an error, none of them firing", async () => {
    const { prometheus } = setup();

    // Act: wait for the rule groups to have been evaluated at least once after a scrape.
    const groups = await waitUntil(
      async () => {
        const response = await fetch(`${prometheus.url}/api/v1/rules`);
        const body = (await response.json()) as {
          data: {
            groups: Array<{
              name: string;
              rules: Array<{ name: string; health: string; lastError?: string; state?: string }>;
            }>;
          };
        };
        const health = body.data.groups.find((group) => group.name === 'alertfence-health');
        return health?.rules.every((rule) => rule.health !== 'unknown') ? body.data.groups : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the alertfence-health rules to be evaluated' },
    );

    // Assess
    expect(groups.map((group) => group.name).sort()).toEqual([
      'alertfence',
      'alertfence-health',
      'kubernetes-system-kubelet',
    ]);
    const rules = groups.flatMap((group) => group.rules);
    expect(rules.filter((rule) => rule.health !== 'ok')).toEqual([]);
    const firing = await query(prometheus, 'ALERTS{alertname=~"Alertfence.*",alertstate="firing"}');
    expect(firing).toEqual([]);
  });
});
