import { describe, expect, it } from 'vitest';
import { PHASES } from '../../functions/fence/vocabulary.js';
import { alertPayload, createWorld } from '../support/world.js';

describe('fence flow', () => {
  it('should fence a dead node end to end through the webhook and its continuation', async () => {
    // Prepare
    const world = createWorld();

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const body = (await response.json()) as { results: unknown[] };
    await world.drain();

    // Assess
    expect(response.status).toBe(202);
    expect(body.results).toEqual([expect.objectContaining({ node: 'worker-1', outcome: 'accepted' })]);
    const journal = await world.service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.phases.map((step) => step.phase)).toEqual(PHASES);
    expect(world.kube.nodes.has('worker-1')).toBe(false);
    expect(world.driver.calls.filter((call) => call.method === 'powerOff')).toHaveLength(1);
    expect(
      world.driver.calls.filter((call) => call.method === 'detachVolume').map((c) => c.volumeId),
    ).toEqual(['vol-worker-1']);
    const instance = await world.driver.describe(
      { provider: 'simulated', id: 'i-worker-1' },
      { deadline: Infinity },
    );
    expect(instance.power).toBe('on');
    expect(instance.volumes.map((v) => v.id)).toEqual(['i-worker-1-root', 'vol-worker-1-scratch']);
  });
});
