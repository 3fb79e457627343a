import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DriverError } from '../../../drivers/driver.js';
import { KUBE_NAMES } from '../../../functions/kube/names.js';
import { KubeUnavailableError } from '../../../functions/kube/port.js';
import { CrashError, CrashingKube } from '../../fakes/crashing-kube.js';
import { RELEASE_CALLS } from '../../fakes/kube.js';
import { alertPayload, createWorld } from '../../support/world.js';

type Fault = 'none' | 'api-down' | 'cloud-error' | 'cloud-fatal' | 'crash';

const faults = fc.array(
  fc.constantFrom<Fault>('none', 'none', 'none', 'api-down', 'cloud-error', 'cloud-fatal', 'crash'),
  { minLength: 1, maxLength: 60 },
);

describe('invariant 1 as a property', () => {
  it('invariant 1: should never release before a verified power-off, whatever fails and however often it is retried', async () => {
    await fc.assert(
      fc.asyncProperty(faults, fc.integer({ min: 500, max: 20_000 }), async (plan, transitionMs) => {
        // Prepare: the n-th call (API server or cloud) suffers the n-th fault of the plan.
        const kube = new CrashingKube();
        const violations: string[] = [];
        let n = 0;
        const nextFault = (): Fault => plan[n++] ?? 'none';
        const world = createWorld({
          kube,
          driverOptions: {
            transitionMs,
            onCall: (call) => {
              const state = world.driver.instances.get('i-worker-1')?.state;
              if (call.method === 'detachVolume' && state !== 'stopped')
                violations.push(`detach while ${state}`);
              const fault = nextFault();
              if (fault === 'cloud-error') throw new DriverError('throttled', { retryable: true });
              if (fault === 'cloud-fatal')
                throw new DriverError('UnauthorizedOperation', { retryable: false });
            },
          },
        });
        const crashGuard = kube.beforeCall;
        kube.beforeCall = (call) => {
          crashGuard?.(call);
          const releasing =
            RELEASE_CALLS.has(call.method) || call.target.includes(KUBE_NAMES.outOfServiceTaintKey);
          const state = world.driver.instances.get('i-worker-1')?.state;
          if (releasing && state !== 'stopped') violations.push(`${call.method} while ${state}`);
          const fault = nextFault();
          if (fault === 'api-down') throw new KubeUnavailableError('connection refused');
          if (fault === 'crash') {
            kube.crashed = true;
            throw new CrashError('crashed');
          }
        };

        // Act: Alertmanager repeats the notification until the fence is done (bounded).
        for (let round = 0; round < 40; round++) {
          await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
          await world.drain(20).catch(() => {});
          kube.restart();
          world.continuation.handoffs.length = 0;
          if ((await world.service.journal('worker-1').catch(() => undefined))?.status === 'succeeded') break;
          world.clock.advance(world.config.lockDurationMs + 1_000);
        }

        // Assess
        expect(violations).toEqual([]);
        expect((await world.service.journal('worker-1'))?.status).toBe('succeeded');
      }),
      { numRuns: 150 },
    );
  });
});
