/**
 * The EC2 power driver: hard stop, verified by polling, detach of PV volumes, start.
 */
import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Filter,
  type Instance,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { backoffDelay, pollUntil, sleepWithin } from '../../functions/lib/wait.js';
import {
  type AttachedVolume,
  type CallOptions,
  DeadlineExceededError,
  DriverError,
  type InstanceDescription,
  InstanceNotFoundError,
  type InstanceRef,
  type NodeIdentity,
  type PowerDriver,
  type PowerState,
  type PreflightResult,
  VolumeDetachRefusedError,
  type WaitOptions,
} from '../driver.js';
import { callWithin, DEFAULT_RETRY_POLICY, type RetryPolicy } from './call.js';
import { cachedEc2ClientFactory, type Ec2ClientFactory, type Ec2ClientOptions } from './clients.js';
import { classifyEc2Error, toDriverError } from './errors.js';
import { runPreflight } from './preflight.js';
import { isAwsProviderId, parseAwsProviderId, regionOfZone } from './provider-id.js';

/** The driver's name, and the `provider` of the instances it resolves. */
export const EC2_DRIVER_NAME = 'aws';

/** Options of `createEc2Driver`. Everything is optional: the defaults fit a Lambda in the cluster's region. */
export interface Ec2DriverOptions extends Ec2ClientOptions {
  /**
   * Region for lookups without a providerID, the pre-flight, and providerIDs without a zone. Instances
   * named by `aws:///<zone>/<id>` use their zone's region unless `pinRegion` is set. Default: the SDK's
   * (`AWS_REGION`).
   */
  region?: string;
  /** Use `region` for every call, ignoring the zone of the providerID (e.g. an emulator with one region). */
  pinRegion?: boolean;
  /**
   * When set, the driver acts only on instances tagged `kubernetes.io/cluster/<name>` (the tag EKS, Karpenter,
   * eksctl and kOps put on nodes): an instance without it is refused wherever it comes from (a providerID, a
   * lookup), and the pre-flight samples one of the cluster's instances.
   */
  clusterName?: string;
  /** Tag whose value is the Node name, tried first when a node has no providerID. */
  lookupTagKey?: string;
  /**
   * Claim every node, not only `aws://` ones: for clusters whose nodes carry no providerID (kubeadm without
   * a cloud provider) or a distribution's own (`k3s://`). Such a node is looked up by tag or private DNS name,
   * and the instance found must also hold one of the node's InternalIPs (names and addresses get reused).
   */
  defaultDriver?: boolean;
  /**
   * Also pass `SkipOsShutdown: true` to `StopInstances` (API field since 2025-07; the SDK in use has it), so
   * the stop does not wait for a graceful OS shutdown. Default true.
   */
  skipOsShutdown?: boolean;
  /**
   * After this long waiting for a detach that a normal `DetachVolume` did not complete, re-issue it with
   * `Force: true` (only ever for a non-root volume of an instance that is off). `false` never forces.
   * Default 60 000 ms.
   */
  forceDetachAfterMs?: number | false;
  /** Instance whose id the pre-flight's `DryRun` calls name; by default one found by `DescribeInstances`. */
  preflightInstanceId?: string;
  /** Ready-made EC2 clients (tests, custom middleware): one for every region, or a factory per region. */
  clients?: { ec2?: EC2Client | Ec2ClientFactory };
  /** Delays between polls; `DEFAULT_POLL_SCHEDULE` of `drivers/poll.ts` by default. */
  pollSchedule?: readonly number[];
  /** Backoff of throttled and failed calls. */
  retry?: Partial<Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'maxAttempts'>>;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

// The EC2 instance lifecycle (`InstanceStateName`), normalised. `terminated` is gone, hence off.
const POWER_OF_STATE: Readonly<Record<string, PowerState>> = {
  running: 'on',
  stopped: 'off',
  terminated: 'off',
  pending: 'transitioning',
  stopping: 'transitioning',
  'shutting-down': 'transitioning',
};

// StateReason codes of an instance that EC2 stopped again right after a start (EC2 API reference,
// StateReason): not a dropped request, so not worth another StartInstances.
const START_FAILURE_REASONS = new Set([
  'Client.InternalError',
  'Client.VolumeLimitExceeded',
  'Client.InvalidSnapshot.NotFound',
]);

/**
 * `cloudState` of an instance DescribeInstances does not know: terminated long ago, or never visible to these
 * credentials (another account, role or region) — the two look the same.
 */
const MISSING_STATE = 'not-found';

interface InstanceView {
  description: InstanceDescription;
  /** The raw instance, when it exists. */
  instance?: Instance;
}

interface VolumeAttachmentState {
  id: string;
  /** `attaching`, `attached`, `detaching`, `busy`. */
  state: string;
}

/** The EC2 implementation of `PowerDriver`. Build it with `createEc2Driver`. */
export class Ec2Driver implements PowerDriver {
  readonly name = EC2_DRIVER_NAME;
  private readonly options: Ec2DriverOptions;
  private readonly clientOf: Ec2ClientFactory;
  private readonly retry: RetryPolicy;
  private readonly forceDetachAfterMs: number | false;

  constructor(options: Ec2DriverOptions = {}) {
    this.options = options;
    const injected = options.clients?.ec2;
    this.clientOf =
      injected === undefined
        ? cachedEc2ClientFactory({ ...options, stsRegion: options.stsRegion ?? options.region })
        : typeof injected === 'function'
          ? injected
          : () => injected;
    this.retry = {
      ...DEFAULT_RETRY_POLICY,
      ...options.retry,
      sleep: options.sleep ?? DEFAULT_RETRY_POLICY.sleep,
      now: options.now ?? DEFAULT_RETRY_POLICY.now,
      random: options.random ?? DEFAULT_RETRY_POLICY.random,
    };
    this.forceDetachAfterMs = options.forceDetachAfterMs ?? 60_000;
  }

  handles(node: NodeIdentity): boolean {
    return isAwsProviderId(node.providerID) || this.options.defaultDriver === true;
  }

  async resolve(node: NodeIdentity, options: CallOptions): Promise<InstanceRef> {
    if (isAwsProviderId(node.providerID)) {
      const parsed = parseAwsProviderId(node.providerID);
      if (!parsed) {
        throw new InstanceNotFoundError(
          `node ${node.name}: providerID "${node.providerID}" does not name an EC2 instance`,
        );
      }
      const region = this.options.pinRegion ? this.options.region : this.regionOfZone(parsed.zone);
      const ref = { provider: EC2_DRIVER_NAME, id: parsed.instanceId, ...(region ? { region } : {}) };
      // Read it now: a providerID from another account, or a wrong role or region, must be refused here, not
      // taken for an instance that is off later (StopInstances and DescribeInstances both answer NotFound).
      const { description } = await this.read(ref, options);
      if (description.missing || description.gone) {
        throw new InstanceNotFoundError(
          `node ${node.name}: instance ${parsed.instanceId} is ${description.missing ? `not found in ${region ?? 'the default region'} for these credentials (a wrong account, role or region looks the same)` : description.cloudState}`,
        );
      }
      return ref;
    }
    if (!this.handles(node)) {
      throw new InstanceNotFoundError(`node ${node.name} is not an EC2 node (providerID ${node.providerID})`);
    }
    return this.lookUp(node, options);
  }

  async describe(ref: InstanceRef, options: CallOptions): Promise<InstanceDescription> {
    return (await this.read(ref, options)).description;
  }

  async powerOff(ref: InstanceRef, options: CallOptions): Promise<void> {
    const client = this.clientFor(ref);
    // Force: a dead node's OS will not finish a graceful shutdown; SkipOsShutdown: do not even start one.
    const input = {
      InstanceIds: [ref.id],
      Force: true,
      ...(this.options.skipOsShutdown === false ? {} : { SkipOsShutdown: true }),
    };
    for (let retry = 0; ; retry++) {
      try {
        await callWithin(
          (abortSignal) => client.send(new StopInstancesCommand(input), { abortSignal }),
          options,
          this.retry,
          `ec2:StopInstances ${ref.id}`,
        );
        return;
      } catch (error) {
        const kind = classifyEc2Error(error);
        // Nothing to stop. Whether "not found" is off is for `waitForPower` with `notFoundMeansOff` to say.
        if (kind === 'instance-not-found') return;
        if (kind !== 'incorrect-instance-state') throw toDriverError(error, 'ec2:StopInstances', ref.id);
        // StopInstances refuses `pending` and `shutting-down`/`terminated`: re-read to see which.
        const now = await this.describe(ref, options);
        if (now.power === 'off' || now.cloudState === 'stopping' || now.cloudState === 'shutting-down')
          return;
        options.onProgress?.(`instance ${ref.id} is ${now.cloudState}: stop refused, retrying`);
        await sleepWithin(
          backoffDelay(retry, this.retry),
          options,
          this.retry,
          () => new DeadlineExceededError(`deadline passed before stopping ${ref.id}`, { cause: error }),
        );
      }
    }
  }

  async powerOn(ref: InstanceRef, options: CallOptions): Promise<void> {
    const client = this.clientFor(ref);
    for (let retry = 0; ; retry++) {
      try {
        await callWithin(
          (abortSignal) => client.send(new StartInstancesCommand({ InstanceIds: [ref.id] }), { abortSignal }),
          options,
          this.retry,
          `ec2:StartInstances ${ref.id}`,
        );
        return;
      } catch (error) {
        const kind = classifyEc2Error(error);
        if (kind !== 'incorrect-instance-state') throw toDriverError(error, 'ec2:StartInstances', ref.id);
        // StartInstances refuses `stopping` (wait) and `terminated` (never): re-read to see which.
        const now = await this.describe(ref, options);
        if (now.gone) throw new InstanceNotFoundError(`cannot power on ${ref.id}: it is ${now.cloudState}`);
        if (now.power === 'on' || now.cloudState === 'pending') return;
        options.onProgress?.(`instance ${ref.id} is ${now.cloudState}: start refused, retrying`);
        await sleepWithin(
          backoffDelay(retry, this.retry),
          options,
          this.retry,
          () => new DeadlineExceededError(`deadline passed before starting ${ref.id}`, { cause: error }),
        );
      }
    }
  }

  async waitForPower(
    ref: InstanceRef,
    want: 'on' | 'off',
    options: WaitOptions,
  ): Promise<InstanceDescription> {
    const view = await pollUntil<InstanceView>({
      ...this.pollOptions(options),
      what: `${ref.id} to be ${want}`,
      probe: () => this.read(ref, options),
      done: ({ description }) =>
        description.power === want ||
        (want === 'off' && description.missing && options.notFoundMeansOff === true),
      describeState: ({ description }) => description.cloudState,
      onPending: async ({ description, instance }) => {
        if (want === 'on' && description.missing) {
          throw new InstanceNotFoundError(`cannot power on ${ref.id}: it is not found`);
        }
        if (want === 'off' && description.cloudState === 'running') {
          // The stop was dropped, or someone started the instance again: stop it again. `pending` is left
          // to become `running` first, because StopInstances refuses it.
          options.onProgress?.(`instance ${ref.id} is running after a stop: stopping it again`);
          await this.powerOff(ref, options);
        }
        if (want === 'on' && description.gone) {
          throw new InstanceNotFoundError(`cannot power on ${ref.id}: it is ${description.cloudState}`);
        }
        if (want === 'on' && description.cloudState === 'stopped') {
          const reason = instance?.StateReason?.Code;
          if (reason !== undefined && START_FAILURE_REASONS.has(reason)) {
            // EC2 started and stopped it again: starting once more fails the same way (typically the caller
            // lacks kms:CreateGrant on the key of an encrypted volume; AWS re:Post "kms-iam-ec2-permission").
            throw new DriverError(
              `${ref.id} went back to stopped after StartInstances (${reason}); check kms:CreateGrant on the keys of its encrypted volumes`,
              { retryable: false },
            );
          }
          options.onProgress?.(`instance ${ref.id} is stopped after a start: starting it again`);
          await this.powerOn(ref, options);
        }
      },
    });
    return view.description;
  }

  async detachVolume(ref: InstanceRef, volumeId: string, options: CallOptions): Promise<void> {
    await this.detach(ref, volumeId, false, options);
  }

  async waitForDetached(ref: InstanceRef, volumeIds: readonly string[], options: CallOptions): Promise<void> {
    if (volumeIds.length === 0) return;
    const client = this.clientFor(ref);
    const now = this.retry.now;
    const startedAt = now();
    const reissued = new Set<string>();
    const forced = new Set<string>();
    await pollUntil<VolumeAttachmentState[]>({
      ...this.pollOptions(options),
      what: `${volumeIds.join(', ')} to detach from ${ref.id}`,
      probe: () => this.attachedVolumes(client, ref, volumeIds, options),
      done: (attached) => attached.length === 0,
      describeState: (attached) => attached.map((volume) => `${volume.id} ${volume.state}`).join(', '),
      onPending: async (attached, attempt) => {
        for (const volume of attached) {
          // Still `attached` (not `detaching`) on a second look: the detach request was lost; ask again.
          if (volume.state === 'attached' && attempt >= 1 && !reissued.has(volume.id)) {
            reissued.add(volume.id);
            options.onProgress?.(`${volume.id} is still attached to ${ref.id}: detaching it again`);
            await this.detach(ref, volume.id, false, options);
          } else if (
            this.forceDetachAfterMs !== false &&
            now() - startedAt >= this.forceDetachAfterMs &&
            !forced.has(volume.id)
          ) {
            // Last resort (EC2 docs: Force risks data the instance has not flushed), taken only because
            // `detach` has verified the instance off, so nothing can be writing to the volume.
            forced.add(volume.id);
            options.onProgress?.(`${volume.id} did not detach from ${ref.id}: forcing the detach`);
            await this.detach(ref, volume.id, true, options);
          }
        }
      },
    });
  }

  async preflight(options: CallOptions): Promise<PreflightResult> {
    return runPreflight(this.clientOf(this.options.region), {
      ...options,
      retry: this.retry,
      ...(this.options.clusterName ? { clusterName: this.options.clusterName } : {}),
      ...(this.options.preflightInstanceId ? { instanceId: this.options.preflightInstanceId } : {}),
      ...(this.options.skipOsShutdown === false ? { skipOsShutdown: false } : {}),
    });
  }

  private pollOptions(options: CallOptions) {
    return {
      deadline: options.deadline,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(this.options.pollSchedule ? { schedule: this.options.pollSchedule } : {}),
      sleep: this.retry.sleep,
      now: this.retry.now,
    };
  }

  private regionOfZone(zone: string | undefined): string | undefined {
    return (zone ? regionOfZone(zone) : undefined) ?? this.options.region;
  }

  private clientFor(ref: InstanceRef): EC2Client {
    return this.clientOf(ref.region ?? this.options.region);
  }

  private async read(ref: InstanceRef, options: CallOptions): Promise<InstanceView> {
    const client = this.clientFor(ref);
    try {
      const output = await callWithin(
        (abortSignal) =>
          client.send(new DescribeInstancesCommand({ InstanceIds: [ref.id] }), { abortSignal }),
        options,
        this.retry,
        `ec2:DescribeInstances ${ref.id}`,
      );
      const instance = output.Reservations?.flatMap((reservation) => reservation.Instances ?? []).find(
        (candidate) => candidate.InstanceId === ref.id,
      );
      if (!instance) return { description: missing(ref) };
      this.requireClusterTag(instance);
      return { description: describeInstance(ref, instance), instance };
    } catch (error) {
      // Terminated instances disappear from DescribeInstances after about an hour, and an instance of another
      // account never shows: either way "not found", which is not "off" (see `InstanceDescription.missing`).
      if (classifyEc2Error(error) === 'instance-not-found') return { description: missing(ref) };
      throw toDriverError(error, 'ec2:DescribeInstances', ref.id);
    }
  }

  /** With a cluster name configured, an instance without the cluster's tag is not ours to touch. */
  private requireClusterTag(instance: Instance): void {
    const cluster = this.options.clusterName;
    if (!cluster) return;
    const key = `kubernetes.io/cluster/${cluster}`;
    if (!(instance.Tags ?? []).some((tag) => tag.Key === key)) {
      throw new InstanceNotFoundError(
        `instance ${instance.InstanceId} does not carry the tag ${key}: it is not a machine of cluster ${cluster} (ALERTFENCE_AWS_CLUSTER_NAME)`,
      );
    }
  }

  /**
   * Detaches one volume after checking, on a fresh DescribeInstances, that it is attached to this instance
   * (never touch another instance's disk), is not its root volume, and that the instance is off.
   */
  private async detach(
    ref: InstanceRef,
    volumeId: string,
    force: boolean,
    options: CallOptions,
  ): Promise<void> {
    const { description, instance } = await this.read(ref, options);
    const mapping = instance?.BlockDeviceMappings?.find((candidate) => candidate.Ebs?.VolumeId === volumeId);
    if (!instance || !mapping || mapping.Ebs?.Status === 'detached') return;
    if (!instance.RootDeviceName || mapping.DeviceName === instance.RootDeviceName) {
      throw new VolumeDetachRefusedError(
        instance.RootDeviceName
          ? `refusing to detach ${volumeId}: it is the root volume of ${ref.id}`
          : `refusing to detach ${volumeId}: ${ref.id} reports no root device, so the root volume is unknown`,
        { volumeId },
      );
    }
    if (description.power !== 'off') {
      throw new VolumeDetachRefusedError(
        `refusing to detach ${volumeId}: ${ref.id} is ${description.cloudState}, not off`,
        { volumeId },
      );
    }
    if (!force && mapping.Ebs?.Status === 'detaching') return;
    const client = this.clientFor(ref);
    try {
      await callWithin(
        (abortSignal) =>
          client.send(
            new DetachVolumeCommand({
              VolumeId: volumeId,
              InstanceId: ref.id,
              ...(force ? { Force: true } : {}),
            }),
            { abortSignal },
          ),
        options,
        this.retry,
        `ec2:DetachVolume ${volumeId}`,
      );
    } catch (error) {
      // Detached meanwhile, or deleted: nothing left to detach.
      if (classifyEc2Error(error) === 'volume-not-attached') return;
      throw toDriverError(error, 'ec2:DetachVolume', ref.id);
    }
  }

  private async attachedVolumes(
    client: EC2Client,
    ref: InstanceRef,
    volumeIds: readonly string[],
    options: CallOptions,
  ): Promise<VolumeAttachmentState[]> {
    // Filters rather than VolumeIds: a volume deleted meanwhile is simply absent instead of failing the call.
    const filters: Filter[] = [
      { Name: 'attachment.instance-id', Values: [ref.id] },
      { Name: 'volume-id', Values: [...volumeIds] },
    ];
    try {
      const output = await callWithin(
        (abortSignal) => client.send(new DescribeVolumesCommand({ Filters: filters }), { abortSignal }),
        options,
        this.retry,
        `ec2:DescribeVolumes ${ref.id}`,
      );
      const attached: VolumeAttachmentState[] = [];
      for (const volume of output.Volumes ?? []) {
        if (!volume.VolumeId || !volumeIds.includes(volume.VolumeId)) continue;
        for (const attachment of volume.Attachments ?? []) {
          if (attachment.InstanceId === ref.id && attachment.State !== 'detached') {
            attached.push({ id: volume.VolumeId, state: attachment.State ?? 'unknown' });
          }
        }
      }
      return attached;
    } catch (error) {
      throw toDriverError(error, 'ec2:DescribeVolumes', ref.id);
    }
  }

  /**
   * Finds the instance of a node without a providerID: by tag, then private DNS name; the instance found must
   * also hold one of the node's InternalIPs, since names, tags and addresses all get reused.
   */
  private async lookUp(node: NodeIdentity, options: CallOptions): Promise<InstanceRef> {
    if (node.internalIPs.length === 0) {
      throw new InstanceNotFoundError(
        `node ${node.name} reports no InternalIP: an instance is looked up by name and address together, never by name alone`,
      );
    }
    const client = this.clientOf(this.options.region);
    const scope: Filter[] = [
      ...(this.options.clusterName
        ? [{ Name: 'tag-key', Values: [`kubernetes.io/cluster/${this.options.clusterName}`] }]
        : []),
      { Name: 'private-ip-address', Values: [...node.internalIPs] },
    ];
    const attempts: Array<{ by: string; filter: Filter }> = [];
    if (this.options.lookupTagKey) {
      attempts.push({
        by: `tag ${this.options.lookupTagKey}=${node.name}`,
        filter: { Name: `tag:${this.options.lookupTagKey}`, Values: [node.name] },
      });
    }
    attempts.push({
      by: `private DNS name ${node.name}`,
      filter: { Name: 'private-dns-name', Values: [node.name] },
    });
    const address = `and InternalIP ${node.internalIPs.join(' or ')}`;
    for (const attempt of attempts) {
      const ids = await this.findInstanceIds(client, [...scope, attempt.filter], options);
      // Several matches (a reused address, a copied tag) are refused, never guessed between; terminated
      // instances count too, since one of them may be the machine the Node belonged to.
      if (ids.length > 1) {
        throw new InstanceNotFoundError(
          `node ${node.name}: ${ids.length} instances match ${attempt.by} ${address}: ${ids.join(', ')}`,
        );
      }
      const [id] = ids;
      if (id) {
        const region = this.options.region ?? (await client.config.region());
        return { provider: EC2_DRIVER_NAME, id, region };
      }
    }
    throw new InstanceNotFoundError(
      `node ${node.name}: no instance matches ${attempts.map((attempt) => attempt.by).join(', or ')} ${address}`,
    );
  }

  private async findInstanceIds(
    client: EC2Client,
    filters: Filter[],
    options: CallOptions,
  ): Promise<string[]> {
    const ids: string[] = [];
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      try {
        const output = await callWithin(
          (abortSignal) =>
            client.send(
              new DescribeInstancesCommand({ Filters: filters, ...(token ? { NextToken: token } : {}) }),
              {
                abortSignal,
              },
            ),
          options,
          this.retry,
          'ec2:DescribeInstances (lookup)',
        );
        for (const reservation of output.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            if (instance.InstanceId) ids.push(instance.InstanceId);
          }
        }
        nextToken = output.NextToken;
      } catch (error) {
        throw toDriverError(error, 'ec2:DescribeInstances');
      }
    } while (nextToken);
    return ids;
  }
}

function describeInstance(ref: InstanceRef, instance: Instance): InstanceDescription {
  const cloudState = instance.State?.Name ?? 'unknown';
  const volumes: AttachedVolume[] = [];
  for (const mapping of instance.BlockDeviceMappings ?? []) {
    const id = mapping.Ebs?.VolumeId;
    if (!id || mapping.Ebs?.Status === 'detached') continue;
    volumes.push({
      id,
      ...(mapping.DeviceName ? { device: mapping.DeviceName } : {}),
      ...(mapping.DeviceName !== undefined && mapping.DeviceName === instance.RootDeviceName
        ? { root: true }
        : {}),
    });
  }
  return {
    ref,
    power: POWER_OF_STATE[cloudState] ?? 'unknown',
    cloudState,
    gone: cloudState === 'terminated',
    missing: false,
    ...(cloudState === 'stopping' || cloudState === 'shutting-down' ? { stopping: true } : {}),
    volumes,
  };
}

function missing(ref: InstanceRef): InstanceDescription {
  return { ref, power: 'unknown', cloudState: MISSING_STATE, gone: false, missing: true, volumes: [] };
}
