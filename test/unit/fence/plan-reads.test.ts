/**
 * Which reads may come from the API server's watch cache: what a dry run only shows (its plan), never what a
 * fence acts on (the pods and VolumeAttachments it releases, the volumes it detaches).
 */
import { describe, expect, it } from 'vitest';
import type { NodeResult } from '../../../functions/fence/api.js';
import type { KubeCallOptions } from '../../../functions/kube/port.js';
import { FakeKube } from '../../fakes/kube.js';
import { alertPayload, createWorld } from '../../support/world.js';

/** The fake API server, noting for each list of pods, VolumeAttachments and PVs whether it asked the cache. */
class CacheNotingKube extends FakeKube {
  readonly lists: Array<{ method: string; fromCache: boolean }> = [];
  private note(method: string, options?: KubeCallOptions) {
    this.lists.push({ method, fromCache: options?.fromCache === true });
  }
  override async listPodsOnNode(node: string, options?: KubeCallOptions) {
    this.note('listPodsOnNode', options);
    return super.listPodsOnNode(node);
  }
  override async listVolumeAttachments(node: string, options?: KubeCallOptions) {
    this.note('listVolumeAttachments', options);
    return super.listVolumeAttachments(node);
  }
  override async listPersistentVolumes(options?: KubeCallOptions) {
    this.note('listPersistentVolumes', options);
    return super.listPersistentVolumes();
  }
}

describe('reads from the watch cache', () => {
  it('should be what a dry run’s plan shows', async () => {
    // Prepare
    const kube = new CacheNotingKube();
    const world = createWorld({ kube, env: { ALERTFENCE_DRY_RUN: 'true' } });

    // Act
    const response = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const body = (await response.json()) as { results: NodeResult[] };

    // Assess
    expect(body.results[0]).toMatchObject({ outcome: 'planned' });
    expect(kube.lists.map((read) => read.method).sort()).toEqual([
      'listPersistentVolumes',
      'listPodsOnNode',
      'listVolumeAttachments',
    ]);
    expect(kube.lists.every((read) => read.fromCache)).toBe(true);
  });

  it('should never be what a fence releases or detaches', async () => {
    // Prepare
    const kube = new CacheNotingKube();
    const world = createWorld({ kube });

    // Act: an armed fence to its end.
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.drain();

    // Assess: Release listed what it released, each time consistently.
    expect(world.events.at(-1)).toMatchObject({ kind: 'finished', status: 'succeeded' });
    expect(kube.lists.length).toBeGreaterThan(0);
    expect(kube.lists.filter((read) => read.fromCache)).toEqual([]);
  });
});
