/**
 * Credential and permission pre-flight: every call the driver makes, sent with `DryRun: true`. EC2 answers
 * `DryRunOperation` when the call would have been allowed and `UnauthorizedOperation` when not, and changes
 * nothing either way.
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
import type { CallOptions, PreflightResult } from '../driver.js';
import { callWithin, type RetryPolicy } from './call.js';
import { awsErrorCode, classifyEc2Error } from './errors.js';

/** The IAM actions the driver needs, as `infra/aws/iam-policy.json` grants them. */
export const EC2_DRIVER_ACTIONS = [
  'ec2:DescribeInstances',
  'ec2:DescribeVolumes',
  'ec2:StopInstances',
  'ec2:StartInstances',
  'ec2:DetachVolume',
] as const;

export interface PreflightOptions extends CallOptions {
  retry: RetryPolicy;
  /** Sample only instances tagged `kubernetes.io/cluster/<name>`, which a tag-conditioned policy allows. */
  clusterName?: string;
  /** The instance the mutating dry runs name; found with DescribeInstances when absent. */
  instanceId?: string;
  /** Dry-run StopInstances with `SkipOsShutdown` as the driver sends it. Default true. */
  skipOsShutdown?: boolean;
}

// Syntactically valid ids that name nothing, for dry runs that have no real resource to name.
const PLACEHOLDER_VOLUME_ID = 'vol-00000000000000000';

type Verdict = { allowed: true } | { allowed: false; problem: string } | { allowed: 'unknown'; note: string };

/**
 * Dry-runs DescribeInstances and DescribeVolumes, then StopInstances, StartInstances and DetachVolume
 * against one instance of the cluster (a real one, because a policy conditioned on the instance's tags can
 * only be evaluated against an instance that has them), and names every missing permission.
 *
 * The DetachVolume dry run names a data volume of that instance if it has one, and never its root volume;
 * otherwise a placeholder volume id, whose `InvalidVolume.NotFound` answer is inconclusive and reported as a
 * progress note rather than a problem.
 */
export async function runPreflight(client: EC2Client, options: PreflightOptions): Promise<PreflightResult> {
  const problems: string[] = [];
  const record = (verdict: Verdict) => {
    if (verdict.allowed === false) problems.push(verdict.problem);
    if (verdict.allowed === 'unknown') options.onProgress?.(verdict.note);
  };

  const describe = await dryRun(
    'ec2:DescribeInstances',
    (abortSignal) => client.send(new DescribeInstancesCommand({ DryRun: true }), { abortSignal }),
    options,
  );
  record(describe);
  record(
    await dryRun(
      'ec2:DescribeVolumes',
      (abortSignal) => client.send(new DescribeVolumesCommand({ DryRun: true }), { abortSignal }),
      options,
    ),
  );
  if (describe.allowed !== true) return { ok: false, problems };

  const sample = await sampleInstance(client, options);
  if ('problem' in sample) return { ok: false, problems: [...problems, sample.problem] };
  const instanceId = sample.instance.InstanceId ?? '';
  const on = ` (dry run on ${instanceId})`;

  record(
    await dryRun(
      'ec2:StopInstances',
      (abortSignal) =>
        client.send(
          new StopInstancesCommand({
            InstanceIds: [instanceId],
            Force: true,
            ...(options.skipOsShutdown === false ? {} : { SkipOsShutdown: true }),
            DryRun: true,
          }),
          { abortSignal },
        ),
      options,
      on,
    ),
  );
  record(
    await dryRun(
      'ec2:StartInstances',
      (abortSignal) =>
        client.send(new StartInstancesCommand({ InstanceIds: [instanceId], DryRun: true }), { abortSignal }),
      options,
      on,
    ),
  );
  const volumeId = dataVolumeOf(sample.instance) ?? PLACEHOLDER_VOLUME_ID;
  record(
    await dryRun(
      'ec2:DetachVolume',
      (abortSignal) =>
        client.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, DryRun: true }), {
          abortSignal,
        }),
      options,
      ` (dry run on ${instanceId}, ${volumeId})`,
    ),
  );
  return { ok: problems.length === 0, problems };
}

async function dryRun(
  action: string,
  operation: (abortSignal: AbortSignal) => Promise<unknown>,
  options: PreflightOptions,
  where = '',
): Promise<Verdict> {
  try {
    await callWithin(operation, options, options.retry, `${action} dry run`);
    // A read that succeeds was allowed, dry run or not (moto ignores DryRun on DescribeVolumes). A mutating
    // call that succeeds was not a dry run at all: an endpoint that ignores the flag must be reported.
    if (action.startsWith('ec2:Describe')) return { allowed: true };
    return { allowed: false, problem: `${action}: the endpoint ignored DryRun${where}` };
  } catch (error) {
    const kind = classifyEc2Error(error);
    const code = awsErrorCode(error) ?? String(error);
    if (kind === 'dry-run-ok') return { allowed: true };
    if (code === 'UnauthorizedOperation')
      return { allowed: false, problem: `missing permission ${action}${where}` };
    if (kind === 'auth')
      return { allowed: false, problem: `${action}: credentials rejected (${code})${where}` };
    if (kind === 'volume-not-attached') {
      return { allowed: 'unknown', note: `${action} could not be verified${where}: ${code}` };
    }
    return { allowed: false, problem: `${action}: check failed (${code})${where}` };
  }
}

async function sampleInstance(
  client: EC2Client,
  options: PreflightOptions,
): Promise<{ instance: Instance } | { problem: string }> {
  const filters: Filter[] = [
    { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ...(options.clusterName
      ? [{ Name: 'tag-key', Values: [`kubernetes.io/cluster/${options.clusterName}`] }]
      : []),
  ];
  const input = options.instanceId
    ? { InstanceIds: [options.instanceId] }
    : { Filters: filters, MaxResults: 5 };
  try {
    const output = await callWithin(
      (abortSignal) => client.send(new DescribeInstancesCommand(input), { abortSignal }),
      options,
      options.retry,
      'ec2:DescribeInstances (pre-flight sample)',
    );
    const instance = output.Reservations?.flatMap((reservation) => reservation.Instances ?? []).find(
      (candidate) => candidate.InstanceId,
    );
    if (instance) return { instance };
    return {
      problem: options.clusterName
        ? `no instance tagged kubernetes.io/cluster/${options.clusterName} in this region to check StopInstances, StartInstances and DetachVolume against (wrong region or cluster name?)`
        : 'no instance in this region to check StopInstances, StartInstances and DetachVolume against (wrong region?)',
    };
  } catch (error) {
    return { problem: `ec2:DescribeInstances failed (${awsErrorCode(error) ?? String(error)})` };
  }
}

/** A non-root EBS volume of the instance, so the DetachVolume dry run never names the root volume. */
function dataVolumeOf(instance: Instance): string | undefined {
  if (!instance.RootDeviceName) return undefined;
  return instance.BlockDeviceMappings?.find(
    (mapping) => mapping.Ebs?.VolumeId && mapping.DeviceName !== instance.RootDeviceName,
  )?.Ebs?.VolumeId;
}
