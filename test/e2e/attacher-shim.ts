/**
 * A stand-in for the CSI external-attacher and the cloud's CSI controller (EBS, Cinder): it mirrors the
 * VolumeAttachments of one CSIDriver to the cloud's attach and detach calls (moto's AttachVolume /
 * DetachVolume, Nova's os-volume_attachments) and reports back in `status.attached`, so the attach/detach
 * controller, the scheduler and alertfence see what they would see on the cloud.
 *
 * Like the real drivers it never attaches a volume that the cloud still shows attached to another instance:
 * that volume stays stuck until someone detaches it in the cloud, which is the Multi-Attach block of a dead
 * node (and, on OpenStack, the "attached to a different instance" of the seed write-up).
 *
 * It has two modes ({@link AttacherMode}); the second is a model of the seed write-up's stated cause, used
 * only where a run says so.
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

/**
 * How the shim finds the machine a detach is for.
 *
 * - `remembers` (the default): it keeps the machine with the attachment, so it detaches also when the Node is
 *   gone — as the external-attacher has done since v1.0.0 (it stores the CSI node ID in the VolumeAttachment's
 *   `csi.alpha.kubernetes.io/node-id` annotation and falls back to it when the CSINode or Node is missing).
 * - `forgets-deleted-node`: **a model, not a real component** — of the seed write-up's stated cause, "the
 *   recreated Node no longer remembered it". The shim keys each attachment on the Node object it attached for
 *   (its uid) and resolves the machine of a detach through that object only, as the external-attacher did
 *   before v1.0.0 (it read the node ID from the Node at detach time; kubernetes-csi/external-attacher#83,
 *   reported on Cinder CSI: "detaching will never succeed" once the Node is removed). When that Node object is
 *   gone — deleted, even if a Node of the same name registers again — it saves a detach error on the
 *   VolumeAttachment, keeps its finalizer, and never asks the cloud to detach. Only the write-up run uses it.
 */
export type AttacherMode = 'remembers' | 'forgets-deleted-node';

/** What the shim did, with the wall-clock time it happened. */
export interface AttacherEvent {
  at: number;
  /**
   * `detached`: `at` is when the cloud showed the volume detached, `releasedAt` when the finalizer was removed.
   * `detach-lost` (mode `forgets-deleted-node`): the first time a detach was asked for an attachment whose Node
   * object is gone; the cloud was not asked to detach, and never will be by this shim.
   */
  kind: 'attached' | 'detached' | 'refused' | 'detach-lost';
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
  /** Default `remembers`; see {@link AttacherMode}. */
  mode?: AttacherMode;
  onEvent?: (event: AttacherEvent) => void;
}

export interface AttacherShim {
  readonly mode: AttacherMode;
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
  const mode = options.mode ?? 'remembers';
  const events: AttacherEvent[] = [];
  const volumeOfPv = new Map<string, string>();
  const refusedAlready = new Set<string>();
  /** Mode `forgets-deleted-node`: the uid of the Node object each attachment was made for. */
  const nodeUidOf = new Map<string, string>();
  const lostAlready = new Set<string>();

  /** The uid of the Node object named `node` now, or undefined when there is none. */
  async function nodeUid(node: string): Promise<string | undefined> {
    try {
      return (await core.readNode({ name: node })).metadata?.uid;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

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
    // The node-keyed model resolves the machine through the Node object, so it notes which object that was.
    const uid = mode === 'forgets-deleted-node' ? await nodeUid(node) : undefined;
    if (mode === 'forgets-deleted-node' && !uid) return;
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
                message: `rpc error: code = Internal desc = ${options.cloud.inUseMessage?.(volumeId, elsewhere) ?? `volume ${volumeId} is attached to ${elsewhere} (VolumeInUse)`}`,
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
    if (uid) nodeUidOf.set(name, uid);
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
    if (mode === 'forgets-deleted-node' && volumeId && instanceId) {
      const attachedFor = nodeUidOf.get(name);
      const now = await nodeUid(node);
      if (!attachedFor || attachedFor !== now) {
        await lose({ name, node, volumeId, instanceId, attachedFor, now });
        return;
      }
    }
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

  /**
   * Mode `forgets-deleted-node`: the Node object the attachment was made for is gone, so the model cannot tell
   * the cloud which server to detach from. It does what the external-attacher does with a failed detach —
   * saves the error on the VolumeAttachment and keeps its finalizer — and, unlike a retry that could succeed,
   * it fails the same way on every pass.
   */
  async function lose(what: {
    name: string;
    node: string;
    volumeId: string;
    instanceId: string;
    attachedFor?: string;
    now?: string;
  }): Promise<void> {
    const { name, node, volumeId, instanceId } = what;
    const why = what.now
      ? `node "${node}" is a new object (uid ${what.now}), not the one the volume was attached for (uid ${what.attachedFor ?? 'unknown'})`
      : `node "${node}" not found`;
    await storage.patchVolumeAttachmentStatus(
      {
        name,
        body: { status: { detachError: { time: new Date(), message: `detach of ${volumeId}: ${why}` } } },
      },
      mergePatch,
    );
    if (!lostAlready.has(name)) {
      lostAlready.add(name);
      record({ kind: 'detach-lost', attachment: name, node, volumeId, instanceId });
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

  return { mode, events, lastError: loop.lastError, stop: loop.stop };
}
