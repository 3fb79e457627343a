import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { CrashingKube } from '../../fakes/crashing-kube.js';
import { alertPayload, createWorld } from '../../support/world.js';

describe('resume after a crash', () => {
  it.each(PHASES.filter((phase) => phase !== 'Confirm' && phase !== 'Done'))(
    'should complete a fence that crashed right after %s, with one power-off and every phase once',
    async (phase) => {
      // Prepare
      const kube = new CrashingKube();
      kube.crashAfter = phase;
      const world = createWorld({ kube });

      // Act: the first invocation dies; Alertmanager repeats the notification after the Lease ran out.
      await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
      await world.drain().catch(() => {});
      kube.restart();
      const crashed = await world.service.journal('worker-1');
      world.continuation.handoffs.length = 0;
      world.clock.advance(world.config.lockDurationMs + 1_000);
      const repeat = (await (
        await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))
      ).json()) as {
        results: Array<{ outcome: string; reason: string }>;
      };
      await world.drain();

      // Assess
      expect(kube.crashed).toBe(true);
      expect(crashed?.phase).toBe(phase);
      expect(repeat.results[0]).toMatchObject({ outcome: 'accepted', reason: 'Resume' });
      const journal = await world.service.journal('worker-1');
      expect(journal?.status).toBe('succeeded');
      expect(journal?.phases.map((step) => step.phase)).toEqual(PHASES);
      expect(journal?.attempt).toBeGreaterThanOrEqual(2);
      expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
    },
  );

  it('should answer in-progress while the crashed invocation still holds the Lease', async () => {
    // Prepare
    const kube = new CrashingKube();
    kube.crashAfter = 'VerifyOff';
    const world = createWorld({ kube });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain().catch(() => {});
    kube.restart();

    // Act
    const body = (await (await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]))).json()) as {
      results: Array<{ outcome: string }>;
    };

    // Assess
    expect(body.results[0]?.outcome).toBe('in-progress');
  });
});

describe('resume by an operator', () => {
  it('should finish, through its continuation, a fence that failed for good once an operator resumes it by hand', async () => {
    // Prepare: the cloud refuses the credentials right before the power-off (a retry cannot fix it).
    let refused = true;
    const world = createWorld({
      driverOptions: {
        onCall: (call) => {
          if (refused && call.method === 'powerOff') {
            throw new DriverError('UnauthorizedOperation: ec2:StopInstances', { retryable: false });
          }
        },
      },
    });
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();
    expect((await world.service.journal('worker-1'))?.status).toBe('failed');

    // Act: the operator fixes the role, then resumes the fence; the runtime continues it.
    refused = false;
    const response = await world.post('/v1/nodes/worker-1/fence', { reason: 'role fixed' });
    await world.drain();

    // Assess
    expect(response.status).toBe(202);
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.waiting).toBeUndefined();
    expect(world.driver.instances.get('i-worker-1')?.state).toBe('running');
  });
});
