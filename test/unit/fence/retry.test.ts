import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import { KubeUnavailableError } from '../../../functions/kube/port.js';
import { alertPayload, createWorld } from '../../support/world.js';

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
