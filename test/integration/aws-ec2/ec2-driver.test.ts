/**
 * The EC2 driver against a real moto server over loopback, through `@aws-sdk/client-ec2`. Moto changes
 * states at once and ignores `Force`, so the transitional states are covered by the unit tests; this proves
 * the wire: requests moto accepts, answers the driver parses, and the resulting EC2 state.
 */
import { CreateTagsCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { createEc2Driver } from '../../../drivers/aws-ec2/index.js';
import {
  InstanceNotFoundError,
  type NodeIdentity,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import {
  attachDataVolume,
  countingEc2Client,
  readInstance,
  readVolume,
  rootVolumeOf,
  runInstance,
  useMoto,
} from './moto-ec2.js';

describe('Ec2Driver against moto', () => {
  const suite = useMoto();

  function driverOnMoto(options: Parameters<typeof createEc2Driver>[0] = {}) {
    const counting = countingEc2Client(suite.moto);
    const driver = createEc2Driver({ clients: { ec2: counting.client }, ...options });
    return { driver, calls: counting.calls };
  }

  const deadline = () => ({ deadline: Date.now() + 30_000 });

  it('should power off, detach the PV volume and power on, as DescribeInstances and DescribeVolumes show', async () => {
    // Prepare
    const instance = await runInstance(suite.ec2);
    const instanceId = instance.InstanceId ?? '';
    const pvVolume = await attachDataVolume(suite.ec2, instance);
    const rootVolume = rootVolumeOf(await readInstance(suite.ec2, instanceId));
    const node: NodeIdentity = {
      name: instance.PrivateDnsName ?? 'worker-1',
      providerID: `aws:///${instance.Placement?.AvailabilityZone}/${instanceId}`,
      internalIPs: [instance.PrivateIpAddress ?? ''],
    };
    const { driver, calls } = driverOnMoto();
    const progress: string[] = [];
    const options = () => ({ ...deadline(), onProgress: (line: string) => progress.push(line) });

    // Act: the driver's part of one fence, in the workflow's order.
    const ref = await driver.resolve(node, options());
    const before = await driver.describe(ref, options());
    await driver.powerOff(ref, options());
    const off = await driver.waitForPower(ref, 'off', options());
    const stoppedState = (await readInstance(suite.ec2, instanceId)).State?.Name;
    await driver.detachVolume(ref, pvVolume, options());
    await driver.waitForDetached(ref, [pvVolume], options());
    const detachedVolume = await readVolume(suite.ec2, pvVolume);
    await driver.powerOn(ref, options());
    const on = await driver.waitForPower(ref, 'on', options());

    // Assess
    expect(ref).toEqual({ provider: 'aws', id: instanceId, region: suite.moto.region });
    expect(before.power).toBe('on');
    expect(before.volumes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: rootVolume, root: true }),
        { id: pvVolume, device: '/dev/sdf' },
      ]),
    );
    expect(off).toMatchObject({ power: 'off', cloudState: 'stopped', gone: false });
    expect(stoppedState).toBe('stopped');
    expect(detachedVolume.State).toBe('available');
    expect(detachedVolume.Attachments ?? []).toEqual([]);
    expect(on).toMatchObject({ power: 'on', cloudState: 'running' });
    const after = await readInstance(suite.ec2, instanceId);
    expect(after.State?.Name).toBe('running');
    expect(after.BlockDeviceMappings?.map((mapping) => mapping.Ebs?.VolumeId)).toEqual([rootVolume]);
    expect((await readVolume(suite.ec2, rootVolume)).State).toBe('in-use');
    // The EC2 calls of one fence (measured; see the driver's README section): resolve reads the instance the
    // providerID names (a wrong account or region must be refused there, not later read as off), and each
    // wait ends on its first poll because moto's transitions are immediate.
    expect(calls).toEqual([
      'DescribeInstances', // resolve: the instance exists for these credentials
      'DescribeInstances', // describe
      'StopInstances', // powerOff
      'DescribeInstances', // waitForPower off: first poll
      'DescribeInstances', // detachVolume: attached here? root? instance off?
      'DetachVolume',
      'DescribeVolumes', // waitForDetached: first poll
      'StartInstances', // powerOn
      'DescribeInstances', // waitForPower on: first poll
    ]);
    expect(progress).toEqual([]);
  });

  it('should refuse to detach the root volume and leave it attached', async () => {
    // Prepare
    const instance = await runInstance(suite.ec2);
    const instanceId = instance.InstanceId ?? '';
    const rootVolume = rootVolumeOf(await readInstance(suite.ec2, instanceId));
    const { driver, calls } = driverOnMoto();
    const ref = { provider: 'aws', id: instanceId, region: suite.moto.region };
    await driver.powerOff(ref, deadline());
    await driver.waitForPower(ref, 'off', deadline());

    // Act
    const detaching = driver.detachVolume(ref, rootVolume, deadline());

    // Assess
    await expect(detaching).rejects.toThrow(VolumeDetachRefusedError);
    expect(calls).not.toContain('DetachVolume');
    expect((await readVolume(suite.ec2, rootVolume)).Attachments?.[0]).toMatchObject({
      InstanceId: instanceId,
      State: 'attached',
    });
  });

  it('should refuse to detach a PV volume while the instance is running', async () => {
    // Prepare
    const instance = await runInstance(suite.ec2);
    const pvVolume = await attachDataVolume(suite.ec2, instance);
    const { driver, calls } = driverOnMoto();
    const ref = { provider: 'aws', id: instance.InstanceId ?? '', region: suite.moto.region };

    // Act
    const detaching = driver.detachVolume(ref, pvVolume, deadline());

    // Assess
    await expect(detaching).rejects.toThrow(/not off/);
    expect(calls).not.toContain('DetachVolume');
    expect((await readVolume(suite.ec2, pvVolume)).State).toBe('in-use');
  });

  it('should count a terminated instance as off and gone, and never wait for it to come on', async () => {
    // Prepare
    const instance = await runInstance(suite.ec2);
    const instanceId = instance.InstanceId ?? '';
    await suite.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    const { driver, calls } = driverOnMoto();
    const ref = { provider: 'aws', id: instanceId, region: suite.moto.region };

    // Act
    const off = await driver.waitForPower(ref, 'off', deadline());
    const waitingForOn = driver.waitForPower(ref, 'on', deadline());

    // Assess
    expect(off).toMatchObject({ power: 'off', gone: true, cloudState: 'terminated' });
    await expect(waitingForOn).rejects.toThrow(InstanceNotFoundError);
    // moto would "start" a terminated instance (it checks no state); the driver never asks it to.
    expect(calls).not.toContain('StartInstances');
  });

  it('should report an instance id moto does not know as missing, never as off', async () => {
    // Prepare
    const { driver } = driverOnMoto();

    // Act
    const description = await driver.describe(
      { provider: 'aws', id: 'i-0123456789abcdef0', region: suite.moto.region },
      deadline(),
    );

    // Assess: a wrong account, role or region answers the same NotFound, so it proves nothing by itself.
    expect(description).toMatchObject({
      power: 'unknown',
      gone: false,
      missing: true,
      cloudState: 'not-found',
    });
  });

  it('should look a node without providerID up by private DNS name and InternalIP together, never by one alone', async () => {
    // Prepare
    const instance = await runInstance(suite.ec2);
    const other = await runInstance(suite.ec2);
    const { driver } = driverOnMoto({ defaultDriver: true, region: suite.moto.region });
    const name = instance.PrivateDnsName ?? '';
    const address = instance.PrivateIpAddress ?? '';

    // Act
    const both = await driver.resolve({ name, internalIPs: [address] }, deadline());
    const nameOnly = driver.resolve({ name, internalIPs: [] }, deadline());
    const addressOnly = driver.resolve({ name: 'worker-renamed', internalIPs: [address] }, deadline());
    const disagreeing = driver.resolve({ name, internalIPs: [other.PrivateIpAddress ?? ''] }, deadline());

    // Assess: names and addresses both get reused; only the two agreeing on one machine identify it. The
    // three lookups run at once, so every refusal is awaited together: one awaited after another could reject
    // first, unhandled.
    expect(both).toEqual({ provider: 'aws', id: instance.InstanceId, region: suite.moto.region });
    await Promise.all([
      expect(nameOnly).rejects.toThrow(/reports no InternalIP/),
      expect(addressOnly).rejects.toThrow(InstanceNotFoundError),
      expect(disagreeing).rejects.toThrow(InstanceNotFoundError),
    ]);
  });

  it('should refuse a lookup that several instances match, and one that none matches', async () => {
    // Prepare
    const first = await runInstance(suite.ec2);
    const second = await runInstance(suite.ec2);
    await suite.ec2.send(
      new CreateTagsCommand({
        Resources: [first.InstanceId ?? '', second.InstanceId ?? ''],
        Tags: [{ Key: 'alertfence.io/node', Value: 'worker-1' }],
      }),
    );
    const { driver } = driverOnMoto({
      defaultDriver: true,
      lookupTagKey: 'alertfence.io/node',
      region: suite.moto.region,
    });

    // Act: a node that reports both addresses (a reused address, a copied tag): two machines match.
    const ambiguous = driver.resolve(
      { name: 'worker-1', internalIPs: [first.PrivateIpAddress ?? '', second.PrivateIpAddress ?? ''] },
      deadline(),
    );
    const unknown = driver.resolve({ name: 'worker-2', internalIPs: ['10.255.255.254'] }, deadline());

    // Assess
    await Promise.all([
      expect(ambiguous).rejects.toThrow(/2 instances match tag alertfence.io\/node=worker-1/),
      expect(unknown).rejects.toThrow(InstanceNotFoundError),
    ]);
  });

  it('should only look at instances of the configured cluster', async () => {
    // Prepare
    const member = await runInstance(suite.ec2, [{ Key: 'kubernetes.io/cluster/prod', Value: 'owned' }]);
    const outsider = await runInstance(suite.ec2);
    await suite.ec2.send(
      new CreateTagsCommand({
        Resources: [member.InstanceId ?? '', outsider.InstanceId ?? ''],
        Tags: [{ Key: 'alertfence.io/node', Value: 'worker-1' }],
      }),
    );
    const { driver } = driverOnMoto({
      defaultDriver: true,
      lookupTagKey: 'alertfence.io/node',
      clusterName: 'prod',
      region: suite.moto.region,
    });

    // Act: both carry the node's tag and one of its addresses; only one carries the cluster's tag.
    const ref = await driver.resolve(
      {
        name: 'worker-1',
        internalIPs: [member.PrivateIpAddress ?? '', outsider.PrivateIpAddress ?? ''],
      },
      deadline(),
    );

    // Assess
    expect(ref.id).toBe(member.InstanceId);
  });

  it('should pass the pre-flight: moto answers every dry run with DryRunOperation and changes nothing', async () => {
    // Prepare
    const instance = await runInstance(suite.ec2, [{ Key: 'kubernetes.io/cluster/prod', Value: 'owned' }]);
    const pvVolume = await attachDataVolume(suite.ec2, instance);
    const { driver, calls } = driverOnMoto({ clusterName: 'prod', region: suite.moto.region });

    // Act
    const result = await driver.preflight(deadline());

    // Assess
    expect(result).toEqual({ ok: true, problems: [] });
    expect(calls).toEqual([
      'DescribeInstances',
      'DescribeVolumes',
      'DescribeInstances',
      'StopInstances',
      'StartInstances',
      'DetachVolume',
    ]);
    expect((await readInstance(suite.ec2, instance.InstanceId ?? '')).State?.Name).toBe('running');
    expect((await readVolume(suite.ec2, pvVolume)).State).toBe('in-use');
  });

  it('should build its own clients from endpoint, region and credentials, and assume a role through STS', async () => {
    // Prepare
    const instance = await runInstance(suite.ec2);
    const driver = createEc2Driver({
      endpoint: suite.moto.endpoint,
      region: suite.moto.region,
      credentials: suite.moto.credentials,
      roleArn: 'arn:aws:iam::123456789012:role/alertfence-fencer',
      stsEndpoint: suite.moto.endpoint,
    });
    const ref = await driver.resolve(
      {
        name: 'worker-1',
        providerID: `aws:///${instance.Placement?.AvailabilityZone}/${instance.InstanceId}`,
        internalIPs: [],
      },
      deadline(),
    );

    // Act
    await driver.powerOff(ref, deadline());
    const off = await driver.waitForPower(ref, 'off', deadline());

    // Assess
    expect(off.cloudState).toBe('stopped');
  });
});
