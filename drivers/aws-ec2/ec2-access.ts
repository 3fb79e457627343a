/**
 * The EC2 calls of the driver, one client per region: each call bounded by the deadline and retried by
 * `callWithin`, and the read of one instance (refusing one that is not the configured cluster's).
 */

import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import type { CallOptions, InstanceDescription, InstanceRef } from '../driver.js';
import { InstanceNotFoundError } from '../driver.js';
import { callWithin, DEFAULT_RETRY_POLICY, type RetryPolicy } from './call.js';
import { cachedEc2ClientFactory, type Ec2ClientFactory, type Ec2ClientOptions } from './clients.js';
import { classifyEc2Error, toDriverError } from './errors.js';
import { describeInstance, instanceIn, missingInstance } from './instance-state.js';

/** Where the EC2 calls go and how they are retried. */
export interface Ec2AccessOptions extends Ec2ClientOptions {
  /**
   * Region for lookups without a providerID, the pre-flight, and providerIDs without a zone. Instances
   * named by `aws:///<zone>/<id>` use their zone's region unless `pinRegion` is set. Default: the SDK's
   * (`AWS_REGION`).
   */
  region?: string;
  /**
   * When set, the driver acts only on instances tagged `kubernetes.io/cluster/<name>` (the tag EKS, Karpenter,
   * eksctl and kOps put on nodes): an instance without it is refused wherever it comes from (a providerID, a
   * lookup), and the pre-flight samples one of the cluster's instances.
   */
  clusterName?: string;
  /** Ready-made EC2 clients (tests, custom middleware): one for every region, or a factory per region. */
  clients?: { ec2?: EC2Client | Ec2ClientFactory };
  /** Backoff of throttled and failed calls. */
  retry?: Partial<Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'maxAttempts'>>;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** An instance as the driver reads it: its description, and the raw instance when it exists. */
export interface InstanceView {
  description: InstanceDescription;
  instance?: Instance;
}

/** The driver's EC2 calls. */
export class Ec2Access {
  /** The client of a region (the configured one for `undefined`). */
  readonly clientOf: Ec2ClientFactory;
  readonly retry: RetryPolicy;
  readonly #options: Ec2AccessOptions;

  constructor(options: Ec2AccessOptions) {
    this.#options = options;
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
  }

  /** One SDK call in `ref`'s region, bounded by the deadline and retried as `callWithin` says. */
  call<T>(
    ref: InstanceRef,
    what: string,
    options: CallOptions,
    send: (client: EC2Client, abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const client = this.clientOf(ref.region ?? this.#options.region);
    return callWithin((abortSignal) => send(client, abortSignal), options, this.retry, what);
  }

  /** The bounds of a `pollUntil` of the caller's, on this access's clock. */
  pollOptions(options: CallOptions, schedule: readonly number[] | undefined) {
    const { deadline, signal, onProgress } = options;
    return { deadline, signal, onProgress, schedule, sleep: this.retry.sleep, now: this.retry.now };
  }

  /** Reads the instance; one EC2 does not know is `missing`, never off. */
  async read(ref: InstanceRef, options: CallOptions): Promise<InstanceView> {
    try {
      const output = await this.call(ref, `ec2:DescribeInstances ${ref.id}`, options, (client, abortSignal) =>
        client.send(new DescribeInstancesCommand({ InstanceIds: [ref.id] }), { abortSignal }),
      );
      const instance = instanceIn(output, ref.id);
      if (!instance) return { description: missingInstance(ref) };
      this.#requireClusterTag(instance);
      return { description: describeInstance(ref, instance), instance };
    } catch (error) {
      // Terminated instances disappear from DescribeInstances after about an hour, and an instance of another
      // account never shows: either way "not found", which is not "off" (see `InstanceDescription.missing`).
      if (classifyEc2Error(error) === 'instance-not-found') return { description: missingInstance(ref) };
      throw toDriverError(error, 'ec2:DescribeInstances', ref.id);
    }
  }

  /** With a cluster name configured, an instance without the cluster's tag is not ours to touch. */
  #requireClusterTag(instance: Instance): void {
    const cluster = this.#options.clusterName;
    if (!cluster) return;
    const key = `kubernetes.io/cluster/${cluster}`;
    if (!(instance.Tags ?? []).some((tag) => tag.Key === key)) {
      throw new InstanceNotFoundError(
        `instance ${instance.InstanceId} does not carry the tag ${key}: it is not a machine of cluster ${cluster} (ALERTFENCE_AWS_CLUSTER_NAME)`,
      );
    }
  }
}
