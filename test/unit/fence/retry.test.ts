import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import type { Handoff } from '../../../functions/fence/handoff.js';
import { EVENT_REASONS } from '../../../functions/fence/vocabulary.js';
import type { Taint } from '../../../functions/kube/objects.js';
import {
  KubeDeadlineError,
  KubeForbiddenError,
  KubeUnavailableError,
  type ObjectCallOptions,
} from '../../../functions/kube/port.js';
import { TIME_MARGINS } from '../../../functions/lib/deadline.js';
import { FakeKube } from '../../fakes/kube.js';
import { alertPayload, createWorld, VirtualClock, type World } from '../../support/world.js';

/**
 * An API server that answers no taint (the Mark phase's call) while `hung`: the call ends at its deadline, and
 * fails as the real client reports it, a `KubeDeadlineError` (unavailable, retried).
 */
class HungTaintKube extends FakeKube {
  hung = true;
  clock = new VirtualClock();

  override async addTaint(node: string, taint: Taint, options?: ObjectCallOptions): Promise<void> {
    if (!this.hung) return super.addTaint(node, taint, options);
    const deadline = options?.deadline ?? Number.POSITIVE_INFINITY;
    await this.clock.sleep(deadline - this.clock.now());
    throw new KubeDeadlineError(`add taint: no answer in time (PATCH /api/v1/nodes/${node})`);
  }
}

/** A fence of worker-1 accepted by an alert and handed over (Lock done), on an API server that hangs on taints. */
async function handedOverOnHungApiServer(): Promise<{ world: World; kube: HungTaintKube; handoff: Handoff }> {
  const kube = new HungTaintKube();
  const world = createWorld({ kube });
  kube.clock = world.clock;
  await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
  const handoff = world.continuation.handoffs.shift();
  if (!handoff) throw new Error('the alert handed no fence over');
  return { world, kube, handoff };
}

describe('transient failures during a fence', () => {
  it('should retry an API server blip in the same invocation and finish without another alert', async () => {
    // Prepare: the first two Release-phase pod listings fail.
    const world = createWorld();
    let failures = 2;
    world.kube.beforeCall = (call) => {
      if (call.method === 'listPodsOnNode' && failures > 0) {
        failures -= 1;
        throw new KubeUnavailableError('etcdserver: request timed out');
      }
    };

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const invocations = await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(invocations).toBe(1);
    expect(journal?.status).toBe('succeeded');
    expect(world.logs.filter((line) => line.includes('retrying after a transient failure'))).toHaveLength(2);
  });

  it('should retry a 403 of an API server that has not read its RBAC yet, and finish', async () => {
    // Prepare: a restarted kube-apiserver refuses everyone until its authorizer has synced; two pod listings
    // of Release meet that window.
    const world = createWorld();
    let refusals = 2;
    world.kube.beforeCall = (call) => {
      if (call.method === 'listPodsOnNode' && refusals > 0) {
        refusals -= 1;
        throw new KubeForbiddenError('pods is forbidden: User cannot list resource "pods"', { status: 403 });
      }
    };

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
  });

  it('should wait for an operator once 403s have stopped the fence for a minute: RBAC to fix', async () => {
    // Prepare: the role lost `list pods` mid-fence, for good.
    const world = createWorld();
    world.kube.beforeCall = (call) => {
      if (call.method === 'listPodsOnNode')
        throw new KubeForbiddenError('pods is forbidden: User cannot list resource "pods"', { status: 403 });
    };

    // Act: the alert, its in-invocation retries, then the tick a minute later.
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    const first = await world.service.journal('worker-1');
    world.clock.advance(60_000);
    await world.post('/v1/tick', {});
    await world.drain();

    // Assess: retried first, then handed to a person, with the start of the refusals kept.
    expect(first).toMatchObject({ status: 'running', lastError: { phase: 'Release', retryable: true } });
    const journal = await world.service.journal('worker-1');
    expect(journal).toMatchObject({ status: 'failed', lastError: { phase: 'Release', retryable: false } });
    expect(journal?.lastError?.forbiddenSince).toBe(first?.lastError?.forbiddenSince);
  });

  it('should stop retrying after the backoff is spent and leave the fence resumable', async () => {
    // Prepare: the cloud throttles every power-on.
    let powerOnAttempts = 0;
    const world = createWorld({
      driverOptions: {
        onCall: (call) => {
          if (call.method === 'powerOn') powerOnAttempts += 1;
          if (call.method === 'powerOn') throw new DriverError('RequestLimitExceeded', { retryable: true });
        },
      },
    });

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('running');
    expect(journal?.phase).toBe('DeleteNode');
    expect(journal?.lastError).toMatchObject({ phase: 'PowerOn', retryable: true });
    // The first attempt and three retries.
    expect(powerOnAttempts).toBe(4);
  });
});

describe("the invocation's own time running out in a phase", () => {
  it('should hand the fence on (continue), recording no failure, when the invocation deadline cut the phase', async () => {
    // Prepare: an invocation with 10 s left for its phases; the phase's own bound (lock/2) would be 30 s.
    const { world, kube, handoff } = await handedOverOnHungApiServer();
    const deadline = world.clock.now() + TIME_MARGINS.saveMs + 10_000;

    // Act
    const { answer, handoffs } = await world.service.continueFence(handoff, {
      requestId: 'worker-1',
      deadline,
    });
    const afterwards = await world.service.journal('worker-1');
    kube.hung = false;
    await world.continuation.continue(handoffs);
    await world.drain();
    const finished = await world.service.journal('worker-1');

    // Assess: time ran out at the invocation's deadline, and the fence went on to the next invocation.
    expect(world.clock.now()).toBeGreaterThanOrEqual(deadline - TIME_MARGINS.saveMs);
    expect(answer.status).toBe('continue');
    expect(afterwards).toMatchObject({ status: 'running', phase: 'Lock' });
    expect(afterwards?.lastError).toBeUndefined();
    expect(handoffs).toEqual([{ node: 'worker-1', fenceId: handoff.fenceId, nonce: expect.any(String) }]);
    expect(world.logs.filter((line) => line.includes('fence phase failed'))).toEqual([]);
    expect(world.kube.events.filter((event) => event.reason === EVENT_REASONS.phaseFailed)).toEqual([]);
    expect(finished?.status).toBe('succeeded');
  });

  it("should record a retryable failure when the phase's own bound (lock/2), not the invocation, cut it", async () => {
    // Prepare: an invocation with its whole run budget; each attempt of the phase ends at its lock/2 bound.
    const { world, handoff } = await handedOverOnHungApiServer();
    const deadline = world.clock.now() + world.config.runBudgetMs;

    // Act
    const { answer, handoffs } = await world.service.continueFence(handoff, {
      requestId: 'worker-1',
      deadline,
    });
    const journal = await world.service.journal('worker-1');

    // Assess
    expect(world.clock.now()).toBeLessThan(deadline - TIME_MARGINS.saveMs);
    expect(answer.status).toBe('retry');
    expect(journal).toMatchObject({ status: 'running', phase: 'Lock' });
    expect(journal?.lastError).toMatchObject({ phase: 'Mark', retryable: true });
    expect(journal?.lastError?.message).toContain('no answer in time');
    expect(handoffs).toEqual([]);
  });
});
