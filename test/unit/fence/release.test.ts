import { describe, expect, it } from 'vitest';
import { alertPayload, createWorld, statefulPod } from '../../support/world.js';

const stepSeconds = (step: { startedAt: string; finishedAt: string } | undefined) =>
  step ? (Date.parse(step.finishedAt) - Date.parse(step.startedAt)) / 1000 : Number.NaN;

describe('the Release phase', () => {
  it('should force pods and VolumeAttachments after ALERTFENCE_RELEASE_TIMEOUT and journal the whole wait', async () => {
    // Prepare: no controller reacts to the out-of-service taint.
    const world = createWorld({ env: { ALERTFENCE_RELEASE_TIMEOUT: '2m' } });
    world.kube.controllersReactToOutOfService = false;

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.release.forcedAt).toBeDefined();
    expect(world.kube.calls.filter((call) => call.method === 'forceDeletePod')).toHaveLength(1);
    expect(world.kube.calls.filter((call) => call.method === 'deleteVolumeAttachment')).toHaveLength(1);
    expect(stepSeconds(journal?.phases.find((step) => step.phase === 'Release'))).toBeGreaterThanOrEqual(120);
  });

  it('should force-delete pods Kubernetes already marked terminating without waiting for the timeout', async () => {
    // Prepare: the pod is Terminating (no kubelet will confirm it); the VolumeAttachment goes on its own.
    const world = createWorld({ env: { ALERTFENCE_RELEASE_TIMEOUT: '2m' } });
    world.kube.controllersReactToOutOfService = false;
    world.kube.pods = [
      {
        ...statefulPod('worker-1'),
        metadata: { name: 'db-0', namespace: 'default', deletionTimestamp: new Date().toISOString() },
      },
    ];
    world.kube.attachments = [];

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.release.forcedAt).toBeUndefined();
    expect(world.kube.calls.filter((call) => call.method === 'forceDeletePod').map((c) => c.target)).toEqual([
      'default/db-0',
    ]);
    expect(stepSeconds(journal?.phases.find((step) => step.phase === 'Release'))).toBeLessThan(10);
  });
});
