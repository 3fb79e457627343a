/**
 * EC2 fixtures on a real moto server: instances with a data volume, created through the SDK, and a client
 * that counts the calls the driver makes.
 */
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
  type Tag,
  type Volume,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type MotoServer, startMoto } from '../../peers/moto.js';

/** The suite's moto server and an EC2 client on it, for the test's own setup and checks. */
export interface MotoSuite {
  readonly moto: MotoServer;
  readonly ec2: EC2Client;
}

/**
 * Starts one moto server for the suite (stopped after it) and resets it before each test. When moto cannot
 * start (not installed), every test fails with that error: a missing peer never shows as a skip.
 */
export function useMoto(options: { resetEachTest?: boolean } = {}): MotoSuite {
  let started: { moto: MotoServer; ec2: EC2Client } | undefined;
  let startError: unknown;
  beforeAll(async () => {
    try {
      const moto = await startMoto();
      started = { moto, ec2: ec2Client(moto) };
    } catch (error) {
      startError = error;
    }
  });
  afterAll(async () => {
    started?.ec2.destroy();
    await started?.moto.stop();
  });
  beforeEach(async () => {
    // A failing beforeEach fails its test; a failing beforeAll would only mark the tests skipped.
    if (!started) throw startError;
    if (options.resetEachTest !== false) await started.moto.reset();
  });
  const get = () => {
    if (!started) throw startError;
    return started;
  };
  return {
    get moto() {
      return get().moto;
    },
    get ec2() {
      return get().ec2;
    },
  };
}

/** An EC2 client on moto for the test's own setup and checks (never the driver's client). */
export function ec2Client(moto: MotoServer): EC2Client {
  return new EC2Client({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
}

/** A client for the driver that records the name of every command it sends, in order. */
export function countingEc2Client(moto: MotoServer): { client: EC2Client; calls: string[] } {
  const calls: string[] = [];
  // maxAttempts 1, as the driver's own clients: retries are the driver's, and would be counted here.
  const client = new EC2Client({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.credentials,
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (next, context) => (args) => {
      calls.push(String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'alertfenceCallCounter' },
  );
  return { client, calls };
}

// moto's built-in AMIs survive a reset, and listing them is slow: look one up once per client.
const imageIds = new WeakMap<EC2Client, Promise<string>>();

async function anyEbsImage(ec2: EC2Client): Promise<string> {
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
  const imageId = images.Images?.find((image) => image.ImageId && image.RootDeviceType === 'ebs')?.ImageId;
  if (!imageId) throw new Error('moto offers no EBS-backed AMI');
  return imageId;
}

/** Launches one instance (any AMI moto knows) and waits for nothing: moto's state changes are immediate. */
export async function runInstance(ec2: EC2Client, tags: Tag[] = []): Promise<Instance> {
  let image = imageIds.get(ec2);
  if (!image) {
    image = anyEbsImage(ec2);
    imageIds.set(ec2, image);
  }
  const imageId = await image;
  const output = await ec2.send(
    new RunInstancesCommand({
      ImageId: imageId,
      InstanceType: 't3.medium',
      MinCount: 1,
      MaxCount: 1,
      ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
    }),
  );
  const instance = output.Instances?.[0];
  if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
  return instance;
}

/** Creates a data volume in the instance's zone and attaches it as `/dev/sdf` (as the EBS CSI driver would). */
export async function attachDataVolume(
  ec2: EC2Client,
  instance: Instance,
  device = '/dev/sdf',
): Promise<string> {
  const zone = instance.Placement?.AvailabilityZone;
  const volume = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: zone,
      Size: 10,
      VolumeType: 'gp3',
      TagSpecifications: [
        { ResourceType: 'volume', Tags: [{ Key: 'ebs.csi.aws.com/cluster', Value: 'true' }] },
      ],
    }),
  );
  if (!volume.VolumeId) throw new Error('CreateVolume returned no id');
  await ec2.send(
    new AttachVolumeCommand({ VolumeId: volume.VolumeId, InstanceId: instance.InstanceId, Device: device }),
  );
  return volume.VolumeId;
}

/** The instance as DescribeInstances shows it now. */
export async function readInstance(ec2: EC2Client, instanceId: string): Promise<Instance> {
  const output = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = output.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`DescribeInstances does not show ${instanceId}`);
  return instance;
}

/** The volume as DescribeVolumes shows it now. */
export async function readVolume(ec2: EC2Client, volumeId: string): Promise<Volume> {
  const output = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  const volume = output.Volumes?.[0];
  if (!volume) throw new Error(`DescribeVolumes does not show ${volumeId}`);
  return volume;
}

/** The root volume id of an instance, from its block device mappings. */
export function rootVolumeOf(instance: Instance): string {
  const id = instance.BlockDeviceMappings?.find((mapping) => mapping.DeviceName === instance.RootDeviceName)
    ?.Ebs?.VolumeId;
  if (!id) throw new Error(`${instance.InstanceId} shows no root volume`);
  return id;
}
