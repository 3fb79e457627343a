/**
 * Safe on every path (issue #11), on a real API server and moto: the concurrency limit across nodes, a
 * deployment disarmed in the middle of a fence, the scheduled tick picking up a fence whose continuation was
 * lost, and a wrong AWS account failing closed.
 *
 * alertfence runs as the Node server wires itself (`buildNodeRuntime` + `serveApp`, configured from the
 * environment: kubeconfig of the alertfence ServiceAccount, the EC2 driver on moto), served on loopback and
 * reached over HTTP. What the cloud did is read from moto's own request recorder and DescribeInstances, never
 * from alertfence's journal.
 */
import type { Instance } from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NodeResult } from '../../../functions/fence/api.js';
import type { Handoff } from '../../../functions/fence/handoff.js';
import { type FenceJournal, journalLeaseName } from '../../../functions/fence/journal.js';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { createLogger } from '../../../functions/log.js';
import { buildNodeRuntime } from '../../../functions/runtimes/node/node-runtime.js';
import { serveApp } from '../../../functions/runtimes/node/serve.js';
import { freePort, waitUntil } from '../../peers/process.js';
import { JOURNAL_KEY, TOKEN } from '../../support/fence-wiring.js';
import { peekJournal } from '../../support/peek-journal.js';
import { alertPayload } from '../../support/world.js';
import { putNode, putPod, readNode, useControlPlane } from '../kube/cluster.js';
import { readInstance, runInstance, useMoto } from './moto-ec2.js';

const NAMESPACE = 'alertfence';
const CLUSTER = 'prod';
/** ALERTFENCE_LOCK_DURATION at its floor: the hold a lost continuation leaves is waited out in the test. */
const LOCK_DURATION_MS = 10_000;
const auth = { authorization: `Bearer ${TOKEN}` };

/** alertfence served on loopback; `handoffs` are the hand-overs it gave its continuation, in order. */
interface Alertfence {
  url: string;
  handoffs: Handoff[];
  logs: string[];
  post(path: string, body?: unknown): Promise<Response>;
  /** Stops as on SIGTERM: running fences save their step, then the listener closes. */
  stop(): Promise<void>;
}

interface AlertsAnswer {
  dryRun: boolean;
  results: NodeResult[];
}

describe('safe on every path, on a real API server and moto', () => {
  const suite = useControlPlane();
  const cloud = useMoto();
  const servers: Alertfence[] = [];

  beforeEach(async () => {
    // The SDK's default credential chain reads these, as on Lambda; STS (an assumed role) is moto too.
    vi.stubEnv('AWS_ACCESS_KEY_ID', cloud.moto.credentials.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', cloud.moto.credentials.secretAccessKey);
    vi.stubEnv('AWS_ENDPOINT_URL_STS', cloud.moto.endpoint);
  });

  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
    vi.unstubAllEnvs();
    // Each test starts from an empty cluster: no Nodes (the storm guard counts them), no journals, no slots.
    for (const node of (await suite.core.listNode()).items) {
      await suite.core.deleteNode({ name: node.metadata?.name ?? '' }).catch(() => {});
    }
    await suite.coordination.deleteCollectionNamespacedLease({ namespace: NAMESPACE });
    await suite.coordination.deleteCollectionNamespacedLease({ namespace: 'kube-node-lease' });
    await suite.core
      .deleteCollectionNamespacedPod({ namespace: 'apps', gracePeriodSeconds: 0 })
      .catch(() => {});
  });

  /**
   * Starts alertfence, armed unless `env` says otherwise. Its fences continue in process; with
   * `continuation: 'queued'` they go to a queue the test holds instead (as Lambda's and OpenFaaS' queues hold
   * them across a redeploy). Either way the test sees every hand-over.
   */
  async function startAlertfence(
    env: Record<string, string> = {},
    continuation: 'in-process' | 'queued' = 'in-process',
  ): Promise<Alertfence> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const handoffs: Handoff[] = [];
    const logs: string[] = [];
    const { app, fences } = buildNodeRuntime(
      {
        PORT: String(port),
        KUBECONFIG: suite.cluster.alertfenceKubeconfig,
        ALERTFENCE_TOKENS: TOKEN,
        ALERTFENCE_DRY_RUN: 'false',
        ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
        ALERTFENCE_DRIVERS: 'aws',
        ALERTFENCE_AWS_ENDPOINT: cloud.moto.endpoint,
        ALERTFENCE_AWS_CLUSTER_NAME: CLUSTER,
        AWS_REGION: cloud.moto.region,
        ALERTFENCE_LOCK_DURATION: `${LOCK_DURATION_MS / 1000}s`,
        ALERTFENCE_RELEASE_TIMEOUT: '5s',
        ...env,
      },
      { log: createLogger({ level: 'debug', write: (line) => logs.push(line) }) },
      {
        continuation: (inProcess) => ({
          async continue(given) {
            handoffs.push(...given);
            if (continuation === 'in-process') await inProcess.continue(given);
          },
          // A queue outlives the process; the in-process runtime takes nothing once it drains.
          accepting: () => continuation === 'queued' || inProcess.accepting(),
        }),
      },
    );
    const served = serveApp({ fetch: app.fetch, hostname: '127.0.0.1', port, fences });
    await waitUntil(async () => (await fetch(`${url}/healthz`)).ok, {
      timeoutMs: 10_000,
      what: `alertfence to listen on ${url}`,
    });
    const server: Alertfence = {
      url,
      handoffs,
      logs,
      post: (path, body) =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(body ?? {}),
        }),
      async stop() {
        const index = servers.indexOf(server);
        if (index >= 0) servers.splice(index, 1);
        await served.close(10_000);
      },
    };
    servers.push(server);
    return server;
  }

  /** An instance of the cluster, running on moto, and its Node: NotReady, its kubelet silent for an hour. */
  async function deadNode(name: string): Promise<Instance> {
    const instance = await runInstance(cloud.ec2, [
      { Key: `kubernetes.io/cluster/${CLUSTER}`, Value: 'owned' },
      { Key: 'Name', Value: name },
    ]);
    await putNode(suite, {
      name,
      ready: false,
      providerID: `aws:///${instance.Placement?.AvailabilityZone}/${instance.InstanceId}`,
    });
    return instance;
  }

  /** Three healthy nodes beside the dead one: one dead of four is within the default storm guard (30%). */
  async function healthyNodes(): Promise<void> {
    for (const name of ['healthy-1', 'healthy-2', 'healthy-3']) {
      const instance = await runInstance(cloud.ec2, [
        { Key: `kubernetes.io/cluster/${CLUSTER}`, Value: 'owned' },
      ]);
      await putNode(suite, {
        name,
        ready: true,
        providerID: `aws:///${instance.Placement?.AvailabilityZone}/${instance.InstanceId}`,
      });
    }
  }

  async function stateOf(instance: Instance): Promise<string | undefined> {
    return (await readInstance(cloud.ec2, instance.InstanceId ?? '')).State?.Name;
  }

  /** moto's record of the power calls that changed something (dry runs excluded), per instance, sorted. */
  async function powerCalls(action: 'StopInstances' | 'StartInstances'): Promise<string[]> {
    const calls = await cloud.moto.recordedCalls();
    return calls
      .filter((call) => call.action === action && !call.dryRun)
      .flatMap((call) => call.instanceIds)
      .sort();
  }

  async function journalOf(node: string) {
    const lease = await suite.kube.getLease(NAMESPACE, journalLeaseName(node));
    return { lease, journal: peekJournal(lease) };
  }

  async function waitForOutcome(node: string, status: FenceJournal['status']): Promise<FenceJournal> {
    return waitUntil(
      async () => {
        const { journal } = await journalOf(node);
        return journal?.status === status ? journal : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `the fence of ${node} to be ${status}` },
    );
  }

  /** Waits until the journal Lease's hold has lapsed (renewTime + leaseDurationSeconds), as read from the API. */
  async function waitOutHold(node: string): Promise<void> {
    await waitUntil(
      async () => {
        const { lease } = await journalOf(node);
        const renewed = lease?.spec?.renewTime ? new Date(String(lease.spec.renewTime)).getTime() : 0;
        const seconds = lease?.spec?.leaseDurationSeconds ?? 0;
        return Date.now() > renewed + seconds * 1000 + 250;
      },
      { timeoutMs: LOCK_DURATION_MS * 3, intervalMs: 250, what: `the hold on ${node}'s journal to lapse` },
    );
  }

  it('should hold ALERTFENCE_MAX_CONCURRENT_FENCES=2 against 5 concurrent webhooks for 5 dead nodes', async () => {
    // Prepare: five dead nodes, one notification each (the shipped Alertmanager route groups by node).
    const nodes = ['dead-1', 'dead-2', 'dead-3', 'dead-4', 'dead-5'];
    const instances = new Map<string, Instance>();
    for (const node of nodes) instances.set(node, await deadNode(node));
    const alertfence = await startAlertfence({
      ALERTFENCE_MAX_CONCURRENT_FENCES: '2',
      // Five of five down is a storm by default; the storm guard is not what this test is about.
      ALERTFENCE_MAX_UNHEALTHY: '100%',
    });
    await cloud.moto.startRecording();

    // Act
    const responses = await Promise.all(
      nodes.map((node) => alertfence.post('/v1/alerts', alertPayload([{ node }]))),
    );
    const results = (
      await Promise.all(responses.map(async (response) => ((await response.json()) as AlertsAnswer).results))
    ).flat();
    const accepted = results.filter((result) => result.outcome === 'accepted').map((result) => result.node);
    for (const node of accepted) await waitForOutcome(node, 'succeeded');

    // Assess: exactly two fences, the others refused with the reason, and two stops at the cloud.
    expect(responses.map((response) => response.status)).toEqual(Array(5).fill(202));
    expect(accepted).toHaveLength(2);
    const refused = results.filter((result) => result.outcome === 'refused');
    expect(refused).toHaveLength(3);
    for (const result of refused) {
      expect(result).toMatchObject({ reason: 'TooManyConcurrentFences' });
      expect(result.message).toMatch(/ALERTFENCE_MAX_CONCURRENT_FENCES is 2/);
    }
    const stopped = accepted.map((node) => instances.get(node)?.InstanceId ?? '').sort();
    expect(await powerCalls('StopInstances')).toEqual(stopped);
    for (const node of nodes) {
      const fenced = accepted.includes(node);
      expect(await stateOf(instances.get(node) as Instance), node).toBe('running');
      expect(await readNode(suite.core, node), node).toEqual(fenced ? undefined : expect.anything());
      expect((await journalOf(node)).journal, node).toEqual(fenced ? expect.anything() : undefined);
    }
  });

  it('should refuse the continuation of a deployment disarmed before power-off with 409, change nothing, and finish by the tick once re-armed', async () => {
    // Prepare: an armed alertfence accepts the fence; its continuation waits in the runtime's queue.
    await healthyNodes();
    const instance = await deadNode('disarm-1');
    await putPod(suite, 'disarm-1', 'db-0');
    await cloud.moto.startRecording();
    const armed = await startAlertfence({}, 'queued');
    const answer = (await (
      await armed.post('/v1/alerts', alertPayload([{ node: 'disarm-1' }]))
    ).json()) as AlertsAnswer;
    expect(answer.results[0]).toMatchObject({ outcome: 'accepted' });
    const [handoff] = armed.handoffs;
    await armed.stop();
    const before = await journalOf('disarm-1');

    // Act 1: redeployed disarmed, the queue delivers the continuation; then the tick runs.
    const disarmed = await startAlertfence({ ALERTFENCE_DRY_RUN: 'true' });
    const continued = await disarmed.post('/v1/fences/continue', handoff);
    const continuedBody = (await continued.json()) as {
      error: { code: string; details: { reason: string } };
    };
    await waitOutHold('disarm-1');
    const disarmedTick = await disarmed.post('/v1/tick');
    const disarmedTickBody = (await disarmedTick.json()) as AlertsAnswer;

    // Assess 1: refused, and the instance, the Node, its pod and the journal are as they were.
    expect(continued.status).toBe(409);
    expect(continuedBody.error).toMatchObject({ code: 'disarmed', details: { reason: 'Disarmed' } });
    expect(disarmedTickBody).toMatchObject({
      dryRun: true,
      results: [expect.objectContaining({ node: 'disarm-1', outcome: 'planned', reason: 'Resume' })],
    });
    expect(await stateOf(instance)).toBe('running');
    expect(await powerCalls('StopInstances')).toEqual([]);
    const node = await readNode(suite.core, 'disarm-1');
    expect(node?.spec?.taints ?? []).toEqual([]);
    expect((await suite.core.readNamespacedPod({ name: 'db-0', namespace: 'apps' })).metadata?.name).toBe(
      'db-0',
    );
    const after = await journalOf('disarm-1');
    expect(after.lease?.metadata?.resourceVersion).toBe(before.lease?.metadata?.resourceVersion);
    expect(after.journal).toMatchObject({ status: 'running', phase: 'Lock' });
    await disarmed.stop();

    // Act 2: armed again; the tick resumes the fence under the guards, and it runs to the end here.
    const rearmed = await startAlertfence();
    const tick = await rearmed.post('/v1/tick');
    const tickBody = (await tick.json()) as AlertsAnswer;
    const done = await waitForOutcome('disarm-1', 'succeeded');

    // Assess 2: one stop, one start, the Node deleted, the machine running again.
    expect(tick.status).toBe(200);
    expect(tickBody.results).toEqual([
      expect.objectContaining({ node: 'disarm-1', outcome: 'accepted', reason: 'Resume' }),
    ]);
    expect(done.phase).toBe('Done');
    expect(await powerCalls('StopInstances')).toEqual([instance.InstanceId]);
    expect(await powerCalls('StartInstances')).toEqual([instance.InstanceId]);
    expect(await readNode(suite.core, 'disarm-1')).toBeUndefined();
    expect(await stateOf(instance)).toBe('running');
  });

  it('should refuse the continuation of a deployment disarmed while Release waits with 409, release nothing more, and finish by the tick once re-armed', async () => {
    // Prepare: an armed alertfence whose continuations go through a queue (as OpenFaaS' gateway routes them).
    // The queue delivers the first one; that invocation runs the fence until Release waits for the node's pod
    // (nothing evicts it here), its time runs out, and it hands the fence over to the queue again.
    await healthyNodes();
    const instance = await deadNode('disarm-2');
    await putPod(suite, 'disarm-2', 'db-1');
    await cloud.moto.startRecording();
    const armed = await startAlertfence(
      { ALERTFENCE_RELEASE_TIMEOUT: '10m', ALERTFENCE_RUN_BUDGET: '10s' },
      'queued',
    );
    await armed.post('/v1/alerts', alertPayload([{ node: 'disarm-2' }]));
    const first = await armed.post('/v1/fences/continue', armed.handoffs[0]);
    const firstBody = (await first.json()) as { status: string };
    await armed.stop();
    // Its time ran out while Release waited: it handed the fence over again ('continue'), or, when the last
    // step was left too little time, stopped on a retryable failure that the queue answers by delivering the
    // same hand-over again ('retry'). Either way the last hand-over is the one the fence expects.
    const handoff = armed.handoffs.at(-1);
    const before = await journalOf('disarm-2');

    // Act 1: redeployed disarmed, the queue delivers that continuation.
    const disarmed = await startAlertfence({ ALERTFENCE_DRY_RUN: 'true' });
    const continued = await disarmed.post('/v1/fences/continue', handoff);
    const continuedBody = (await continued.json()) as { error: { code: string } };

    // Assess 1: refused; the machine stays off, the Node, its pod and the journal are as the stop left them.
    expect(['continue', 'retry']).toContain(firstBody.status);
    expect(armed.handoffs).toHaveLength(firstBody.status === 'continue' ? 2 : 1);
    expect(before.journal).toMatchObject({ status: 'running', phase: 'VerifyOff' });
    expect(before.journal?.release.outOfServiceTaintAt).toBeDefined();
    expect(continued.status).toBe(409);
    expect(continuedBody.error.code).toBe('disarmed');
    expect(await stateOf(instance)).toBe('stopped');
    expect(await powerCalls('StartInstances')).toEqual([]);
    expect((await readNode(suite.core, 'disarm-2'))?.spec?.taints?.map((taint) => taint.key)).toContain(
      'node.kubernetes.io/out-of-service',
    );
    expect((await suite.core.readNamespacedPod({ name: 'db-1', namespace: 'apps' })).metadata?.name).toBe(
      'db-1',
    );
    const after = await journalOf('disarm-2');
    expect(after.lease?.metadata?.resourceVersion).toBe(before.lease?.metadata?.resourceVersion);
    await disarmed.stop();

    // Act 2: armed again (a release timeout that has passed by now); the tick resumes it once the hold lapsed.
    const rearmed = await startAlertfence({ ALERTFENCE_RELEASE_TIMEOUT: '1s' });
    await waitOutHold('disarm-2');
    const tickBody = (await (await rearmed.post('/v1/tick')).json()) as AlertsAnswer;
    const done = await waitForOutcome('disarm-2', 'succeeded');

    // Assess 2: the pod forced out while the machine was off, the Node deleted, one stop and one start.
    expect(tickBody.results).toEqual([
      expect.objectContaining({ node: 'disarm-2', outcome: 'accepted', reason: 'Resume' }),
    ]);
    expect(done.phases.map((step) => step.phase)).toEqual([...PHASES]);
    expect(await powerCalls('StopInstances')).toEqual([instance.InstanceId]);
    expect(await powerCalls('StartInstances')).toEqual([instance.InstanceId]);
    expect(await readNode(suite.core, 'disarm-2')).toBeUndefined();
    expect(await stateOf(instance)).toBe('running');
  });

  it('should resume by the tick a fence whose continuation was dropped, once its hold has lapsed', async () => {
    // Prepare: the fence is accepted, then the process dies with its continuation.
    await healthyNodes();
    const instance = await deadNode('orphan-1');
    await cloud.moto.startRecording();
    const first = await startAlertfence({}, 'queued');
    const accepted = (await (
      await first.post('/v1/alerts', alertPayload([{ node: 'orphan-1' }]))
    ).json()) as AlertsAnswer;
    expect(accepted.results[0]).toMatchObject({ outcome: 'accepted' });
    first.handoffs.splice(0);
    await first.stop();
    const next = await startAlertfence();

    // Act: a tick while the hand-over's hold lasts, and one after it lapsed.
    const early = (await (await next.post('/v1/tick')).json()) as AlertsAnswer;
    await waitOutHold('orphan-1');
    const late = await next.post('/v1/tick');
    const lateBody = (await late.json()) as AlertsAnswer;
    const done = await waitForOutcome('orphan-1', 'succeeded');

    // Assess: the hold is respected, then the fence is resumed and ends with the machine running again.
    expect(early.results).toEqual([
      expect.objectContaining({ node: 'orphan-1', outcome: 'in-progress', reason: 'FenceInProgress' }),
    ]);
    expect(late.status).toBe(200);
    expect(lateBody.results).toEqual([
      expect.objectContaining({ node: 'orphan-1', outcome: 'accepted', reason: 'Resume' }),
    ]);
    expect(done.phases.map((step) => step.phase)).toEqual([...PHASES]);
    expect(await powerCalls('StopInstances')).toEqual([instance.InstanceId]);
    expect(await stateOf(instance)).toBe('running');
    expect(await readNode(suite.core, 'orphan-1')).toBeUndefined();
  });

  it('should refuse InstanceNotFound, naming the instance, when the role is in another account, and release nothing', async () => {
    // Prepare: the instance lives in moto's default account; alertfence assumes a role in 111111111111, where
    // DescribeInstances answers InvalidInstanceID.NotFound exactly as for an instance that ended.
    await healthyNodes();
    const instance = await deadNode('foreign-1');
    await putPod(suite, 'foreign-1', 'web-0');
    await cloud.moto.startRecording();
    const alertfence = await startAlertfence({
      ALERTFENCE_AWS_ROLE_ARN: 'arn:aws:iam::111111111111:role/alertfence',
    });

    // Act
    const response = await alertfence.post('/v1/alerts', alertPayload([{ node: 'foreign-1' }]));
    const body = (await response.json()) as AlertsAnswer;

    // Assess: refused with a reason that says what to check; the running machine keeps everything.
    expect(response.status).toBe(202);
    expect(body.results).toEqual([
      expect.objectContaining({ node: 'foreign-1', outcome: 'refused', reason: 'InstanceNotFound' }),
    ]);
    expect(body.results[0]?.message).toContain(instance.InstanceId ?? '');
    expect(body.results[0]?.message).toMatch(/wrong account, role or region/);
    expect(await stateOf(instance)).toBe('running');
    const calls = await cloud.moto.recordedCalls();
    expect(calls.filter((call) => call.action !== 'DescribeInstances')).toEqual([
      expect.objectContaining({ action: 'AssumeRole' }),
    ]);
    const node = await readNode(suite.core, 'foreign-1');
    expect(node?.spec?.taints ?? []).toEqual([]);
    expect((await suite.core.readNamespacedPod({ name: 'web-0', namespace: 'apps' })).metadata?.name).toBe(
      'web-0',
    );
    expect((await journalOf('foreign-1')).lease).toBeUndefined();
  });
});
