import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type InstanceStateName,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ec2ApiError } from '../../../drivers/aws-ec2/index.js';
import {
  DeadlineExceededError,
  DriverAuthError,
  InstanceNotFoundError,
  type PowerState,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import { DEFAULT_POLL_SCHEDULE, PROBE_RESERVE_MS } from '../../../functions/lib/wait.js';
import {
  awsError,
  INSTANCE_ID,
  instanceOutput,
  OTHER_INSTANCE_ID,
  PV_VOLUME,
  REF,
  ROOT_VOLUME,
  setup,
  volumesOutput,
} from './helpers.js';

describe('Ec2Driver', () => {
  describe('handles and resolve', () => {
    it.each([
      { providerID: `aws:///eu-west-1b/${INSTANCE_ID}`, defaultDriver: false, expected: true },
      {
        providerID: 'openstack:///0c4f3d1a-5b7e-4f0e-9a43-6f2f4b3c9d11',
        defaultDriver: false,
        expected: false,
      },
      { providerID: undefined, defaultDriver: false, expected: false },
      { providerID: undefined, defaultDriver: true, expected: true },
      { providerID: 'k3s://worker-1', defaultDriver: true, expected: true },
    ])(
      'should claim $providerID when defaultDriver=$defaultDriver: $expected',
      ({ providerID, defaultDriver, expected }) => {
        // Prepare
        const { driver } = setup({ defaultDriver });

        // Act
        const claimed = driver.handles({
          name: 'worker-1',
          internalIPs: [],
          ...(providerID ? { providerID } : {}),
        });

        // Assess
        expect(claimed).toBe(expected);
      },
    );

    it('should take the instance and the region from the providerID, and read it there', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'running' }));

      // Act
      const ref = await driver.resolve(
        { name: 'worker-1', providerID: `aws:///us-west-2-lax-1a/${INSTANCE_ID}`, internalIPs: [] },
        deadlineIn(10_000),
      );

      // Assess
      expect(ref).toEqual({ provider: 'aws', id: INSTANCE_ID, region: 'us-west-2' });
      expect(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input).toEqual({
        InstanceIds: [INSTANCE_ID],
      });
    });

    it("should resolve a providerID whose instance is terminated: EC2's own record says it is off", async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'terminated' }));

      // Act
      const ref = await driver.resolve(
        { name: 'worker-1', providerID: `aws:///eu-west-1a/${INSTANCE_ID}`, internalIPs: [] },
        deadlineIn(10_000),
      );
      const description = await driver.describe(ref, deadlineIn(10_000));

      // Assess
      expect(ref.id).toBe(INSTANCE_ID);
      expect(description).toMatchObject({ power: 'off', gone: true, missing: false });
    });

    it('should use the configured region instead of the zone when pinRegion is set', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ region: 'us-east-1', pinRegion: true });
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'running' }));

      // Act
      const ref = await driver.resolve(
        { name: 'worker-1', providerID: `aws:///eu-west-1a/${INSTANCE_ID}`, internalIPs: [] },
        deadlineIn(10_000),
      );

      // Assess
      expect(ref.region).toBe('us-east-1');
    });

    it.each([
      'aws:///eu-west-1a/',
      'aws:///eu-west-1a/not-an-instance',
      'aws:///us-west-2c/5c4d6c7d9d-abcde/fargate-ip-10-0-1-2.us-west-2.compute.internal',
    ])('should refuse the providerID %s', async (providerID) => {
      // Prepare
      const { driver, deadlineIn } = setup();

      // Act
      const resolving = driver.resolve({ name: 'worker-1', providerID, internalIPs: [] }, deadlineIn(10_000));

      // Assess
      await expect(resolving).rejects.toBeInstanceOf(InstanceNotFoundError);
    });

    it('should look a node without providerID up by tag first, within the cluster', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({
        defaultDriver: true,
        lookupTagKey: 'alertfence.io/node',
        clusterName: 'prod',
        region: 'eu-west-1',
      });
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'running' }));

      // Act
      const ref = await driver.resolve({ name: 'worker-1', internalIPs: ['10.0.0.7'] }, deadlineIn(10_000));

      // Assess
      expect(ref).toEqual({ provider: 'aws', id: INSTANCE_ID, region: 'eu-west-1' });
      expect(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters).toEqual([
        { Name: 'tag-key', Values: ['kubernetes.io/cluster/prod'] },
        { Name: 'private-ip-address', Values: ['10.0.0.7'] },
        { Name: 'tag:alertfence.io/node', Values: ['worker-1'] },
      ]);
    });

    it('should fall back from the tag to the private DNS name, always with the InternalIP, never by IP alone', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ defaultDriver: true, lookupTagKey: 'alertfence.io/node' });
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce({ $metadata: {}, Reservations: [] })
        .resolves(instanceOutput({ state: 'stopped' }));

      // Act
      const ref = await driver.resolve({ name: 'worker-1', internalIPs: ['10.0.0.7'] }, deadlineIn(10_000));

      // Assess
      expect(ref.id).toBe(INSTANCE_ID);
      const filters = ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input.Filters);
      const byIp = { Name: 'private-ip-address', Values: ['10.0.0.7'] };
      expect(filters).toEqual([
        [byIp, { Name: 'tag:alertfence.io/node', Values: ['worker-1'] }],
        [byIp, { Name: 'private-dns-name', Values: ['worker-1'] }],
      ]);
    });

    it('should refuse to look up a node that reports no InternalIP', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ defaultDriver: true });

      // Act
      const resolving = driver.resolve({ name: 'worker-1', internalIPs: [] }, deadlineIn(10_000));

      // Assess
      await expect(resolving).rejects.toThrow(/never by name alone/);
      expect(ec2.calls()).toHaveLength(0);
    });

    it('should refuse a node that no instance matches', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ defaultDriver: true });
      ec2.on(DescribeInstancesCommand).resolves({ $metadata: {}, Reservations: [] });

      // Act
      const resolving = driver.resolve({ name: 'worker-1', internalIPs: ['10.0.0.7'] }, deadlineIn(10_000));

      // Assess
      await expect(resolving).rejects.toThrow(InstanceNotFoundError);
      await expect(resolving).rejects.toThrow(/no instance matches/);
    });

    it('should refuse a node that several instances match, without trying further', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ defaultDriver: true });
      ec2.on(DescribeInstancesCommand).resolves({
        $metadata: {},
        Reservations: [
          { Instances: [{ InstanceId: INSTANCE_ID }] },
          { Instances: [{ InstanceId: OTHER_INSTANCE_ID }] },
        ],
      });

      // Act
      const resolving = driver.resolve({ name: 'worker-1', internalIPs: ['10.0.0.7'] }, deadlineIn(10_000));

      // Assess
      await expect(resolving).rejects.toThrow(/2 instances match private DNS name worker-1/);
      expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
    });
  });

  describe('describe', () => {
    it.each<{ state: InstanceStateName; power: PowerState; gone: boolean }>([
      { state: 'running', power: 'on', gone: false },
      { state: 'stopped', power: 'off', gone: false },
      { state: 'terminated', power: 'off', gone: true },
      { state: 'pending', power: 'transitioning', gone: false },
      { state: 'stopping', power: 'transitioning', gone: false },
      { state: 'shutting-down', power: 'transitioning', gone: false },
    ])('should map $state to $power (gone: $gone)', async ({ state, power, gone }) => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state }));

      // Act
      const description = await driver.describe(REF, deadlineIn(10_000));

      // Assess
      expect(description).toMatchObject({ power, gone, cloudState: state });
    });

    it('should list attached volumes with the root volume flagged', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolves(
          instanceOutput({ state: 'running', data: { [PV_VOLUME]: 'attached', 'vol-0gone': 'detached' } }),
        );

      // Act
      const description = await driver.describe(REF, deadlineIn(10_000));

      // Assess
      expect(description.volumes).toEqual([
        { id: ROOT_VOLUME, device: '/dev/xvda', root: true },
        { id: PV_VOLUME, device: '/dev/xvdb' },
      ]);
    });

    it('should report an instance EC2 does not know as missing, of unknown power, never off', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));

      // Act
      const description = await driver.describe(REF, deadlineIn(10_000));

      // Assess
      expect(description).toMatchObject({
        power: 'unknown',
        missing: true,
        gone: false,
        cloudState: 'not-found',
        volumes: [],
      });
    });

    it('should refuse a malformed instance id', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.Malformed'));

      // Act
      const describing = driver.describe(REF, deadlineIn(10_000));

      // Assess
      await expect(describing).rejects.toBeInstanceOf(InstanceNotFoundError);
    });
  });

  describe('powerOff and powerOn', () => {
    it('should hard-stop with Force and SkipOsShutdown', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(StopInstancesCommand).resolves({ $metadata: {} });

      // Act
      await driver.powerOff(REF, deadlineIn(10_000));

      // Assess
      expect(ec2.commandCalls(StopInstancesCommand)[0]?.args[0].input).toEqual({
        InstanceIds: [INSTANCE_ID],
        Force: true,
        SkipOsShutdown: true,
      });
    });

    it('should leave SkipOsShutdown out when configured so', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ skipOsShutdown: false });
      ec2.on(StopInstancesCommand).resolves({ $metadata: {} });

      // Act
      await driver.powerOff(REF, deadlineIn(10_000));

      // Assess
      expect(ec2.commandCalls(StopInstancesCommand)[0]?.args[0].input).toEqual({
        InstanceIds: [INSTANCE_ID],
        Force: true,
      });
    });

    it('should re-read on IncorrectInstanceState and stop again once a pending instance runs', async () => {
      // Prepare
      const { driver, ec2, clock, deadlineIn } = setup();
      ec2
        .on(StopInstancesCommand)
        .rejectsOnce(awsError('IncorrectInstanceState'))
        .resolves({ $metadata: {} });
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'pending' }));

      // Act
      await driver.powerOff(REF, deadlineIn(10_000));

      // Assess
      expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(2);
      expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
      expect(clock.sleeps).toEqual([150]);
    });

    it.each<InstanceStateName>(['shutting-down', 'terminated', 'stopping'])(
      'should accept IncorrectInstanceState when the instance is already %s',
      async (state) => {
        // Prepare
        const { driver, ec2, deadlineIn } = setup();
        ec2.on(StopInstancesCommand).rejects(awsError('IncorrectInstanceState'));
        ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state }));

        // Act
        await driver.powerOff(REF, deadlineIn(10_000));

        // Assess
        expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(1);
      },
    );

    it('should treat stopping an instance EC2 no longer knows as done', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(StopInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));

      // Act
      const stopping = driver.powerOff(REF, deadlineIn(10_000));

      // Assess
      await expect(stopping).resolves.toBeUndefined();
    });

    it('should wait for a stopping instance before starting it', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(StartInstancesCommand)
        .rejectsOnce(awsError('IncorrectInstanceState'))
        .resolves({ $metadata: {} });
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'stopping' }));

      // Act
      await driver.powerOn(REF, deadlineIn(10_000));

      // Assess
      expect(ec2.commandCalls(StartInstancesCommand)).toHaveLength(2);
    });

    it('should refuse to power on a terminated instance', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(StartInstancesCommand).rejects(awsError('IncorrectInstanceState'));
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'terminated' }));

      // Act
      const starting = driver.powerOn(REF, deadlineIn(10_000));

      // Assess
      await expect(starting).rejects.toThrow(InstanceNotFoundError);
      expect(ec2.commandCalls(StartInstancesCommand)).toHaveLength(1);
    });

    it.each(['UnauthorizedOperation', 'AuthFailure'])(
      'should fail %s with a DriverAuthError after one call',
      async (code) => {
        // Prepare
        const { driver, ec2, deadlineIn } = setup();
        ec2.on(StopInstancesCommand).rejects(awsError(code, 403));

        // Act
        const stopping = driver.powerOff(REF, deadlineIn(10_000));

        // Assess
        await expect(stopping).rejects.toThrow(DriverAuthError);
        await expect(stopping).rejects.toMatchObject({ retryable: false });
        expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(1);
      },
    );
  });

  describe('throttling', () => {
    it('should back off and retry throttled calls with growing delays', async () => {
      // Prepare
      const { driver, ec2, clock, deadlineIn } = setup();
      ec2
        .on(StopInstancesCommand)
        .rejectsOnce(awsError('RequestLimitExceeded', 503))
        .rejectsOnce(awsError('Throttling', 400))
        .rejectsOnce(awsError('InternalError', 500))
        .resolves({ $metadata: {} });

      // Act
      await driver.powerOff(REF, deadlineIn(60_000));

      // Assess
      expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(4);
      // Equal jitter with random() = 0.5: three quarters of 200, 400, 800 ms.
      expect(clock.sleeps).toEqual([150, 300, 600]);
    });

    it('should give up with DeadlineExceededError when throttling outlasts the deadline', async () => {
      // Prepare
      const { driver, ec2, clock, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).rejects(awsError('RequestLimitExceeded', 503));
      const options = deadlineIn(2_000);

      // Act
      const describing = driver.describe(REF, options);

      // Assess
      await expect(describing).rejects.toThrow(DeadlineExceededError);
      await expect(describing).rejects.toMatchObject({ cause: { name: 'RequestLimitExceeded' } });
      expect(clock.time).toBeLessThan(options.deadline);
    });

    it('should stop retrying after maxAttempts and say the failure is retryable', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ retry: { maxAttempts: 2 } });
      ec2.on(DescribeInstancesCommand).rejects(awsError('ServiceUnavailable', 503));

      // Act
      const describing = driver.describe(REF, deadlineIn(60_000));

      // Assess
      await expect(describing).rejects.toBeInstanceOf(Ec2ApiError);
      await expect(describing).rejects.toMatchObject({ retryable: true, code: 'ServiceUnavailable' });
      expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(2);
    });
  });

  describe('waitForPower', () => {
    it('should wait through stopping until stopped over several polls', async () => {
      // Prepare
      const { driver, ec2, clock, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce(instanceOutput({ state: 'stopping' }))
        .resolvesOnce(instanceOutput({ state: 'stopping' }))
        .resolvesOnce(instanceOutput({ state: 'stopping' }))
        .resolves(instanceOutput({ state: 'stopped' }));
      const progress: string[] = [];

      // Act
      const description = await driver.waitForPower(REF, 'off', {
        ...deadlineIn(60_000),
        onProgress: (line) => progress.push(line),
      });

      // Assess
      expect(description).toMatchObject({ power: 'off', cloudState: 'stopped' });
      expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(4);
      expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(0);
      expect(clock.sleeps).toEqual(DEFAULT_POLL_SCHEDULE.slice(0, 3));
      expect(progress[0]).toMatch(/stopping/);
    });

    it('should throw DeadlineExceededError with the last state when the deadline runs out mid-wait', async () => {
      // Prepare
      const { driver, ec2, clock, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'stopping' }));
      const options = deadlineIn(2_000);

      // Act
      const waiting = driver.waitForPower(REF, 'off', options);

      // Assess
      await expect(waiting).rejects.toThrow(DeadlineExceededError);
      await expect(waiting).rejects.toThrow(/last state: stopping/);
      // 250 + 500, then the sleep is cut to 750 ms so the last probe keeps PROBE_RESERVE_MS to answer.
      expect(clock.sleeps).toEqual([250, 500, 750]);
      expect(clock.time).toBe(options.deadline - PROBE_RESERVE_MS);
    });

    it('should count terminated as off', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce(instanceOutput({ state: 'shutting-down' }))
        .resolves(instanceOutput({ state: 'terminated' }));

      // Act
      const description = await driver.waitForPower(REF, 'off', deadlineIn(60_000));

      // Assess
      expect(description).toMatchObject({ power: 'off', gone: true, cloudState: 'terminated' });
    });

    it('should count an instance that disappeared as off only for a caller that saw it exist', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce(instanceOutput({ state: 'stopping' }))
        .rejects(awsError('InvalidInstanceID.NotFound'));

      // Act
      const seen = await driver.waitForPower(REF, 'off', { ...deadlineIn(60_000), notFoundMeansOff: true });
      const unproven = driver.waitForPower(REF, 'off', deadlineIn(60_000));

      // Assess
      expect(seen).toMatchObject({ missing: true });
      await expect(unproven).rejects.toBeInstanceOf(DeadlineExceededError);
    });

    it('should re-issue the stop when the instance is running after a stop', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce(instanceOutput({ state: 'running' }))
        .resolvesOnce(instanceOutput({ state: 'stopping' }))
        .resolves(instanceOutput({ state: 'stopped' }));
      ec2.on(StopInstancesCommand).resolves({ $metadata: {} });

      // Act
      await driver.waitForPower(REF, 'off', deadlineIn(60_000));

      // Assess
      expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(1);
      expect(ec2.commandCalls(StopInstancesCommand)[0]?.args[0].input).toMatchObject({ Force: true });
    });

    it('should wait for running after a start, re-issuing a dropped start', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce(instanceOutput({ state: 'stopped' }))
        .resolvesOnce(instanceOutput({ state: 'pending' }))
        .resolves(instanceOutput({ state: 'running' }));
      ec2.on(StartInstancesCommand).resolves({ $metadata: {} });

      // Act
      const description = await driver.waitForPower(REF, 'on', deadlineIn(60_000));

      // Assess
      expect(description.power).toBe('on');
      expect(ec2.commandCalls(StartInstancesCommand)).toHaveLength(1);
    });

    it('should fail at once, without starting again, when EC2 stopped the instance right after the start', async () => {
      // Prepare: what a missing kms:CreateGrant for an encrypted volume looks like.
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce(instanceOutput({ state: 'pending' }))
        .resolves(instanceOutput({ state: 'stopped', reason: 'Client.InternalError' }));

      // Act
      const waiting = driver.waitForPower(REF, 'on', deadlineIn(60_000));

      // Assess
      await expect(waiting).rejects.toThrow(/Client.InternalError/);
      await expect(waiting).rejects.toMatchObject({ retryable: false });
      expect(ec2.commandCalls(StartInstancesCommand)).toHaveLength(0);
    });

    it('should fail at once when waiting for a terminated instance to come on', async () => {
      // Prepare
      const { driver, ec2, clock, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'terminated' }));

      // Act
      const waiting = driver.waitForPower(REF, 'on', deadlineIn(60_000));

      // Assess
      await expect(waiting).rejects.toThrow(InstanceNotFoundError);
      expect(clock.sleeps).toEqual([]);
    });
  });

  describe('detachVolume', () => {
    it('should detach a PV volume of an instance that is off, without Force', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolves(instanceOutput({ state: 'stopped', data: { [PV_VOLUME]: 'attached' } }));
      ec2.on(DetachVolumeCommand).resolves({ $metadata: {} });

      // Act
      await driver.detachVolume(REF, PV_VOLUME, deadlineIn(10_000));

      // Assess
      expect(ec2.commandCalls(DetachVolumeCommand)[0]?.args[0].input).toEqual({
        VolumeId: PV_VOLUME,
        InstanceId: INSTANCE_ID,
      });
    });

    it('should never detach the root volume', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolves(instanceOutput({ state: 'stopped', data: { [PV_VOLUME]: 'attached' } }));

      // Act
      const detaching = driver.detachVolume(REF, ROOT_VOLUME, deadlineIn(10_000));

      // Assess
      await expect(detaching).rejects.toThrow(VolumeDetachRefusedError);
      await expect(detaching).rejects.toThrow(/root volume/);
      expect(ec2.commandCalls(DetachVolumeCommand)).toHaveLength(0);
    });

    it('should refuse every detach when the instance reports no root device', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      const output = instanceOutput({ state: 'stopped', data: { [PV_VOLUME]: 'attached' } });
      const instance = output.Reservations?.[0]?.Instances?.[0];
      if (instance) instance.RootDeviceName = undefined;
      ec2.on(DescribeInstancesCommand).resolves(output);

      // Act
      const detaching = driver.detachVolume(REF, PV_VOLUME, deadlineIn(10_000));

      // Assess
      await expect(detaching).rejects.toThrow(VolumeDetachRefusedError);
      expect(ec2.commandCalls(DetachVolumeCommand)).toHaveLength(0);
    });

    it('should not touch a volume that is not attached to this instance', async () => {
      // Prepare: the volume belongs to another machine (or is not a disk of this one at all).
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolves(instanceOutput({ state: 'stopped', data: { [PV_VOLUME]: 'attached' } }));

      // Act
      await driver.detachVolume(REF, 'vol-0bbbbbbbbbbbbbbbb', deadlineIn(10_000));

      // Assess
      expect(ec2.commandCalls(DetachVolumeCommand)).toHaveLength(0);
    });

    it('should detach only the volume it is given, leaving the instance’s other disks', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.on(DescribeInstancesCommand).resolves(
        instanceOutput({
          state: 'stopped',
          data: { 'vol-0scratch00000000': 'attached', [PV_VOLUME]: 'attached' },
        }),
      );
      ec2.on(DetachVolumeCommand).resolves({ $metadata: {} });

      // Act
      await driver.detachVolume(REF, PV_VOLUME, deadlineIn(10_000));

      // Assess
      const detached = ec2.commandCalls(DetachVolumeCommand).map((call) => call.args[0].input.VolumeId);
      expect(detached).toEqual([PV_VOLUME]);
    });

    it.each<InstanceStateName>(['running', 'stopping', 'pending'])(
      'should only detach a volume from an instance verified off (refuses while %s)',
      async (state) => {
        // Prepare
        const { driver, ec2, deadlineIn } = setup();
        ec2
          .on(DescribeInstancesCommand)
          .resolves(instanceOutput({ state, data: { [PV_VOLUME]: 'attached' } }));

        // Act
        const detaching = driver.detachVolume(REF, PV_VOLUME, deadlineIn(10_000));

        // Assess
        await expect(detaching).rejects.toThrow(VolumeDetachRefusedError);
        await expect(detaching).rejects.toMatchObject({ retryable: false, volumeId: PV_VOLUME });
        await expect(detaching).rejects.toThrow(/not off/);
        expect(ec2.commandCalls(DetachVolumeCommand)).toHaveLength(0);
      },
    );

    it('should treat a volume that detached meanwhile as done', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .resolves(instanceOutput({ state: 'stopped', data: { [PV_VOLUME]: 'attached' } }));
      ec2.on(DetachVolumeCommand).rejects(awsError('IncorrectState'));

      // Act
      const detaching = driver.detachVolume(REF, PV_VOLUME, deadlineIn(10_000));

      // Assess
      await expect(detaching).resolves.toBeUndefined();
    });
  });

  describe('waitForDetached', () => {
    it('should poll DescribeVolumes until the volume is no longer attached to the instance', async () => {
      // Prepare
      const { driver, ec2, clock, deadlineIn } = setup();
      ec2
        .on(DescribeVolumesCommand)
        .resolvesOnce(volumesOutput({ [PV_VOLUME]: 'detaching' }))
        .resolvesOnce(volumesOutput({ [PV_VOLUME]: 'detaching' }))
        .resolves(volumesOutput({}));

      // Act
      await driver.waitForDetached(REF, [PV_VOLUME], deadlineIn(60_000));

      // Assess
      expect(ec2.commandCalls(DescribeVolumesCommand)[0]?.args[0].input.Filters).toEqual([
        { Name: 'attachment.instance-id', Values: [INSTANCE_ID] },
        { Name: 'volume-id', Values: [PV_VOLUME] },
      ]);
      expect(clock.sleeps).toEqual([250, 500]);
      expect(ec2.commandCalls(DetachVolumeCommand)).toHaveLength(0);
    });

    it('should make no call for an empty list', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();

      // Act
      await driver.waitForDetached(REF, [], deadlineIn(60_000));

      // Assess
      expect(ec2.calls()).toHaveLength(0);
    });

    it('should force the detach once, as a last resort, when a normal detach does not complete', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ forceDetachAfterMs: 3_000 });
      let forced = false;
      ec2
        .on(DescribeVolumesCommand)
        .callsFake(async () => volumesOutput(forced ? {} : { [PV_VOLUME]: 'detaching' }));
      ec2
        .on(DescribeInstancesCommand)
        .resolves(instanceOutput({ state: 'stopped', data: { [PV_VOLUME]: 'detaching' } }));
      ec2.on(DetachVolumeCommand).callsFake(async (input: { Force?: boolean }) => {
        forced = input.Force === true;
        return { $metadata: {} };
      });

      // Act
      await driver.waitForDetached(REF, [PV_VOLUME], deadlineIn(60_000));

      // Assess
      const detaches = ec2.commandCalls(DetachVolumeCommand).map((call) => call.args[0].input);
      expect(detaches).toEqual([{ VolumeId: PV_VOLUME, InstanceId: INSTANCE_ID, Force: true }]);
    });

    it('should never force when forcing is switched off, and run into the deadline instead', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ forceDetachAfterMs: false });
      ec2.on(DescribeVolumesCommand).resolves(volumesOutput({ [PV_VOLUME]: 'detaching' }));

      // Act
      const waiting = driver.waitForDetached(REF, [PV_VOLUME], deadlineIn(20_000));

      // Assess
      await expect(waiting).rejects.toThrow(DeadlineExceededError);
      expect(ec2.commandCalls(DetachVolumeCommand)).toHaveLength(0);
    });

    it('should re-issue a lost detach once when the volume stays attached', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup({ forceDetachAfterMs: false });
      ec2
        .on(DescribeVolumesCommand)
        .resolvesOnce(volumesOutput({ [PV_VOLUME]: 'attached' }))
        .resolvesOnce(volumesOutput({ [PV_VOLUME]: 'attached' }))
        .resolvesOnce(volumesOutput({ [PV_VOLUME]: 'attached' }))
        .resolves(volumesOutput({}));
      ec2
        .on(DescribeInstancesCommand)
        .resolves(instanceOutput({ state: 'stopped', data: { [PV_VOLUME]: 'attached' } }));
      ec2.on(DetachVolumeCommand).resolves({ $metadata: {} });

      // Act
      await driver.waitForDetached(REF, [PV_VOLUME], deadlineIn(60_000));

      // Assess
      expect(ec2.commandCalls(DetachVolumeCommand)).toHaveLength(1);
      expect(ec2.commandCalls(DetachVolumeCommand)[0]?.args[0].input.Force).toBeUndefined();
    });
  });

  describe('deadlines on the wire', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('should abort a call that hangs at the deadline', async () => {
      // Prepare
      vi.useFakeTimers();
      const { driver, ec2 } = setup({ now: Date.now, sleep: undefined });
      let signal: AbortSignal | undefined;
      ec2.send.callsFake((_command: unknown, options?: { abortSignal?: AbortSignal }) => {
        signal = options?.abortSignal;
        return new Promise(() => {});
      });

      // Act
      const describing = driver.describe(REF, { deadline: Date.now() + 5_000 });
      const assessed = expect(describing).rejects.toThrow(DeadlineExceededError);
      await vi.advanceTimersByTimeAsync(5_000);

      // Assess
      await assessed;
      expect(signal?.aborted).toBe(true);
    });

    it('should work with a deadline too far away for a timer', async () => {
      // Prepare
      const { driver, ec2 } = setup();
      ec2
        .on(DescribeInstancesCommand)
        .callsFake(
          () => new Promise((resolve) => setTimeout(() => resolve(instanceOutput({ state: 'running' })), 20)),
        );

      // Act
      const description = await driver.describe(REF, { deadline: Number.POSITIVE_INFINITY });

      // Assess
      expect(description.power).toBe('on');
    });

    it('should stop at once when the caller aborts', async () => {
      // Prepare
      const { driver, ec2, deadlineIn } = setup();
      ec2.send.callsFake(() => new Promise(() => {}));
      const controller = new AbortController();

      // Act
      const describing = driver.describe(REF, { ...deadlineIn(60_000), signal: controller.signal });
      controller.abort(new Error('invocation cancelled'));

      // Assess
      await expect(describing).rejects.toThrow(DeadlineExceededError);
      await expect(describing).rejects.toMatchObject({ cause: { message: 'invocation cancelled' } });
    });
  });
});
