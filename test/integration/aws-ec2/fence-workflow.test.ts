/**
 * The whole fence workflow with the EC2 driver against moto: Alertmanager webhook → fence service →
 * EC2 driver → moto, with the in-memory Kubernetes fake (its controllers react to the out-of-service taint)
 * standing in for the cluster. Counts the EC2 calls of one fence as the workflow makes them.
 */
import { describe, expect, it } from 'vitest';
import { createEc2Driver } from '../../../drivers/aws-ec2/index.js';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { FakeKube } from '../../fakes/kube.js';
import { wireFence } from '../../support/fence-wiring.js';
import { alertPayload, putNodes, putStatefulWorkload } from '../../support/world.js';
import {
  attachDataVolume,
  countingEc2Client,
  readInstance,
  readVolume,
  rootVolumeOf,
  runInstance,
  useMoto,
} from './moto-ec2.js';

describe('fence workflow with the EC2 driver on moto', () => {
  const suite = useMoto();

  it('should fence a dead EC2 node: stopped, PV volume detached, Node deleted, started again', async () => {
    // Prepare: worker-1 is dead (NotReady and its kubelet Lease stale for an hour) and has a PV volume.
    const dead = await runInstance(suite.ec2, [{ Key: 'kubernetes.io/cluster/prod', Value: 'owned' }]);
    const deadId = dead.InstanceId ?? '';
    const pvVolume = await attachDataVolume(suite.ec2, dead);
    const scratchVolume = await attachDataVolume(suite.ec2, dead, '/dev/sdg');
    const rootVolume = rootVolumeOf(await readInstance(suite.ec2, deadId));
    const kube = new FakeKube();
    const zone = dead.Placement?.AvailabilityZone;
    putNodes(
      kube,
      [
        { name: 'worker-1', ready: false, providerID: `aws:///${zone}/${deadId}` },
        { name: 'worker-2', providerID: `aws:///${zone}/${(await runInstance(suite.ec2)).InstanceId ?? ''}` },
        { name: 'worker-3', providerID: `aws:///${zone}/${(await runInstance(suite.ec2)).InstanceId ?? ''}` },
      ],
      Date.now(),
    );
    putStatefulWorkload(kube, 'worker-1', 'pv-data', pvVolume);

    const counting = countingEc2Client(suite.moto);
    const driver = createEc2Driver({ clients: { ec2: counting.client }, clusterName: 'prod' });
    const { service, post, drain } = wireFence({
      kube,
      drivers: [driver],
      env: { ALERTFENCE_DRIVERS: 'aws', ALERTFENCE_MAX_UNHEALTHY: '50%' },
    });

    // Act: the webhook answers at once; the runtime then runs the handed-over continuation.
    const response = await post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    const accepted = (await response.json()) as { results: Array<{ outcome: string }> };
    const callsAtAnswer = [...counting.calls];
    await drain(Number.POSITIVE_INFINITY);

    // Assess
    expect(response.status).toBe(202);
    expect(accepted.results[0]?.outcome).toBe('accepted');
    const journal = await service.journal('worker-1');
    expect(journal?.status).toBe('succeeded');
    expect(journal?.phases.map((step) => step.phase)).toEqual(PHASES);
    expect(journal?.instance).toMatchObject({ provider: 'aws', id: deadId });
    expect(kube.nodes.has('worker-1')).toBe(false);
    const after = await readInstance(suite.ec2, deadId);
    expect(after.State?.Name).toBe('running');
    expect((await readVolume(suite.ec2, pvVolume)).State).toBe('available');
    // Only the PV volume was detached; the root volume and the scratch disk stay.
    expect((await readVolume(suite.ec2, scratchVolume)).Attachments?.[0]?.InstanceId).toBe(deadId);
    expect((await readVolume(suite.ec2, rootVolume)).Attachments?.[0]?.InstanceId).toBe(deadId);
    // The EC2 calls of one whole fence, as the workflow makes them (reported in the issue note). Before it
    // decides anything, the webhook reads the instance: it must exist for these credentials (a wrong account
    // or region answers NotFound, which must never pass for off), and its state is journaled (instanceSeen).
    expect(callsAtAnswer).toEqual([
      'DescribeInstances', // resolve: the providerID's instance exists, with the cluster tag
      'DescribeInstances', // describe: what the fence saw at its start
    ]);
    // Then the continuation. Nothing trusts an earlier read: the instance is resolved again before power-off,
    // and read again (must be off) before the release, before each detach and before the Node is deleted.
    expect(counting.calls.slice(callsAtAnswer.length)).toEqual([
      'DescribeInstances', // continuation: the Node still resolves to the journal's instance
      'DescribeInstances', // PowerOff: the executor reads the state first
      'StopInstances',
      'DescribeInstances', // VerifyOff: first poll (moto stops at once)
      'DescribeInstances', // Release: still off, by the cloud's record
      'DescribeInstances', // Release: the attached volumes
      'DescribeInstances', // Release: still off right before the detach
      'DescribeInstances', // detachVolume: attached here, not root, instance off
      'DetachVolume',
      'DescribeVolumes', // waitForDetached: first poll
      'DescribeInstances', // DeleteNode: still off right before the Node goes
      'DescribeInstances', // PowerOn: the executor reads the state first
      'StartInstances',
      'DescribeInstances', // waitForPower on: first poll
    ]);
  });
});
