/**
 * The CSI attacher stand-in's two modes, on a real API server (no controllers: the test plays the attach/detach
 * controller by creating and deleting VolumeAttachments) over a cloud kept in memory. What the write-up run of
 * recovery-openstack.test.ts relies on: `remembers` detaches also when the Node is gone; the model
 * `forgets-deleted-node` detaches while the Node object it attached for exists, and never once it is gone —
 * even after a Node of the same name registers again.
 */
import { ApiException, CoreV1Api, StorageV1Api, type V1VolumeAttachment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../peers/control-plane.js';
import { waitUntil } from '../peers/process.js';
import {
  type AttacherMode,
  type AttacherShim,
  attacherFinalizer,
  startAttacherShim,
} from './attacher-shim.js';
import type { AttacherCloud } from './clouds.js';

const DRIVER = 'cinder.csi.shim-test.alertfence.io';
const SERVERS: Record<string, string> = { 'node-a': 'server-a', 'node-b': 'server-b' };
/** How long the shim gets to act (passes every 100 ms here); generous for a loaded machine. */
const ACT_MS = 20_000;

/** Cinder in a map: volume → servers it is attached to. Attach and detach are instant. */
function memoryCloud(): AttacherCloud & { attachedTo: Map<string, string[]>; detaches: string[] } {
  const attachedTo = new Map<string, string[]>();
  const detaches: string[] = [];
  return {
    attachedTo,
    detaches,
    holders: async (volumeId) => attachedTo.get(volumeId) ?? [],
    async attach(volumeId, instanceId) {
      attachedTo.set(volumeId, [...(attachedTo.get(volumeId) ?? []), instanceId]);
      return '/dev/vdb';
    },
    async detach(volumeId, instanceId) {
      detaches.push(`${volumeId}@${instanceId}`);
      attachedTo.set(
        volumeId,
        (attachedTo.get(volumeId) ?? []).filter((id) => id !== instanceId),
      );
    },
    inUseMessage: (volumeId, heldBy) => `disk ${volumeId} is attached to a different instance (${heldBy})`,
  };
}

describe('the CSI attacher stand-in', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let storage: StorageV1Api;
  let serial = 0;

  beforeAll(async () => {
    cluster = await startControlPlane();
    core = cluster.admin.makeApiClient(CoreV1Api);
    storage = cluster.admin.makeApiClient(StorageV1Api);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** A fresh volume (its PV) attached to node-a by the shim of `mode`; node-a is created if missing. */
  async function attachedVolume(mode: AttacherMode) {
    serial++;
    const volumeId = `vol-${serial}`;
    const pv = `pv-${serial}`;
    await core.createPersistentVolume({
      body: {
        metadata: { name: pv },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          csi: { driver: DRIVER, volumeHandle: volumeId },
        },
      },
    });
    await ensureNode('node-a');
    const cloud = memoryCloud();
    const shim = startAttacherShim({
      kubeconfig: cluster.admin,
      cloud,
      driverName: DRIVER,
      instanceOf: (node) => SERVERS[node],
      intervalMs: 100,
      mode,
    });
    const attachment = await createAttachment(pv, 'node-a');
    await waitUntil(async () => (await readAttachment(attachment))?.status?.attached, {
      timeoutMs: ACT_MS,
      intervalMs: 100,
      what: `the shim to attach ${volumeId}`,
    });
    return { volumeId, pv, cloud, shim, attachment };
  }

  async function ensureNode(name: string) {
    await core.createNode({ body: { metadata: { name } } }).catch((error: unknown) => {
      if (!(error instanceof ApiException && error.code === 409)) throw error;
    });
  }

  async function createAttachment(pv: string, node: string): Promise<string> {
    const name = `va-${pv}-${node}`;
    await storage.createVolumeAttachment({
      body: {
        metadata: { name },
        spec: { attacher: DRIVER, nodeName: node, source: { persistentVolumeName: pv } },
      },
    });
    return name;
  }

  async function readAttachment(name: string): Promise<V1VolumeAttachment | undefined> {
    return storage.readVolumeAttachment({ name }).catch(() => undefined);
  }

  async function stopped<T>(shim: AttacherShim, assess: () => Promise<T>): Promise<T> {
    try {
      return await assess();
    } finally {
      await shim.stop();
    }
  }

  it('should detach from the server in mode remembers even when the Node is gone', async () => {
    // Prepare
    const { volumeId, cloud, shim, attachment } = await attachedVolume('remembers');
    await stopped(shim, async () => {
      // Act
      await core.deleteNode({ name: 'node-a' });
      await storage.deleteVolumeAttachment({ name: attachment });

      // Assess
      await waitUntil(async () => ((await readAttachment(attachment)) ? undefined : true), {
        timeoutMs: ACT_MS,
        intervalMs: 100,
        what: 'the VolumeAttachment gone',
      });
      expect(cloud.detaches).toEqual([`${volumeId}@server-a`]);
      expect(shim.events.map((event) => event.kind)).toEqual(['attached', 'detached']);
    });
  });

  it('should detach in mode forgets-deleted-node while the Node object it attached for exists', async () => {
    // Prepare
    const { volumeId, cloud, shim, attachment } = await attachedVolume('forgets-deleted-node');
    await stopped(shim, async () => {
      // Act
      await storage.deleteVolumeAttachment({ name: attachment });

      // Assess
      await waitUntil(async () => ((await readAttachment(attachment)) ? undefined : true), {
        timeoutMs: ACT_MS,
        intervalMs: 100,
        what: 'the VolumeAttachment gone',
      });
      expect(cloud.detaches).toEqual([`${volumeId}@server-a`]);
      expect(cloud.attachedTo.get(volumeId)).toEqual([]);
    });
  });

  it('should never detach in mode forgets-deleted-node once the Node is deleted, nor after it registers again, and refuse the volume elsewhere', async () => {
    // Prepare
    const { volumeId, pv, cloud, shim, attachment } = await attachedVolume('forgets-deleted-node');
    await ensureNode('node-b');
    await stopped(shim, async () => {
      // Act: the write-up's order — Node deleted, its attachment's detach asked, the Node back, the volume
      // wanted on another node.
      await core.deleteNode({ name: 'node-a' });
      await storage.deleteVolumeAttachment({ name: attachment });
      const lost = await waitUntil(
        async () => (await readAttachment(attachment))?.status?.detachError?.message,
        { timeoutMs: ACT_MS, intervalMs: 100, what: 'the detach error' },
      );
      await ensureNode('node-a');
      const elsewhere = await createAttachment(pv, 'node-b');
      const refused = await waitUntil(
        async () => (await readAttachment(elsewhere))?.status?.attachError?.message,
        { timeoutMs: ACT_MS, intervalMs: 100, what: 'the attach to node-b refused' },
      );
      // The shim has looked again since the Node came back: it says the Node is a new object.
      const again = await waitUntil(
        async () => {
          const message = (await readAttachment(attachment))?.status?.detachError?.message;
          return message?.includes('new object') ? message : undefined;
        },
        { timeoutMs: ACT_MS, intervalMs: 100, what: 'the detach error about the recreated Node' },
      );

      // Assess: nothing was ever sent to the cloud; the attachment and its finalizer are still there.
      expect(lost).toBe(`detach of ${volumeId}: node "node-a" not found`);
      expect(again).toMatch(
        /node "node-a" is a new object \(uid .+\), not the one the volume was attached for/,
      );
      expect((await readAttachment(attachment))?.metadata?.finalizers).toContain(attacherFinalizer(DRIVER));
      expect(cloud.detaches).toEqual([]);
      expect(cloud.attachedTo.get(volumeId)).toEqual(['server-a']);
      expect(refused).toContain(`disk ${volumeId} is attached to a different instance (server-a)`);
      expect(shim.events.map((event) => event.kind)).toEqual(['attached', 'detach-lost', 'refused']);
    });
  });
});
