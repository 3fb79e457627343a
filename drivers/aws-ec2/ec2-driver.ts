/**
 * The EC2 power driver: hard stop, verified by polling, detach of PV volumes, start.
 */
import { StartInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { pollUntil } from '../../functions/lib/wait.js';
import type * as driver from '../driver.js';
import { DeadlineExceededError, DriverError, InstanceNotFoundError } from '../driver.js';
import { sendPowerCall } from '../power-call.js';
import { Ec2Access, type Ec2AccessOptions, type InstanceView } from './ec2-access.js';
import { classifyEc2Error, toDriverError } from './errors.js';
import { alreadyUnderWay, startFailureReason } from './instance-state.js';
import { lookUpInstance } from './lookup.js';
import { runPreflight } from './preflight.js';
import { isAwsProviderId, parseAwsProviderId, regionOfZone } from './provider-id.js';
import { detachEbsVolume, waitForEbsDetached } from './volumes.js';

/** The driver's name, and the `provider` of the instances it resolves. */
export const EC2_DRIVER_NAME = 'aws';

/** Options of `createEc2Driver`. Everything is optional: the defaults fit a Lambda in the cluster's region. */
export interface Ec2DriverOptions extends Ec2AccessOptions {
  /** Use `region` for every call, ignoring the zone of the providerID (e.g. an emulator with one region). */
  pinRegion?: boolean;
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
  /** Delays between polls; `DEFAULT_POLL_SCHEDULE` of `functions/lib/wait.ts` by default. */
  pollSchedule?: readonly number[];
}

/** The EC2 implementation of `PowerDriver`. Build it with `createEc2Driver`. */
export class Ec2Driver implements driver.PowerDriver {
  readonly name = EC2_DRIVER_NAME;
  private readonly options: Ec2DriverOptions;
  private readonly ec2: Ec2Access;

  constructor(options: Ec2DriverOptions = {}) {
    this.options = options;
    this.ec2 = new Ec2Access(options);
  }

  handles(node: driver.NodeIdentity): boolean {
    return isAwsProviderId(node.providerID) || this.options.defaultDriver === true;
  }

  async resolve(node: driver.NodeIdentity, options: driver.CallOptions): Promise<driver.InstanceRef> {
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
      // A terminated instance is resolved: EC2's own record says it is off, and the fence releases its Node.
      const { description } = await this.ec2.read(ref, options);
      if (description.missing) {
        throw new InstanceNotFoundError(
          `node ${node.name}: instance ${parsed.instanceId} is not found in ${region ?? 'the default region'} for these credentials (a wrong account, role or region looks the same)`,
        );
      }
      return ref;
    }
    if (!this.handles(node)) {
      throw new InstanceNotFoundError(`node ${node.name} is not an EC2 node (providerID ${node.providerID})`);
    }
    const { clusterName, lookupTagKey, region } = this.options;
    const scope = {
      client: this.ec2.clientOf(region),
      region,
      clusterName,
      lookupTagKey,
      retry: this.ec2.retry,
    };
    const found = await lookUpInstance(node, scope, options);
    return { provider: EC2_DRIVER_NAME, ...found };
  }

  async describe(ref: driver.InstanceRef, options: driver.CallOptions): Promise<driver.InstanceDescription> {
    return (await this.ec2.read(ref, options)).description;
  }

  async powerOff(ref: driver.InstanceRef, options: driver.CallOptions): Promise<void> {
    // Force: a dead node's OS will not finish a graceful shutdown; SkipOsShutdown: do not even start one.
    const input = {
      InstanceIds: [ref.id],
      Force: true,
      ...(this.options.skipOsShutdown === false ? {} : { SkipOsShutdown: true }),
    };
    await this.powerCall(ref, 'off', options, (client, abortSignal) =>
      client.send(new StopInstancesCommand(input), { abortSignal }),
    );
  }

  async powerOn(ref: driver.InstanceRef, options: driver.CallOptions): Promise<void> {
    await this.powerCall(ref, 'on', options, (client, abortSignal) =>
      client.send(new StartInstancesCommand({ InstanceIds: [ref.id] }), { abortSignal }),
    );
  }

  async waitForPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.WaitOptions,
  ): Promise<driver.InstanceDescription> {
    const view = await pollUntil<InstanceView>({
      ...this.ec2.pollOptions(options, this.options.pollSchedule),
      what: `${ref.id} to be ${want}`,
      probe: () => this.ec2.read(ref, options),
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
          const reason = startFailureReason(instance);
          if (reason !== undefined) {
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

  async detachVolume(ref: driver.InstanceRef, volumeId: string, options: driver.CallOptions): Promise<void> {
    await detachEbsVolume(this.ec2, ref, volumeId, false, options);
  }

  async waitForDetached(
    ref: driver.InstanceRef,
    volumeIds: readonly string[],
    options: driver.CallOptions,
  ): Promise<void> {
    await waitForEbsDetached(this.ec2, ref, volumeIds, options, {
      forceDetachAfterMs: this.options.forceDetachAfterMs ?? 60_000,
      schedule: this.options.pollSchedule,
    });
  }

  async preflight(options: driver.CallOptions): Promise<driver.PreflightResult> {
    return runPreflight(this.ec2.clientOf(this.options.region), {
      ...options,
      retry: this.ec2.retry,
      ...(this.options.clusterName ? { clusterName: this.options.clusterName } : {}),
      ...(this.options.preflightInstanceId ? { instanceId: this.options.preflightInstanceId } : {}),
      ...(this.options.skipOsShutdown === false ? { skipOsShutdown: false } : {}),
    });
  }

  private regionOfZone(zone: string | undefined): string | undefined {
    return (zone ? regionOfZone(zone) : undefined) ?? this.options.region;
  }

  /**
   * Sends StopInstances or StartInstances. `IncorrectInstanceState` is never a blind repeat: the instance is
   * read again, and a stop or start already under way is done; otherwise the call is repeated with backoff
   * until the deadline. StopInstances refuses `pending` (repeat once it runs); StartInstances refuses
   * `stopping` (repeat once stopped) and `terminated` (never).
   */
  private async powerCall(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.CallOptions,
    send: Parameters<Ec2Access['call']>[3],
  ): Promise<void> {
    const action = want === 'off' ? 'ec2:StopInstances' : 'ec2:StartInstances';
    const [verb, doing] = want === 'off' ? ['stop', 'stopping'] : ['start', 'starting'];
    await sendPowerCall(
      async () => {
        await this.ec2.call(ref, `${action} ${ref.id}`, options, send);
      },
      async (error) => {
        const kind = classifyEc2Error(error);
        // Nothing to stop. Whether "not found" is off is for `waitForPower` with `notFoundMeansOff` to say.
        if (want === 'off' && kind === 'instance-not-found') return 'done';
        if (kind !== 'incorrect-instance-state') throw toDriverError(error, action, ref.id);
        const now = await this.describe(ref, options);
        if (want === 'on' && now.gone) {
          throw new InstanceNotFoundError(`cannot power on ${ref.id}: it is ${now.cloudState}`);
        }
        if (alreadyUnderWay(now, want)) return 'done';
        options.onProgress?.(`instance ${ref.id} is ${now.cloudState}: ${verb} refused, retrying`);
        return 'repeat';
      },
      {
        ...options,
        // Bounded by the deadline only: a `pending` or `stopping` instance settles within it or not at all.
        policy: { ...this.ec2.retry, maxAttempts: Number.POSITIVE_INFINITY },
        tooLate: (error) =>
          new DeadlineExceededError(`deadline passed before ${doing} ${ref.id}`, { cause: error }),
      },
    );
  }
}
