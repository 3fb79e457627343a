/**
 * The cloud under a run of the e2e scenario, behind one small port: machines and volumes for the workers,
 * what the CSI attacher stand-in and the boot watcher need, the write-up's hard reboot, and how alertfence's
 * driver reaches the cloud (with its calls recorded). Two clouds: EC2 (moto) and a real OpenStack (Nova and
 * Cinder of test/peers/openstack.ts).
 */
import { randomBytes } from 'node:crypto';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  RebootInstancesCommand,
} from '@aws-sdk/client-ec2';
import { ec2Client, runInstance } from '../integration/aws-ec2/moto-ec2.js';
import { startMoto } from '../peers/moto.js';
import type { OpenStackCloud } from '../peers/openstack.js';
import { type CloudCall, startCloudRecorder } from './cloud-recorder.js';

/** A worker's machine. */
export interface Machine {
  name: string;
  instanceId: string;
  zone: string;
  /** `spec.providerID` of its Node. */
  providerID: string;
}

/** A machine's power as the harness reads it. */
export type MachinePower = 'running' | 'stopped' | 'transition' | 'gone';

/** The cloud calls a CSI attacher makes (the external-attacher plus the cloud's CSI controller). */
export interface AttacherCloud {
  /** Instances the volume is attached (or attaching) to. */
  holders(volumeId: string): Promise<string[]>;
  /** Attaches and answers the device path. */
  attach(volumeId: string, instanceId: string): Promise<string | undefined>;
  /** Asks for the detach; `holders` tells when it is done. */
  detach(volumeId: string, instanceId: string): Promise<void>;
  /** The CSI controller's words for an attach refused because the volume is on another machine. */
  inUseMessage?(volumeId: string, heldBy: string): string;
}

/** One cloud of the scenario. */
export interface E2eCloud extends AttacherCloud {
  kind: 'aws' | 'openstack';
  /** For the report: `EC2 (moto)`, `OpenStack (Nova, Cinder)`. */
  label: string;
  /** The CSIDriver the PVs name. */
  csiDriver: string;
  /** The power-off call and the off state, in the cloud's words (`StopInstances`, `os-stop`). */
  words: { powerOff: string; off: string; volumeRead: string };
  createMachine(name: string): Promise<Machine>;
  createVolume(name: string): Promise<string>;
  /** Every given volume's holders in one look. */
  volumeHolders(volumeIds: readonly string[]): Promise<Map<string, string[]>>;
  power(instanceIds: readonly string[]): Promise<Map<string, MachinePower>>;
  /** What kube-fencing did in the write-up: a hard reboot of the server. */
  hardReboot(instanceId: string): Promise<void>;
  /** Environment of alertfence's local server for this cloud's driver. */
  alertfenceEnv(): Record<string, string | undefined>;
  /** alertfence's calls to the cloud since the cloud was made (pre-flights excluded). */
  calls(): CloudCall[];
  stop(): Promise<void>;
}

/** moto, with alertfence's EC2 calls through the recording proxy. Started per run. */
export async function startAwsCloud(): Promise<E2eCloud> {
  const moto = await startMoto();
  const ec2 = ec2Client(moto);
  const recorder = await startCloudRecorder(moto.endpoint);
  let zone: string | undefined;
  const describe = async (volumeIds: readonly string[]) =>
    (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [...volumeIds] }))).Volumes ?? [];
  const holdersOf = (attachments: Array<{ State?: string; InstanceId?: string }> | undefined) =>
    (attachments ?? [])
      .filter((a) => a.State === 'attached' || a.State === 'attaching')
      .map((a) => a.InstanceId ?? '');
  /** A device name not used by another volume of the instance (`/dev/sdf` … `/dev/sdp`). */
  const freeDevice = async (instanceId: string) => {
    const output = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }),
    );
    const used = new Set(
      (output.Volumes ?? []).flatMap((v) => (v.Attachments ?? []).map((a) => a.Device ?? '')),
    );
    for (const letter of 'fghijklmnop') {
      if (!used.has(`/dev/sd${letter}`)) return `/dev/sd${letter}`;
    }
    throw new Error(`${instanceId} has no free device name`);
  };
  return {
    kind: 'aws',
    label: 'EC2 (moto)',
    csiDriver: 'ebs.csi.e2e.alertfence.io',
    words: { powerOff: 'StopInstances', off: 'stopped', volumeRead: 'DescribeVolumes' },
    async createMachine(name) {
      const instance = await runInstance(ec2, [
        { Key: 'kubernetes.io/cluster/e2e', Value: 'owned' },
        { Key: 'Name', Value: name },
      ]);
      zone ??= instance.Placement?.AvailabilityZone ?? 'us-east-1a';
      const instanceId = instance.InstanceId ?? '';
      return { name, instanceId, zone, providerID: `aws:///${zone}/${instanceId}` };
    },
    async createVolume() {
      const created = await ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: zone ?? 'us-east-1a', Size: 10, VolumeType: 'gp3' }),
      );
      return created.VolumeId ?? '';
    },
    async volumeHolders(volumeIds) {
      return new Map((await describe(volumeIds)).map((v) => [v.VolumeId ?? '', holdersOf(v.Attachments)]));
    },
    async holders(volumeId) {
      const [volume] = await describe([volumeId]);
      if (!volume) throw new Error(`moto does not show ${volumeId}`);
      return holdersOf(volume.Attachments);
    },
    async attach(volumeId, instanceId) {
      await ec2.send(
        new AttachVolumeCommand({
          VolumeId: volumeId,
          InstanceId: instanceId,
          Device: await freeDevice(instanceId),
        }),
      );
      const [volume] = await describe([volumeId]);
      return volume?.Attachments?.find((a) => a.InstanceId === instanceId)?.Device;
    },
    async detach(volumeId, instanceId) {
      await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId }));
    },
    async power(instanceIds) {
      const output = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...instanceIds] }));
      const states = new Map<string, MachinePower>();
      for (const instance of (output.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
        const name = instance.State?.Name;
        states.set(
          instance.InstanceId ?? '',
          name === 'running'
            ? 'running'
            : name === 'stopped'
              ? 'stopped'
              : name === 'terminated'
                ? 'gone'
                : 'transition',
        );
      }
      return states;
    },
    async hardReboot(instanceId) {
      await ec2.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));
    },
    alertfenceEnv: () => ({
      ALERTFENCE_DRIVERS: 'aws',
      ALERTFENCE_AWS_ENDPOINT: recorder.url,
      AWS_REGION: moto.region,
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_PROFILE: undefined,
    }),
    calls: () => [...recorder.calls],
    async stop() {
      ec2.destroy();
      await recorder.stop();
      await moto.stop();
    },
  };
}

/**
 * A view of a real OpenStack for one run: its own servers and volumes (named after the run), alertfence's
 * application credential (see {@link createAlertfenceCredential}), and alertfence's calls read from Nova's
 * and Cinder's request logs, where that credential's user is alertfence alone. Stopping it deletes the run's
 * servers; the cloud itself outlives the run.
 */
export async function openStackRunCloud(
  cloud: OpenStackCloud,
  run: string,
  credential: { id: string; secret: string; userId: string },
): Promise<E2eCloud> {
  const servers: string[] = [];
  const created = Date.now();
  const novaOffset = cloud.logs('nova-api').length;
  const cinderOffset = cloud.logs('cinder-api').length;
  const readCalls = (): CloudCall[] =>
    [
      ...apiCalls(cloud.logs('nova-api').slice(novaOffset), credential.userId),
      ...apiCalls(cloud.logs('cinder-api').slice(cinderOffset), credential.userId),
    ]
      .filter((call) => call.start >= created)
      .sort((a, b) => a.start - b.start);
  return {
    kind: 'openstack',
    label: 'OpenStack (Nova, Cinder)',
    csiDriver: 'cinder.csi.e2e.alertfence.io',
    words: { powerOff: 'os-stop', off: 'SHUTOFF', volumeRead: 'Cinder GET volume' },
    async createMachine(name) {
      const instanceId = await cloud.createServer(`${run}-${name}`);
      servers.push(instanceId);
      return { name, instanceId, zone: 'nova', providerID: `openstack:///${instanceId}` };
    },
    createVolume: (name) => cloud.admin.createVolume(`${run}-${name}`),
    async volumeHolders(volumeIds) {
      const holders = new Map<string, string[]>();
      for (const id of volumeIds) holders.set(id, (await cloud.admin.volume(id))?.attachedTo ?? []);
      return holders;
    },
    async holders(volumeId) {
      const volume = await cloud.admin.volume(volumeId);
      if (!volume) throw new Error(`Cinder does not show ${volumeId}`);
      // `detaching` still holds it: the attachment goes only when Cinder says `available`.
      return volume.attachedTo;
    },
    async attach(volumeId, instanceId) {
      const { body } = await cloud.admin.call(
        'compute',
        'POST',
        `/servers/${instanceId}/os-volume_attachments`,
        {
          body: { volumeAttachment: { volumeId } },
        },
      );
      await cloud.admin.waitForVolume(
        volumeId,
        (v) => v.status === 'in-use' && v.attachedTo.includes(instanceId),
        `in-use on ${instanceId}`,
      );
      return (body as { volumeAttachment?: { device?: string } }).volumeAttachment?.device;
    },
    async detach(volumeId, instanceId) {
      await cloud.admin.call(
        'compute',
        'DELETE',
        `/servers/${instanceId}/os-volume_attachments/${volumeId}`,
        {
          expected: [202, 404],
        },
      );
    },
    // Cinder CSI's own check, until v1.19 (cloud-provider-openstack#1073), and the seed write-up's words.
    inUseMessage: (volumeId, heldBy) => `disk ${volumeId} is attached to a different instance (${heldBy})`,
    async power(instanceIds) {
      const states = new Map<string, MachinePower>();
      for (const id of instanceIds) {
        const server = await cloud.admin.server(id);
        states.set(
          id,
          !server
            ? 'gone'
            : server.status === 'ACTIVE' && server.taskState === null
              ? 'running'
              : server.status === 'SHUTOFF' && server.taskState === null
                ? 'stopped'
                : 'transition',
        );
      }
      return states;
    },
    async hardReboot(instanceId) {
      await cloud.admin.serverAction(instanceId, { reboot: { type: 'HARD' } });
    },
    alertfenceEnv: () => ({
      ALERTFENCE_DRIVERS: 'openstack',
      OS_AUTH_URL: `${cloud.authUrl}/v3`,
      OS_AUTH_TYPE: 'v3applicationcredential',
      OS_APPLICATION_CREDENTIAL_ID: credential.id,
      OS_APPLICATION_CREDENTIAL_SECRET: credential.secret,
      OS_REGION_NAME: cloud.region,
      OS_INTERFACE: 'public',
      OS_CLOUD: undefined,
      OS_CLIENT_CONFIG_FILE: '/dev/null',
    }),
    calls: readCalls,
    async stop() {
      for (const id of servers) await cloud.admin.deleteServer(id).catch(() => {});
    },
  };
}

/**
 * Calls of one user from an OpenStack API's request log (`[req-… <user> <project> …] 127.0.0.1 "GET /v2.1/…
 * HTTP/1.1" status: 200 len: … time: 0.0123`): the action as method and path with ids folded.
 */
export function apiCalls(log: string, userId: string): CloudCall[] {
  const calls: CloudCall[] = [];
  const line =
    /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) .*\[[^\]]*? ([0-9a-f]{32}) [0-9a-f]{32} [^\]]*\] [^"]*"(\w+) (\S+) HTTP\/1\.1" status: (\d+) .*time: ([\d.]+)/;
  for (const text of log.split('\n')) {
    const match = line.exec(text);
    if (!match || match[2] !== userId) continue;
    const [, stamp = '', , method = '', path = '', status = '0', seconds = '0'] = match;
    const end = Date.parse(`${stamp.replace(' ', 'T')}Z`);
    const action = `${method} ${path.split('?')[0]?.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{32}/g, '{id}')}`;
    calls.push({ action, start: end - Math.round(Number(seconds) * 1000), end, status: Number(status) });
  }
  return calls;
}

/**
 * alertfence's own user on the cloud — member of the cluster's project — and the application credential
 * infra/openstack/README.md prescribes (role `member`, the documented access rules). A user apart from the
 * harness's admin, so its calls can be picked out of Nova's and Cinder's request logs.
 */
export async function createAlertfenceCredential(
  cloud: OpenStackCloud,
  accessRules: ReadonlyArray<{ service: string; method: string; path: string }>,
): Promise<{ id: string; secret: string; userId: string }> {
  const password = randomBytes(12).toString('hex');
  const userId = await cloud.admin.ensureIdentity('users', {
    name: `alertfence-${randomBytes(3).toString('hex')}`,
    password,
    domain_id: 'default',
    default_project_id: cloud.projectId,
  });
  const member = await cloud.admin.ensureIdentity('roles', { name: 'member' });
  await cloud.admin.grant(cloud.projectId, userId, member);
  const auth = await fetch(`${cloud.authUrl}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { id: userId, password } } },
        scope: { project: { id: cloud.projectId } },
      },
    }),
  });
  const token = auth.headers.get('x-subject-token');
  await auth.body?.cancel();
  if (auth.status !== 201 || !token) throw new Error(`Keystone refused alertfence's user: ${auth.status}`);
  const response = await fetch(`${cloud.authUrl}/v3/users/${userId}/application_credentials`, {
    method: 'POST',
    headers: { 'x-auth-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({
      application_credential: {
        name: 'alertfence',
        roles: [{ name: 'member' }],
        access_rules: accessRules,
      },
    }),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`Keystone refused the credential: ${response.status} ${text}`);
  const created = JSON.parse(text) as { application_credential: { id: string; secret: string } };
  return { id: created.application_credential.id, secret: created.application_credential.secret, userId };
}
