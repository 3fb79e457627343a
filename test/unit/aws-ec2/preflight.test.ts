import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { awsError, INSTANCE_ID, instanceOutput, PV_VOLUME, setup } from './helpers.js';

const DRY_RUN_OK = awsError('DryRunOperation', 412);
const DENIED = awsError('UnauthorizedOperation', 403);

/** Every dry run allowed, and one cluster instance with a PV volume to name. */
type Ec2Mock = ReturnType<typeof setup>['ec2'];

/** Every dry run allowed, and one cluster instance with a PV volume to name. */
function allowedEverywhere(ec2: Ec2Mock) {
  // The mock answers with the last matching rule, so the DryRun-specific one comes after the general one.
  ec2
    .on(DescribeInstancesCommand)
    .resolves(instanceOutput({ state: 'running', data: { [PV_VOLUME]: 'attached' } }));
  ec2.on(DescribeInstancesCommand, { DryRun: true }).rejects(DRY_RUN_OK);
  ec2.on(DescribeVolumesCommand).rejects(DRY_RUN_OK);
  ec2.on(StopInstancesCommand).rejects(DRY_RUN_OK);
  ec2.on(StartInstancesCommand).rejects(DRY_RUN_OK);
  ec2.on(DetachVolumeCommand).rejects(DRY_RUN_OK);
}

describe('Ec2Driver preflight', () => {
  it('should pass when every dry run answers DryRunOperation', async () => {
    // Prepare
    const { driver, ec2, deadlineIn } = setup({ clusterName: 'prod' });
    allowedEverywhere(ec2);

    // Act
    const result = await driver.preflight(deadlineIn(10_000));

    // Assess
    expect(result).toEqual({ ok: true, problems: [] });
    const sample = ec2.commandCalls(DescribeInstancesCommand).find((call) => !call.args[0].input.DryRun);
    expect(sample?.args[0].input.Filters).toContainEqual({
      Name: 'tag-key',
      Values: ['kubernetes.io/cluster/prod'],
    });
    expect(ec2.commandCalls(StopInstancesCommand)[0]?.args[0].input).toEqual({
      InstanceIds: [INSTANCE_ID],
      Force: true,
      SkipOsShutdown: true,
      DryRun: true,
    });
    // The detach dry run names a data volume, never the root volume.
    expect(ec2.commandCalls(DetachVolumeCommand)[0]?.args[0].input).toEqual({
      VolumeId: PV_VOLUME,
      InstanceId: INSTANCE_ID,
      DryRun: true,
    });
  });

  it.each<{ action: string; deny: (ec2: Ec2Mock) => void }>([
    { action: 'ec2:StopInstances', deny: (ec2) => ec2.on(StopInstancesCommand).rejects(DENIED) },
    { action: 'ec2:StartInstances', deny: (ec2) => ec2.on(StartInstancesCommand).rejects(DENIED) },
    { action: 'ec2:DetachVolume', deny: (ec2) => ec2.on(DetachVolumeCommand).rejects(DENIED) },
    { action: 'ec2:DescribeVolumes', deny: (ec2) => ec2.on(DescribeVolumesCommand).rejects(DENIED) },
  ])('should name the missing permission $action', async ({ action, deny }) => {
    // Prepare
    const { driver, ec2, deadlineIn } = setup();
    allowedEverywhere(ec2);
    deny(ec2);

    // Act
    const result = await driver.preflight(deadlineIn(10_000));

    // Assess
    expect(result.ok).toBe(false);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(new RegExp(`^missing permission ${action}\\b`));
  });

  it('should stop after a refused DescribeInstances, naming it', async () => {
    // Prepare
    const { driver, ec2, deadlineIn } = setup();
    allowedEverywhere(ec2);
    ec2.on(DescribeInstancesCommand).rejects(DENIED);

    // Act
    const result = await driver.preflight(deadlineIn(10_000));

    // Assess
    expect(result).toEqual({ ok: false, problems: ['missing permission ec2:DescribeInstances'] });
    expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(0);
  });

  it('should report rejected credentials, not a missing permission', async () => {
    // Prepare
    const { driver, ec2, deadlineIn } = setup();
    ec2.rejects(awsError('AuthFailure', 401));

    // Act
    const result = await driver.preflight(deadlineIn(10_000));

    // Assess
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toBe('ec2:DescribeInstances: credentials rejected (AuthFailure)');
  });

  it('should report that there is no instance to check against, e.g. in the wrong region', async () => {
    // Prepare
    const { driver, ec2, deadlineIn } = setup({ clusterName: 'prod' });
    allowedEverywhere(ec2);
    ec2.on(DescribeInstancesCommand).resolves({ $metadata: {}, Reservations: [] });
    ec2.on(DescribeInstancesCommand, { DryRun: true }).rejects(DRY_RUN_OK);

    // Act
    const result = await driver.preflight(deadlineIn(10_000));

    // Assess
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatch(/no instance tagged kubernetes.io\/cluster\/prod/);
  });

  it('should use a placeholder volume when the sample has no data volume, and call an unknown volume inconclusive', async () => {
    // Prepare
    const { driver, ec2, deadlineIn } = setup();
    allowedEverywhere(ec2);
    ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'running' }));
    ec2.on(DescribeInstancesCommand, { DryRun: true }).rejects(DRY_RUN_OK);
    ec2.on(DetachVolumeCommand).rejects(awsError('InvalidVolume.NotFound'));
    const notes: string[] = [];

    // Act
    const result = await driver.preflight({ ...deadlineIn(10_000), onProgress: (line) => notes.push(line) });

    // Assess
    expect(result).toEqual({ ok: true, problems: [] });
    expect(ec2.commandCalls(DetachVolumeCommand)[0]?.args[0].input.VolumeId).toBe('vol-00000000000000000');
    expect(notes).toEqual([expect.stringMatching(/ec2:DetachVolume could not be verified/)]);
  });

  it('should flag an endpoint that ignores DryRun', async () => {
    // Prepare
    const { driver, ec2, deadlineIn } = setup();
    allowedEverywhere(ec2);
    ec2.on(StartInstancesCommand).resolves({ $metadata: {} });

    // Act
    const result = await driver.preflight(deadlineIn(10_000));

    // Assess
    expect(result.problems).toEqual([
      expect.stringMatching(/^ec2:StartInstances: the endpoint ignored DryRun/),
    ]);
  });
});
