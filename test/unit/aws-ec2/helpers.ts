import {
  type AttachmentStatus,
  type DescribeInstancesCommandOutput,
  type DescribeVolumesCommandOutput,
  EC2Client,
  EC2ServiceException,
  type InstanceStateName,
  type VolumeAttachmentState,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { createEc2Driver, type Ec2DriverOptions } from '../../../drivers/aws-ec2/index.js';
import type { InstanceRef } from '../../../drivers/driver.js';

export const INSTANCE_ID = 'i-0123456789abcdef0';
export const OTHER_INSTANCE_ID = 'i-0fedcba9876543210';
export const ROOT_VOLUME = 'vol-0000000000000root';
export const PV_VOLUME = 'vol-0aaaaaaaaaaaaaaaa';
export const REF: InstanceRef = { provider: 'aws', id: INSTANCE_ID, region: 'eu-west-1' };

/** A clock that only moves when the driver sleeps, recording every sleep. */
export function fakeClock(start = 1_700_000_000_000) {
  const clock = {
    time: start,
    sleeps: [] as number[],
    now: () => clock.time,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.time += ms;
    },
  };
  return clock;
}

/** An EC2 client whose `send` is scripted, and a driver using it on the fake clock. */
export function setup(options: Partial<Ec2DriverOptions> = {}) {
  const client = new EC2Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
  });
  const ec2 = mockClient(client);
  const clock = fakeClock();
  const driver = createEc2Driver({
    clients: { ec2: client },
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    ...options,
  });
  const deadlineIn = (ms: number) => ({ deadline: clock.time + ms });
  return { client, ec2, clock, driver, deadlineIn };
}

export interface InstanceShape {
  id?: string;
  state: InstanceStateName;
  /** Data volumes: id → attachment status. */
  data?: Record<string, AttachmentStatus>;
  root?: boolean;
  /** `StateReason.Code`, e.g. `Client.InternalError`. */
  reason?: string;
}

/** A DescribeInstances answer for one instance with a root volume on /dev/xvda and the given data volumes. */
export function instanceOutput(shape: InstanceShape): DescribeInstancesCommandOutput {
  const volumes = Object.entries(shape.data ?? {}).map(([id, status], index) => ({
    DeviceName: `/dev/xvd${String.fromCharCode(98 + index)}`,
    Ebs: { VolumeId: id, Status: status },
  }));
  return {
    $metadata: {},
    Reservations: [
      {
        Instances: [
          {
            InstanceId: shape.id ?? INSTANCE_ID,
            State: { Name: shape.state },
            ...(shape.reason ? { StateReason: { Code: shape.reason } } : {}),
            RootDeviceName: '/dev/xvda',
            BlockDeviceMappings: [
              ...(shape.root === false
                ? []
                : [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: ROOT_VOLUME, Status: 'attached' as const } }]),
              ...volumes,
            ],
          },
        ],
      },
    ],
  };
}

/** A DescribeVolumes answer: id → attachment state on `INSTANCE_ID`. */
export function volumesOutput(attached: Record<string, VolumeAttachmentState>): DescribeVolumesCommandOutput {
  return {
    $metadata: {},
    Volumes: Object.entries(attached).map(([id, state]) => ({
      VolumeId: id,
      Attachments: [{ VolumeId: id, InstanceId: INSTANCE_ID, State: state }],
    })),
  };
}

/** An error as the SDK raises it for an EC2 error response. */
export function awsError(code: string, httpStatusCode = 400): EC2ServiceException {
  return new EC2ServiceException({
    name: code,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
    message: `mocked ${code}`,
  });
}
