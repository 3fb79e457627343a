/**
 * The scenarios of "Safe on every path": each one a way a hostile or unlucky world broke a safety invariant
 * off the main path (a resume, a continuation, a takeover, the world changing mid-fence). Each test is named
 * after its scenario and failed before its fix.
 */
import { DescribeInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import type { NodeResult } from '../../../functions/fence/api.js';
import { recordOf } from '../../../functions/fence/journal.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import { CrashError, CrashingKube } from '../../fakes/crashing-kube.js';
import { FakeKube, RELEASE_CALLS } from '../../fakes/kube.js';
import { wireFence } from '../../support/fence-wiring.js';
import { peekJournal } from '../../support/peek-journal.js';
import {
  alertPayload,
  createWorld,
  kubeletLease,
  loseFenceAfter,
  makeNode,
  putNodes,
  putStatefulWorkload,
  TOKEN,
  type World,
} from '../../support/world.js';
import { awsError, setup as ec2Setup, INSTANCE_ID } from '../aws-ec2/helpers.js';

type Results = { results: NodeResult[] };

const count = (world: World, method: string) =>
  world.driver.calls.filter((call) => call.method === method).length;

/** Every release action taken in the cluster or the cloud: taint, deletions, detach. */
function releaseCalls(world: Pick<World, 'kube'> & { driver?: World['driver'] }): string[] {
  const kube = world.kube.calls
    .filter(
      (call) =>
        RELEASE_CALLS.has(call.method) ||
        (call.method === 'addTaint' && call.target.includes(KUBE_NAMES.outOfServiceTaintKey)),
    )
    .map((call) => `${call.method}:${call.target}`);
  const cloud = (world.driver?.calls ?? [])
    .filter((call) => call.method === 'detachVolume')
    .map((call) => `detach:${call.volumeId}`);
  return [...kube, ...cloud];
}

/** Rewrites the journal kept in a node's Lease, as anyone allowed to patch Leases in the namespace could. */
function editJournal(kube: FakeKube, node: string, edit: (journal: Record<string, unknown>) => void): void {
  const key = `alertfence/${node}`;
  const lease = structuredClone(kube.leases.get(key));
  if (!lease) throw new Error(`no journal Lease for ${node}`);
  const journal = peekJournal(lease) as unknown as Record<string, unknown>;
  edit(journal);
  lease.metadata = {
    ...lease.metadata,
    annotations: { ...lease.metadata?.annotations, [KUBE_NAMES.journalAnnotation]: JSON.stringify(journal) },
  };
  lease.spec = { ...lease.spec, holderIdentity: '' };
  kube.putLease('alertfence', lease);
}

/**
 * A cloud that stops answering reads once the fence has started (the first read is the start's), so the fence
 * stops right before its power-off; by default with an error a retry may overcome, so it stays resumable.
 */
function cloudOutageAfterStart(retryable = true) {
  let reads = 0;
  const outage = {
    down: true,
    onCall: (call: { method: string }) => {
      if (call.method === 'describe' && ++reads > 1 && outage.down) {
        throw new DriverError('RequestLimitExceeded: ec2:DescribeInstances', { retryable });
      }
    },
  };
  return outage;
}

describe('Safe on every path: "not found" reads as off', () => {
  it('"not found" reads as off: should release nothing when the cloud does not know the instance (wrong account, region or providerID)', async () => {
    // Prepare: the node's providerID names an instance this account cannot see, as with a wrong role or region.
    const { ec2, driver } = ec2Setup({ region: 'eu-west-1' });
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    ec2.on(StopInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    const kube = new FakeKube();
    const now = Date.now();
    putNodes(
      kube,
      [
        { name: 'worker-1', ready: false, providerID: `aws:///eu-west-1a/${INSTANCE_ID}` },
        { name: 'worker-2', providerID: 'aws:///eu-west-1a/i-0aaaaaaaaaaaaaaa2' },
        { name: 'worker-3', providerID: 'aws:///eu-west-1a/i-0aaaaaaaaaaaaaaa3' },
      ],
      now,
    );
    putStatefulWorkload(kube, 'worker-1', 'pv-data', 'vol-0aaaaaaaaaaaaaaaa');
    const wired = wireFence({
      kube,
      drivers: [driver],
      env: { ALERTFENCE_DRIVERS: 'aws', ALERTFENCE_MAX_UNHEALTHY: '50%' },
    });

    // Act
    const body = (await (
      await wired.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;
    await wired.drain(20);

    // Assess: nothing released, and the answer says why.
    expect(releaseCalls({ kube })).toEqual([]);
    expect(kube.nodes.has('worker-1')).toBe(true);
    expect(body.results[0]?.outcome).toBe('refused');
    expect(body.results[0]?.message).toMatch(/not found|does not exist|not visible/i);
  });
});

describe('Safe on every path: "not found" after a power-on by someone else', () => {
  it('"not found" reads as off: should release nothing when the instance turns "not found" after it was seen running again', async () => {
    // Prepare (found by the model test): the fence stops after its power-off request; someone powers the machine
    // on; then the cloud stops showing it (the deployment's role was changed to another account).
    const world = createWorld();
    let hide = false;
    world.kube.beforeCall = (call) => {
      if (call.method === 'replaceLease' && hide) world.driver.hidden.add('i-worker-1');
    };
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const machine = world.driver.instances.get('i-worker-1');
    // The continuation runs: Mark, PowerOff; right after the power-off request, the machine is started by
    // someone, and from the next journal write on it is invisible to alertfence's credentials.
    const onPowerOff = world.driver.powerOff.bind(world.driver);
    world.driver.powerOff = async (ref, options) => {
      await onPowerOff(ref, options);
      if (machine) {
        machine.state = 'running';
        machine.settlesAt = 0;
      }
      hide = true;
    };

    // Act
    await world.drain();

    // Assess
    expect(machine?.state).toBe('running');
    expect(releaseCalls(world)).toEqual([]);
    expect(world.kube.nodes.has('worker-1')).toBe(true);
  });
});

describe('Safe on every path: one power-off per fence', () => {
  /** A world whose process dies right after the cloud takes worker-1's stop request, before the journal says so. */
  function crashAfterStopRequest() {
    const kube = new CrashingKube();
    const world = createWorld({
      kube,
      driverOptions: { onCall: (call) => call.method === 'powerOff' && !kube.crashed && kube.die() },
    });
    return { world, kube };
  }

  it('one power-off per fence: should not stop the machine again when someone started it after a stop the journal never recorded', async () => {
    // Prepare (found by the model test): the stop is sent, the process dies before recording PowerOff, the
    // machine stops, and someone starts it again before the fence is resumed.
    const { world, kube } = crashAfterStopRequest();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain().catch(() => {});
    kube.restart();
    world.continuation.handoffs.length = 0;
    world.clock.advance(world.config.lockDurationMs + 1_000);
    const machine = world.driver.instances.get('i-worker-1');
    expect(machine?.state).toBe('stopping');
    if (machine) {
      machine.state = 'running';
      machine.settlesAt = 0;
    }

    // Act: the alert repeats.
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess: no second stop in the same fence; it waits for an operator, and says why.
    expect(count(world, 'powerOff')).toBe(1);
    expect(machine?.state).toBe('running');
    const journal = await world.service.journal('worker-1');
    expect(journal).toMatchObject({ status: 'failed', phase: 'Mark' });
    expect(journal?.lastError?.message).toMatch(/power-off .* was requested .* running/);
    // The cap counts it: the machine was powered off once by this fence.
    expect(journal && recordOf(journal).poweredOff).toBe(true);
    expect(releaseCalls(world).filter((call) => !call.startsWith('addTaint'))).toEqual([]);
  });

  it('one power-off per fence: should wait for an operator, not guess, when the process died between the record and the request', async () => {
    // Prepare: the journal says the stop was asked for, but the process died before the request left.
    const kube = new CrashingKube();
    const world = createWorld({
      kube,
      driverOptions: {
        onCall: (call) => {
          if (call.method !== 'powerOff' || kube.crashed) return;
          kube.die();
          throw new CrashError('the process died before the request left');
        },
      },
    });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain().catch(() => {});
    kube.restart();
    world.continuation.handoffs.length = 0;
    world.clock.advance(world.config.lockDurationMs + 1_000);

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess: fails closed; the cloud's record cannot tell this from a stop undone by someone.
    expect(count(world, 'powerOff')).toBe(0);
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('running');
    expect(await world.service.journal('worker-1')).toMatchObject({ status: 'failed', phase: 'Mark' });
  });

  it('one power-off per fence: should power off once the cloud refused the stop request and the machine still runs', async () => {
    // Prepare: the cloud throttles the first StopInstances; nothing was stopped.
    const world = createWorld();
    const onPowerOff = world.driver.powerOff.bind(world.driver);
    let refusals = 1;
    world.driver.powerOff = async (ref, options) => {
      if (refusals-- > 0) throw new DriverError('RequestLimitExceeded (throttled)', { retryable: true });
      await onPowerOff(ref, options);
    };

    // Act: the fence, then the alert repeat that resumes it.
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    world.clock.advance(60_000);
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess: the refused request did not count; the fence went on and finished.
    expect(count(world, 'powerOff')).toBe(1);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
  });
});

describe('Safe on every path: resume skips the guards', () => {
  it('resume skips the guards: should not power off a Ready node when a later alert resumes an old forced fence', async () => {
    // Prepare: an operator force-fences the healthy worker-2; the fence stops before power-off (the cloud refused a
    // read) and its hold lapses.
    const outage = cloudOutageAfterStart();
    const world = createWorld({ driverOptions: outage });
    await world.post('/v1/nodes/worker-2/fence', { force: true, reason: 'decommission' });
    await world.drain();
    expect((await world.service.journal('worker-2'))?.lastError?.phase).toBe('PowerOff');
    world.clock.advance(world.config.lockDurationMs + 1_000);

    // Act: minutes later (within ALERTFENCE_RESUME_WITHIN) an alert names worker-2, which is Ready.
    world.clock.advance(10 * 60_000);
    world.kube.putLease('kube-node-lease', kubeletLease('worker-2', world.clock.now()));
    world.kube.putNode(makeNode({ name: 'worker-2' }, world.clock.now()));
    outage.down = false;
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]))
    ).json()) as Results;
    await world.drain();

    // Assess: the force of the old request did not carry over.
    expect(count(world, 'powerOff')).toBe(0);
    expect(world.driver.instances.get('i-worker-2')?.state).toBe('running');
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'NodeReady' });
    expect((await world.service.journal('worker-2'))?.status).toBe('aborted');
    expect(world.kube.nodes.get('worker-2')?.spec?.taints ?? []).toEqual([]);
  });

  it('resume skips the guards: should not resume a fence of a node excluded since it stopped', async () => {
    // Prepare: worker-1's fence stops before power-off; then an operator excludes the node.
    const outage = cloudOutageAfterStart();
    const world = createWorld({ driverOptions: outage });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    outage.down = false;
    const node = makeNode(
      { name: 'worker-1', ready: false, labels: { 'alertfence.io/exclude': 'true' } },
      world.clock.now(),
    );
    world.kube.putNode(node);
    world.clock.advance(world.config.lockDurationMs + 1_000);

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;
    await world.drain();

    // Assess
    expect(count(world, 'powerOff')).toBe(0);
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'Excluded' });
  });

  it('resume skips the guards: should report, not resume, a failed fence older than ALERTFENCE_RESUME_WITHIN', async () => {
    // Prepare: worker-1's fence stops before power-off and is forgotten for a day.
    const outage = cloudOutageAfterStart();
    const world = createWorld({ driverOptions: outage });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    outage.down = false;
    world.clock.advance(24 * 3_600_000);

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;
    await world.drain();

    // Assess: it waits for a new, confirmed request.
    expect(count(world, 'powerOff')).toBe(0);
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'StaleFence' });
  });
});

describe('Safe on every path: stale verification and recreated Nodes', () => {
  it('stale verification: should stop releasing when someone powers the instance on after it was verified off', async () => {
    // Prepare: Kubernetes is slow to let go, and mid-release someone starts the machine again.
    const world = createWorld();
    world.kube.controllersReactToOutOfService = false;
    let poweredOnBySomeoneElse = false;
    world.kube.beforeCall = (call) => {
      if (call.method === 'listPodsOnNode' && !poweredOnBySomeoneElse) {
        poweredOnBySomeoneElse = true;
        const machine = world.driver.instances.get('i-worker-1');
        if (machine) machine.state = 'running';
      }
    };

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess: after the machine came back, nothing more was released.
    const released = releaseCalls(world);
    expect(released.filter((call) => !call.startsWith('addTaint'))).toEqual([]);
    expect(world.kube.nodes.has('worker-1')).toBe(true);
    expect((await world.service.journal('worker-1'))?.status).toBe('failed');
  });

  it('recreated Nodes: should never delete a Node recreated under the same name', async () => {
    // Prepare: while the fence releases, the Node is deleted and a new one registers under the same name.
    const world = createWorld();
    const fresh = makeNode({ name: 'worker-1', ready: true }, world.clock.now());
    fresh.metadata = { ...fresh.metadata, uid: 'uid-worker-1-new' };
    world.kube.beforeCall = (call) => {
      if (call.method === 'deleteNode') world.kube.nodes.set('worker-1', structuredClone(fresh));
    };

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    expect(world.kube.nodes.get('worker-1')?.metadata?.uid).toBe('uid-worker-1-new');
  });

  it('recreated Nodes: should never taint a Node recreated under the same name before power-off', async () => {
    // Prepare: the alert is accepted; before Mark runs, the Node is replaced by a new one (new UID, new machine).
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const fresh = makeNode({ name: 'worker-1', ready: false, instance: 'i-worker-9' }, world.clock.now());
    fresh.metadata = { ...fresh.metadata, uid: 'uid-worker-1-new' };
    world.kube.nodes.set('worker-1', structuredClone(fresh));
    world.driver.addInstance('i-worker-9');

    // Act
    await world.drain();

    // Assess: neither machine was touched, and the new Node carries no taint of ours.
    expect(count(world, 'powerOff')).toBe(0);
    expect(world.kube.nodes.get('worker-1')?.spec?.taints ?? []).toEqual([]);
  });

  it('recreated pods: should force-delete a pod by UID, never its replacement of the same name', async () => {
    // Prepare: db-0 is terminating on the dead node; by the time the fence deletes it, the StatefulSet has a new db-0.
    const world = createWorld();
    world.kube.controllersReactToOutOfService = false;
    world.kube.pods = [
      {
        metadata: {
          name: 'db-0',
          namespace: 'default',
          uid: 'pod-old',
          deletionTimestamp: '2026-11-22T09:00:00Z',
        },
        spec: { nodeName: 'worker-1', containers: [{ name: 'db', image: 'db' }] },
      },
    ];
    world.kube.attachments = [];
    world.kube.beforeCall = (call) => {
      if (call.method === 'forceDeletePod') {
        world.kube.pods = [
          {
            metadata: { name: 'db-0', namespace: 'default', uid: 'pod-new' },
            spec: { nodeName: 'worker-2', containers: [{ name: 'db', image: 'db' }] },
          },
        ];
      }
    };

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    expect(world.kube.pods.map((pod) => pod.metadata?.uid)).toEqual(['pod-new']);
  });
});

describe('Safe on every path: the continuation endpoint is a bypass', () => {
  it('continuation bypass: should refuse a continuation while the deployment is disarmed', async () => {
    // Prepare: an armed request accepts the fence; the deployment is then disarmed (a new configuration).
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const [handoff] = world.continuation.handoffs;
    const disarmed = wireFence({
      kube: world.kube,
      drivers: [world.driver],
      env: { ALERTFENCE_DRIVERS: 'simulated', ALERTFENCE_DRY_RUN: 'true', ALERTFENCE_MAX_UNHEALTHY: '50%' },
      now: world.clock.now,
      sleep: world.clock.sleep,
    });

    // Act
    const response = await disarmed.post('/v1/fences/continue', handoff);

    // Assess
    expect(count(world, 'powerOff')).toBe(0);
    expect(response.status).toBe(409);
  });

  it('continuation bypass: should refuse a continuation forged from what GET shows, once the hold is released', async () => {
    // Prepare: a fence stops on a failure and releases its hold; a caller reads its journal.
    const outage = cloudOutageAfterStart();
    const world = createWorld({ driverOptions: outage });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    outage.down = false;
    const shown = await world.app.request('/v1/nodes/worker-1/fence', {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const journal = (await shown.json()) as { id: string; phases: Array<{ phase: string; detail?: string }> };
    const text = JSON.stringify(journal);

    // Act: a continuation made of what GET shows (and of nothing at all).
    const forged = await world.post('/v1/fences/continue', {
      node: 'worker-1',
      fenceId: journal.id,
      holder: journal.phases.find((step) => step.phase === 'Lock')?.detail ?? 'anyone',
    });

    // Assess: refused, and GET shows no secret of the hand-over.
    expect(count(world, 'powerOff')).toBe(0);
    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect(text).not.toMatch(/nonce|holder/i);
  });
});

describe('Safe on every path: maxConcurrentFences across nodes', () => {
  it('maxConcurrentFences across nodes: should accept one of three concurrent single-node webhooks with a limit of 1', async () => {
    // Prepare: three dead nodes of six; the storm guard allows them, the concurrency limit allows one.
    const world = createWorld({
      env: { ALERTFENCE_MAX_UNHEALTHY: '3', ALERTFENCE_MAX_CONCURRENT_FENCES: '1' },
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3', ready: false },
        { name: 'worker-4' },
        { name: 'worker-5' },
        { name: 'worker-6' },
      ],
    });

    // Act: Alertmanager groups by node, so an outage sends one webhook per node, at once.
    const answers = await Promise.all(
      ['worker-1', 'worker-2', 'worker-3'].map(async (node) => {
        const response = await world.post('/v1/alerts', alertPayload([{ node }]));
        return ((await response.json()) as Results).results[0];
      }),
    );

    // Assess
    expect(answers.filter((result) => result?.outcome === 'accepted')).toHaveLength(1);
    expect(answers.filter((result) => result?.reason === 'TooManyConcurrentFences')).toHaveLength(2);
  });
});

describe('Safe on every path: the journal is obeyed as written', () => {
  it('journal obeyed as written: should not execute a journal edited to skip the power-off', async () => {
    // Prepare: a fence is accepted; someone rewrites its journal to say the machine was verified off.
    const world = createWorld();
    world.kube.controllersReactToOutOfService = false;
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.continuation.handoffs.length = 0;
    const at = new Date(world.clock.now()).toISOString();
    editJournal(world.kube, 'worker-1', (journal) => {
      journal.phase = 'VerifyOff';
      journal.verifiedOffAt = at;
      journal.phases = [
        ...(journal.phases as unknown[]),
        ...['Mark', 'PowerOff', 'VerifyOff'].map((phase) => ({
          phase,
          startedAt: at,
          finishedAt: at,
          attempt: 1,
        })),
      ];
    });

    // Act: the next alert repeat.
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
    ).json()) as Results;
    await world.drain();

    // Assess: the running machine's workloads were not released, and the answer says the journal was refused.
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('running');
    expect(releaseCalls(world)).toEqual([]);
    expect(body.results[0]).toMatchObject({ outcome: 'refused', reason: 'JournalRejected' });
  });

  it('journal obeyed as written: should not power off another instance named by an edited journal', async () => {
    // Prepare: a fence is accepted; someone points its journal at worker-2's machine.
    const world = createWorld();
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.continuation.handoffs.length = 0;
    editJournal(world.kube, 'worker-1', (journal) => {
      journal.instance = { provider: 'simulated', id: 'i-worker-2' };
    });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess: worker-2's machine was never touched.
    expect(
      world.driver.calls.filter((call) => call.id === 'i-worker-2' && call.method !== 'describe'),
    ).toEqual([]);
    expect(world.driver.instances.get('i-worker-2')?.state).toBe('running');
  });
});

describe('Safe on every path: orphans', () => {
  it('orphans: the scheduled tick should power on a machine whose continuation was lost after DeleteNode', async () => {
    // Prepare: the fence deletes the Node, then its process dies before power-on and its continuation is lost
    // (the alert resolves with the Node gone): the machine stays off with no Node to come back as.
    const kube = new CrashingKube();
    const world = createWorld({ kube });
    await loseFenceAfter(world, kube, 'DeleteNode');
    expect((await world.service.journal('worker-1'))?.status).toBe('running');
    expect(world.kube.nodes.has('worker-1')).toBe(false);
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('stopped');

    // Act: the tick.
    const tick = await world.post('/v1/tick', {});
    await world.drain();

    // Assess
    expect(tick.status).toBe(200);
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('running');
  });

  it('orphans: a failed fence past the bound should stop counting against maxConcurrentFences', async () => {
    // Prepare: worker-1's fence fails at DeleteNode and is forgotten for a day; then worker-2 dies.
    const world = createWorld({
      env: { ALERTFENCE_MAX_UNHEALTHY: '2', ALERTFENCE_MAX_CONCURRENT_FENCES: '1' },
      nodes: [
        { name: 'worker-1', ready: false },
        { name: 'worker-2', ready: false },
        { name: 'worker-3' },
        { name: 'worker-4' },
        { name: 'worker-5' },
      ],
    });
    world.kube.beforeCall = (call) => {
      if (call.method === 'deleteNode') throw new Error('admission webhook denied the request');
    };
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    world.kube.beforeCall = undefined;
    world.clock.advance(24 * 3_600_000);
    world.kube.putNode(makeNode({ name: 'worker-2', ready: false }, world.clock.now()));

    // Act
    const body = (await (
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]))
    ).json()) as Results;

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'accepted' });
  });
});

describe('Safe on every path: freshness by observed change', () => {
  it('freshness by observed change: should not power off when the kubelet Lease moves between reads, whatever the clocks say', async () => {
    // Prepare: the kubelet's clock is two hours behind, so its renewals look old; but it is renewing.
    const world = createWorld();
    const skewed = (at: number) => kubeletLease('worker-1', at - 2 * 3_600_000);
    world.kube.putLease('kube-node-lease', skewed(world.clock.now()));
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    world.clock.advance(10_000);
    world.kube.putLease('kube-node-lease', skewed(world.clock.now()));

    // Act
    await world.drain();

    // Assess
    expect(count(world, 'powerOff')).toBe(0);
    expect((await world.service.journal('worker-1'))?.status).toBe('aborted');
  });
});
