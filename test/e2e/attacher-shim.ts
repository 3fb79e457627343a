/**
 * A stand-in for the CSI external-attacher and the cloud's CSI controller (EBS, Cinder): it mirrors the
 * VolumeAttachments of one CSIDriver to the cloud's attach and detach calls (moto's AttachVolume /
 * DetachVolume, Nova's os-volume_attachments) and reports back in `status.attached`, so the attach/detach
 * controller, the scheduler and alertfence see what they would see on the cloud.
 *
 * Like the real drivers it never attaches a volume that the cloud still shows attached to another instance:
 * that volume stays stuck until someone detaches it in the cloud, which is the Multi-Attach block of a dead
 * node (and, on OpenStack, the "attached to a different instance" of the seed write-up).
 */
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
  type V1VolumeAttachment,
} from '@kubernetes/client-node';
import type { AttacherCloud } from './clouds.js';
import { every } from './loop.js';

/** What the shim did, with the wall-clock time it happened. */
export interface AttacherEvent {
  at: number;
  /** `detached`: `at` is when the cloud showed the volume detached, `releasedAt` when the finalizer was removed. */
  kind: 'attached' | 'detached' | 'refused';
  attachment: string;
  node: string;
  volumeId: string;
  instanceId: string;
  /** For `refused`: the instance the cloud shows the volume attached to. */
  heldBy?: string;
  /** For `detached`: when the VolumeAttachment's finalizer was removed (it is gone then). */
  releasedAt?: number;
}

export interface AttacherShimOptions {
  /** Admin access: the shim plays a controller. */
  kubeconfig: KubeConfig;
  cloud: AttacherCloud;
  /** `spec.attacher` of the VolumeAttachments to serve, i.e. the CSIDriver's name. */
  driverName: string;
  /** The instance behind a node name, also after the Node object is gone. */
  instanceOf: (node: string) => string | undefined;
  intervalMs?: number;
  onEvent?: (event: AttacherEvent) => void;
}

export interface AttacherShim {
  readonly events: readonly AttacherEvent[];
  /** The last error of a sync pass, if the last pass failed (surfaced in test failures). */
  lastError(): unknown;
  stop(): Promise<void>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/** The external-attacher's finalizer: `external-attacher/<driver name with / replaced by ->`. */
export function attacherFinalizer(driverName: string): string {
  return `external-attacher/${driverName.replace(/\//g, '-')}`;
}

/**
 * Starts the shim's sync loop. Each pass lists the VolumeAttachments and, for each of the driver's:
 * - new: adds the finalizer, attaches the volume in the cloud (or refuses, see above), sets `status.attached`;
 * - being deleted: detaches the volume in the cloud, waits until it shows it detached, removes the finalizer.
 */
export function startAttacherShim(options: AttacherShimOptions): AttacherShim {
  const storage = options.kubeconfig.makeApiClient(StorageV1Api);
  const core = options.kubeconfig.makeApiClient(CoreV1Api);
  const finalizer = attacherFinalizer(options.driverName);
  const events: AttacherEvent[] = [];
  const volumeOfPv = new Map<string, string>();
  const refusedAlready = new Set<string>();

  const record = (event: Omit<AttacherEvent, 'at'> & { at?: number }) => {
    const full = { ...event, at: event.at ?? Date.now() };
    events.push(full);
    options.onEvent?.(full);
  };

  async function volumeIdOf(attachment: V1VolumeAttachment): Promise<string | undefined> {
    const inline = attachment.spec.source.inlineVolumeSpec?.csi?.volumeHandle;
    if (inline) return inline;
    const pvName = attachment.spec.source.persistentVolumeName;
    if (!pvName) return undefined;
    const cached = volumeOfPv.get(pvName);
    if (cached) return cached;
    const pv = await core.readPersistentVolume({ name: pvName });
    const handle = pv.spec?.csi?.volumeHandle;
    if (handle) volumeOfPv.set(pvName, handle);
    return handle;
  }

  async function attach(attachment: V1VolumeAttachment): Promise<void> {
    const name = attachment.metadata?.name ?? '';
    const node = attachment.spec.nodeName;
    if (!attachment.metadata?.finalizers?.includes(finalizer)) {
      await storage.patchVolumeAttachment(
        {
          name,
          body: {
            metadata: {
              finalizers: [...(attachment.metadata?.finalizers ?? []), finalizer],
              resourceVersion: attachment.metadata?.resourceVersion,
            },
          },
        },
        mergePatch,
      );
    }
    const volumeId = await volumeIdOf(attachment);
    const instanceId = options.instanceOf(node);
    if (!volumeId || !instanceId) return;
    const holders = await options.cloud.holders(volumeId);
    const elsewhere = holders.find((holder) => holder !== instanceId);
    if (elsewhere) {
      // EBS refuses to attach a volume that is in use (VolumeInUse): report it as the CSI driver would.
      if (!refusedAlready.has(name)) {
        refusedAlready.add(name);
        record({ kind: 'refused', attachment: name, node, volumeId, instanceId, heldBy: elsewhere });
      }
      await storage.patchVolumeAttachmentStatus(
        {
          name,
          body: {
            status: {
              attached: false,
              attachError: {
                time: new Date(),
                message: `rpc error: code = Internal desc = volume ${volumeId} is attached to ${elsewhere} (VolumeInUse)`,
              },
            },
          },
        },
        mergePatch,
      );
      return;
    }
    const device = holders.includes(instanceId)
      ? undefined
      : await options.cloud.attach(volumeId, instanceId);
    await storage.patchVolumeAttachmentStatus(
      {
        name,
        body: {
          status: { attached: true, attachmentMetadata: { devicePath: device ?? '' }, attachError: null },
        },
      },
      mergePatch,
    );
    refusedAlready.delete(name);
    record({ kind: 'attached', attachment: name, node, volumeId, instanceId });
  }

  async function detach(attachment: V1VolumeAttachment): Promise<void> {
    const name = attachment.metadata?.name ?? '';
    const node = attachment.spec.nodeName;
    const finalizers = attachment.metadata?.finalizers ?? [];
    const index = finalizers.indexOf(finalizer);
    if (index < 0) return;
    const volumeId = await volumeIdOf(attachment);
    const instanceId = options.instanceOf(node);
    let detachedAt: number | undefined;
    if (volumeId && instanceId) {
      if ((await options.cloud.holders(volumeId)).includes(instanceId)) {
        await options.cloud.detach(volumeId, instanceId);
      }
      // ControllerUnpublishVolume returns only once the cloud shows the volume detached.
      for (let look = 0; (await options.cloud.holders(volumeId)).includes(instanceId); look++) {
        if (look >= 300) throw new Error(`${volumeId} does not detach from ${instanceId}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      detachedAt = Date.now();
    }
    // Remove only our finalizer, and only from the version we read: then the VolumeAttachment is gone.
    await storage.patchVolumeAttachment(
      {
        name,
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: attachment.metadata?.resourceVersion },
          { op: 'remove', path: `/metadata/finalizers/${index}` },
        ],
      },
      jsonPatch,
    );
    if (volumeId && instanceId) {
      record({
        kind: 'detached',
        attachment: name,
        node,
        volumeId,
        instanceId,
        at: detachedAt,
        releasedAt: Date.now(),
      });
    }
  }

  /** One pass; returns the first unexpected error, after trying every attachment. */
  async function syncOnce(): Promise<unknown> {
    const list = await storage.listVolumeAttachment();
    let failure: unknown;
    for (const attachment of list.items) {
      if (attachment.spec.attacher !== options.driverName) continue;
      try {
        if (attachment.metadata?.deletionTimestamp) await detach(attachment);
        else if (!attachment.status?.attached) await attach(attachment);
      } catch (error) {
        // Gone or changed under us (404, 409, a failed `test` op): the next pass reads it again.
        if (!(error instanceof ApiException && [404, 409, 422].includes(error.code))) failure ??= error;
      }
    }
    return failure;
  }

  const loop = every(options.intervalMs ?? 200, async () => {
    const failure = await syncOnce();
    if (failure) throw failure;
  });

  return { events, lastError: loop.lastError, stop: loop.stop };
}
