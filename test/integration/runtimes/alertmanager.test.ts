import { describe, expect, it } from 'vitest';
import { startAlertmanager } from '../../peers/alertmanager.js';
import { waitUntil } from '../../peers/process.js';
import { seedFakeCluster } from './fixtures/fake-cluster.js';
import { type Exchange, startAppServer } from './support/app-server.js';
import { JOURNAL_KEY, TOKEN, WRONG_TOKEN } from './support/env.js';
import { useSetup } from './support/setup.js';

interface Payload {
  status: 'firing' | 'resolved';
  alerts: Array<{ status: string; labels: Record<string, string> }>;
}
interface Answer {
  results: Array<{ node: string; outcome: string; reason: string }>;
}

const notReady = (node: string) => ({
  alertname: 'KubeNodeNotReady',
  node,
  job: 'kube-state-metrics',
  severity: 'warning',
});
const unreachable = (node: string) => ({
  alertname: 'KubeNodeUnreachable',
  node,
  job: 'kube-state-metrics',
  severity: 'warning',
});

/** The per-node outcome of a notification, e.g. `{ 'worker-1': 'accepted/Accepted' }`. */
const outcomes = (exchange: Exchange | undefined) =>
  Object.fromEntries(
    ((exchange?.response as Answer | undefined)?.results ?? []).map((result) => [
      result.node,
      `${result.outcome}/${result.reason}`,
    ]),
  );

describe('Alertmanager notifying the local server', () => {
  const setup = useSetup(
    async () => {
      const { kube, driver } = seedFakeCluster(400, {
        dead: ['worker-1', 'worker-2'],
        healthy: ['worker-3', 'worker-4', 'worker-5'],
      });
      const server = await startAppServer({
        env: {
          ALERTFENCE_TOKENS: TOKEN,
          ALERTFENCE_DRY_RUN: 'false',
          ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
          ALERTFENCE_DRIVERS: 'simulated',
          ALERTFENCE_MAX_CONCURRENT_FENCES: '2',
          // Two dead of five, in one notification, is the grouped case under test, not a storm (the default,
          // 30% of five rounded down, allows one).
          ALERTFENCE_MAX_UNHEALTHY: '2',
        },
        kube,
        drivers: [driver],
      });
      const alertmanager = await startAlertmanager({
        webhookUrl: `${server.url}/v1/alerts`,
        bearerToken: TOKEN,
        // Group by nothing: one notification carries every node, the grouped case; repeats come fast.
        route: { groupBy: [], groupWait: '1s', groupInterval: '2s', repeatInterval: '6s' },
      });
      return { kube, driver, server, alertmanager };
    },
    async ({ server, alertmanager }) => {
      await alertmanager.stop();
      await server.stop();
    },
  );

  it('should fence each dead node of a grouped notification once, skip repeats and resolved alerts, and fence nothing twice', async () => {
    const { kube, driver, server, alertmanager } = setup();

    // Act 1: worker-1 is named by two alerts; worker-3 is healthy.
    await alertmanager.postAlerts([
      { labels: notReady('worker-1') },
      { labels: unreachable('worker-1') },
      { labels: notReady('worker-2') },
      { labels: notReady('worker-3') },
    ]);
    const first = await waitUntil(() => server.exchanges[0], {
      timeoutMs: 20_000,
      what: 'the first notification',
    });

    // Assess 1: one real Alertmanager request with the token from its credentials_file, four alerts.
    expect(first.userAgent).toMatch(/^Alertmanager\//);
    expect(first.authorization).toBe(`Bearer ${TOKEN}`);
    expect((first.request as Payload).status).toBe('firing');
    expect((first.request as Payload).alerts).toHaveLength(4);
    expect(first.status).toBe(202);
    expect(outcomes(first)).toEqual({
      'worker-1': 'accepted/Accepted',
      'worker-2': 'accepted/Accepted',
      'worker-3': 'refused/NodeReady',
    });

    // Act 2: the repeat of the same group.
    const repeat = await waitUntil(() => server.exchanges[1], {
      timeoutMs: 20_000,
      what: 'the repeated notification',
    });

    // Assess 2: neither node is started again (still running, or done and cooling down).
    expect(repeat.status).toBe(202);
    for (const node of ['worker-1', 'worker-2']) {
      expect(outcomes(repeat)[node]).toMatch(
        /^(in-progress\/FenceInProgress|skipped\/Cooldown|not-found\/NodeNotFound)$/,
      );
    }
    const journals = await waitUntil(
      async () => {
        const all = await Promise.all(
          ['worker-1', 'worker-2'].map((node) => server.runtime.assembly.service.journal(node)),
        );
        return all.every((journal) => journal?.status === 'succeeded') ? all : undefined;
      },
      { timeoutMs: 30_000, what: 'both fences to succeed' },
    );
    expect(journals.map((journal) => journal?.phase)).toEqual(['Done', 'Done']);

    // Act 3: worker-1 recovers (both its alerts resolve), then everything does.
    const before = server.exchanges.length;
    await alertmanager.resolve(notReady('worker-1'));
    await alertmanager.resolve(unreachable('worker-1'));
    const partly = await waitUntil(
      () =>
        server.exchanges
          .slice(before)
          .find((exchange) =>
            (exchange.request as Payload).alerts.some(
              (alert) => alert.labels.node === 'worker-1' && alert.status === 'resolved',
            ),
          ),
      { timeoutMs: 20_000, what: "a notification with worker-1's alerts resolved" },
    );
    await alertmanager.resolve(notReady('worker-2'));
    await alertmanager.resolve(notReady('worker-3'));
    const resolved = await waitUntil(
      () => server.exchanges.find((exchange) => (exchange.request as Payload).status === 'resolved'),
      { timeoutMs: 20_000, what: 'the resolved notification' },
    );

    // Assess 3: a resolved alert never starts a fence.
    expect(outcomes(partly)['worker-1']).toBe('skipped/AlertResolved');
    expect(resolved.status).toBe(202);
    // Alertmanager sends a resolved alert once: worker-1's went out with the partly resolved group.
    expect(outcomes(resolved)).toEqual({
      'worker-2': 'skipped/AlertResolved',
      'worker-3': 'skipped/AlertResolved',
    });

    // Assess: nothing was fenced twice, whatever came in between.
    const offs = driver.calls.filter((call) => call.method === 'powerOff').map((call) => call.id);
    expect(offs.sort()).toEqual(['i-worker-1', 'i-worker-2']);
    expect(
      server.exchanges
        .flatMap((exchange) => (exchange.response as Answer).results)
        .filter((result) => result.outcome === 'accepted'),
    ).toHaveLength(2);
    expect([...kube.nodes.keys()].sort()).toEqual(['worker-3', 'worker-4', 'worker-5']);
  });
});

describe('Alertmanager with a wrong token', () => {
  it("should be rejected with 401, which the server logs and Alertmanager reports as a failed notification it won't retry", async () => {
    // Arrange
    const { kube, driver } = seedFakeCluster(400);
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
    const alertmanager = await startAlertmanager({
      webhookUrl: `${server.url}/v1/alerts`,
      bearerToken: WRONG_TOKEN,
      route: { groupWait: '1s', groupInterval: '2s', repeatInterval: '1h' },
    });
    try {
      // Act
      await alertmanager.postAlerts([{ labels: notReady('worker-1') }]);
      const rejected = await waitUntil(() => server.exchanges[0], {
        timeoutMs: 20_000,
        what: 'the notification',
      });
      await waitUntil(() => /Notify for alerts failed|notify retry canceled/.test(alertmanager.logs()), {
        timeoutMs: 20_000,
        what: "Alertmanager's failure log",
      });

      // Assess
      expect(rejected.status).toBe(401);
      expect(rejected.authorization).toBe(`Bearer ${WRONG_TOKEN}`);
      expect(server.logs).toContainEqual(
        expect.objectContaining({ msg: 'request', path: '/v1/alerts', status: 401 }),
      );
      expect(alertmanager.logs()).toMatch(/401/);
      expect(driver.calls).toEqual([]);
      expect(kube.mutations()).toEqual([]);
    } finally {
      await alertmanager.stop();
      await server.stop();
    }
  });
});
