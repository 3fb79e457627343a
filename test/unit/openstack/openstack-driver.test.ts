import { describe, expect, it } from 'vitest';
import {
  DeadlineExceededError,
  DriverAuthError,
  DriverError,
  InstanceNotFoundError,
  type InstanceRef,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import { createOpenStackDriver } from '../../../drivers/openstack/index.js';
import {
  AUTH_URL,
  defaultCatalog,
  PROJECT_ID,
  type Reply,
  RoutedFetch,
  routeKeystone,
  tokenBody,
  VirtualClock,
} from './helpers.js';

const ID = '8d2b0f0e-5b9e-4a53-9b63-1c5b2a1f6c11';
const OTHER = '0f0e8d2b-5b9e-4a53-9b63-1c5b2a1f6c11';
const REF: InstanceRef = { provider: 'openstack', id: ID };
const SERVER_PATH = new RegExp(`/v2\\.1/servers/${ID}$`);
const ACTION_PATH = new RegExp(`/v2\\.1/servers/${ID}/action$`);
const ATTACHMENTS_PATH = new RegExp(`/v2\\.1/servers/${ID}/os-volume_attachments$`);
const DETACH_PATH = new RegExp(`/v2\\.1/servers/${ID}/os-volume_attachments/([^/]+)$`);
const VOLUME_PATH = /\/v3\/[^/]+\/volumes\/([^/]+)$/;

function server(status: string, task: string | null = null, extra: Record<string, unknown> = {}): Reply {
  return { status: 200, json: { server: serverBody(ID, 'worker-1', status, task, extra) } };
}

function serverBody(
  id: string,
  name: string,
  status: string,
  task: string | null,
  extra: Record<string, unknown> = {},
) {
  return {
    id,
    name,
    status,
    'OS-EXT-STS:task_state': task,
    'OS-EXT-STS:vm_state': status.toLowerCase(),
    'OS-EXT-STS:power_state': status === 'SHUTOFF' ? 4 : 1,
    image: '',
    addresses: { private: [{ addr: '10.0.0.5', version: 4 }] },
    ...extra,
  };
}

function attachments(...list: Array<[string, string]>): Reply {
  return {
    status: 200,
    json: {
      volumeAttachments: list.map(([volumeId, device]) => ({ id: volumeId, volumeId, serverId: ID, device })),
    },
  };
}

function volume(id: string, status: string, attachedTo: string[] = []): Reply {
  return {
    status: 200,
    json: {
      volume: {
        id,
        status,
        attachments: attachedTo.map((s) => ({ server_id: s, attachment_id: 'a', device: '/dev/vdb' })),
      },
    },
  };
}

function setup(options: { lookupWithoutProviderID?: boolean; catalog?: unknown[] } = {}) {
  const routed = new RoutedFetch();
  const clock = new VirtualClock();
  routeKeystone(routed, clock);
  if (options.catalog) {
    routed.on('POST', /\/v3\/auth\/tokens$/, {
      status: 201,
      json: tokenBody(clock.now(), 3_600_000, options.catalog),
      headers: { 'x-subject-token': 'tok-c' },
    });
  }
  const progress: string[] = [];
  const driver = createOpenStackDriver({
    authUrl: AUTH_URL,
    credentials: { method: 'application_credential', credential: { id: 'ac1' }, secret: 'x' },
    region: 'RegionOne',
    fetch: routed.fetch,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    ...(options.lookupWithoutProviderID === undefined
      ? {}
      : { lookupWithoutProviderID: options.lookupWithoutProviderID }),
  });
  const call = { deadline: clock.now() + 120_000, onProgress: (line: string) => progress.push(line) };
  return { routed, clock, driver, call, progress };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('OpenStackDriver.handles', () => {
  it.each([
    [{ name: 'w', providerID: `openstack:///${ID}`, internalIPs: [] }, true],
    [{ name: 'w', providerID: 'aws:///eu-west-1a/i-0abc', internalIPs: [] }, false],
    [{ name: 'w', internalIPs: ['10.0.0.5'] }, false],
  ])('should answer %j with %s', (node, handled) => {
    expect(setup().driver.handles(node)).toBe(handled);
  });

  it('should claim nodes without providerID only when look-up is on', () => {
    expect(setup({ lookupWithoutProviderID: true }).driver.handles({ name: 'w', internalIPs: [] })).toBe(
      true,
    );
  });
});

describe('OpenStackDriver.resolve', () => {
  it('should take the server from spec.providerID after checking it is visible', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server('ACTIVE'));

    // Act
    const ref = await driver.resolve(
      { name: 'worker-1', providerID: `openstack:///${ID}`, internalIPs: [] },
      call,
    );

    // Assess
    expect(ref).toEqual({ provider: 'openstack', id: ID, region: 'RegionOne' });
    expect(routed.count('GET', SERVER_PATH)).toBe(1);
  });

  it('should refuse a providerID whose server Nova does not show (another project looks the same)', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, {
      status: 404,
      json: { itemNotFound: { code: 404, message: 'not found' } },
    });

    // Act
    const error = await failure(
      driver.resolve({ name: 'worker-1', providerID: `openstack:///${ID}`, internalIPs: [] }, call),
    );

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
    expect(error.message).toMatch(/does not exist or is not visible to the configured project/);
  });

  it('should refuse a malformed providerID without calling the cloud', async () => {
    // Prepare
    const { routed, driver, call } = setup();

    // Act
    const error = await failure(
      driver.resolve({ name: 'w', providerID: 'openstack:///nope', internalIPs: [] }, call),
    );

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
    expect(routed.calls).toHaveLength(0);
  });

  it('should find the server by exact name and InternalIP, ignoring what Nova regex search also matched', async () => {
    // Prepare
    const { routed, driver, call } = setup({ lookupWithoutProviderID: true });
    routed.on('GET', /\/servers\/detail$/, (c) =>
      new URL(c.url).searchParams.has('name')
        ? {
            status: 200,
            json: {
              servers: [
                serverBody(ID, 'worker-1.lab', 'ACTIVE', null),
                serverBody(OTHER, 'worker-1xlab', 'ACTIVE', null),
              ],
            },
          }
        : { status: 200, json: { servers: [] } },
    );

    // Act
    const ref = await driver.resolve({ name: 'worker-1.lab', internalIPs: ['10.0.0.5'] }, call);

    // Assess
    expect(ref.id).toBe(ID);
    expect(new URL(routed.calls.at(-1)?.url ?? '').searchParams.get('name')).toBe('^worker-1\\.lab$');
  });

  it.each([
    ['no server has the name', [], /no server matches node worker-1 by name worker-1 and IP 10.0.0.5/],
    [
      'the server of that name does not hold the IP (a reused name)',
      [
        serverBody(ID, 'worker-1', 'ACTIVE', null, {
          addresses: { net: [{ addr: '10.0.0.9', version: 4 }] },
        }),
      ],
      /has 10.0.0.9; set spec.providerID/,
    ],
    [
      'two servers share the name and the IP',
      [serverBody(ID, 'worker-1', 'ACTIVE', null), serverBody(OTHER, 'worker-1', 'ACTIVE', null)],
      /2 servers match node worker-1/,
    ],
  ])('should refuse the node when %s', async (_, byName, message) => {
    // Prepare
    const { routed, driver, call } = setup({ lookupWithoutProviderID: true });
    routed.on('GET', /\/servers\/detail$/, () => ({ status: 200, json: { servers: byName } }));

    // Act
    const error = await failure(driver.resolve({ name: 'worker-1', internalIPs: ['10.0.0.5'] }, call));

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
    expect(error.message).toMatch(message);
  });

  it('should refuse to look up a node that reports no InternalIP, without calling Nova', async () => {
    // Prepare
    const { routed, driver, call } = setup({ lookupWithoutProviderID: true });

    // Act
    const error = await failure(driver.resolve({ name: 'worker-1', internalIPs: [] }, call));

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
    expect(routed.count('GET', /\/servers\/detail$/)).toBe(0);
  });
});

describe('OpenStackDriver.describe', () => {
  it('should read power and volumes, flagging the boot volume as root', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server('ACTIVE'));
    routed.on(
      'GET',
      ATTACHMENTS_PATH,
      attachments(['boot', '/dev/vda'], ['pv', '/dev/vdb'], ['data', '/dev/vdc']),
    );

    // Act
    const description = await driver.describe(REF, call);

    // Assess
    expect(description).toEqual({
      ref: REF,
      power: 'on',
      cloudState: 'ACTIVE',
      gone: false,
      missing: false,
      volumes: [
        { id: 'boot', device: '/dev/vda', root: true },
        { id: 'pv', device: '/dev/vdb' },
        { id: 'data', device: '/dev/vdc' },
      ],
    });
    const headers = routed.calls.find((c) => SERVER_PATH.test(c.url))?.headers;
    expect(headers?.['openstack-api-version']).toBe('compute 2.3');
    expect(headers?.['x-openstack-nova-api-version']).toBe('2.3');
    expect(headers?.['x-auth-token']).toBe('tok-1');
  });

  it('should describe a server Nova does not show as missing, of unknown power, never off', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, { status: 404 });

    // Act
    const description = await driver.describe(REF, call);

    // Assess
    expect(description).toEqual({
      ref: REF,
      power: 'unknown',
      cloudState: 'NOT_FOUND',
      gone: false,
      missing: true,
      volumes: [],
    });
    expect(routed.count('GET', ATTACHMENTS_PATH)).toBe(0);
  });
});

describe('OpenStackDriver error classification', () => {
  it('should call a 403 a DriverAuthError, never retried', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, {
      status: 403,
      json: { forbidden: { code: 403, message: 'Policy does not allow' } },
    });

    // Act
    const error = await failure(driver.describe(REF, call));

    // Assess
    expect(error).toBeInstanceOf(DriverAuthError);
    expect((error as DriverError).retryable).toBe(false);
    expect(error.cause).toMatchObject({ status: 403 });
    expect(routed.count('GET', SERVER_PATH)).toBe(1);
  });

  it('should re-authenticate once on a 401 and then call it a DriverAuthError', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, { status: 401 });

    // Act
    const error = await failure(driver.describe(REF, call));

    // Assess
    expect(error).toBeInstanceOf(DriverAuthError);
    expect(routed.count('POST', /\/auth\/tokens$/)).toBe(2);
    expect(routed.count('GET', SERVER_PATH)).toBe(2);
  });

  it('should recover from an expired token with one new token', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, (c) =>
      c.headers['x-auth-token'] === 'tok-1' ? { status: 401 } : server('SHUTOFF'),
    );
    routed.on('GET', ATTACHMENTS_PATH, attachments());

    // Act
    const description = await driver.describe(REF, call);

    // Assess
    expect(description.power).toBe('off');
    expect(routed.count('POST', /\/auth\/tokens$/)).toBe(2);
  });

  it('should call rejected credentials a DriverAuthError', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', /\/auth\/tokens$/, { status: 401 });

    // Act
    const error = await failure(driver.describe(REF, call));

    // Assess
    expect(error).toBeInstanceOf(DriverAuthError);
    expect(routed.calls).toHaveLength(1);
  });

  it('should retry a 503 on a read and succeed', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server('ACTIVE'));
    routed.sequence('GET', SERVER_PATH, [{ status: 503 }, { status: 502 }]);
    routed.on('GET', ATTACHMENTS_PATH, attachments());

    // Act
    const description = await driver.describe(REF, call);

    // Assess
    expect(description.power).toBe('on');
    expect(routed.count('GET', SERVER_PATH)).toBe(3);
  });

  it('should call a lasting 5xx a retryable DriverError', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, { status: 500 });

    // Act
    const error = await failure(driver.describe(REF, call));

    // Assess
    expect(error).toBeInstanceOf(DriverError);
    expect(error).not.toBeInstanceOf(DriverAuthError);
    expect((error as DriverError).retryable).toBe(true);
    expect(routed.count('GET', SERVER_PATH)).toBe(5);
  });

  it('should call a missing catalog entry a non-retryable DriverError', async () => {
    // Prepare
    const { driver, call } = setup({ catalog: [] });

    // Act
    const error = await failure(driver.describe(REF, call));

    // Assess
    expect((error as DriverError).retryable).toBe(false);
    expect(error.message).toMatch(/no public endpoint of type compute in region RegionOne/);
  });
});

describe('OpenStackDriver.powerOff and powerOn', () => {
  it('should send os-stop once', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, { status: 202 });

    // Act
    await driver.powerOff(REF, call);

    // Assess
    const posts = routed.calls.filter((c) => ACTION_PATH.test(c.url));
    expect(posts.map((c) => c.body)).toEqual([{ 'os-stop': null }]);
  });

  it.each([
    ['SHUTOFF', null],
    ['ACTIVE', 'powering-off'],
    ['SHUTOFF', 'powering-on'],
  ])('should accept a 409 when a re-read finds the server %s with task %s', async (status, task) => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, {
      status: 409,
      json: { conflictingRequest: { code: 409, message: 'no' } },
    });
    routed.on('GET', SERVER_PATH, server(status, task));

    // Act
    await driver.powerOff(REF, call);

    // Assess
    expect(routed.count('POST', ACTION_PATH)).toBe(1);
    expect(routed.count('GET', SERVER_PATH)).toBe(1);
  });

  it('should refuse when a 409 leaves the server ACTIVE and idle (locked), with Nova reason', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, {
      status: 409,
      json: { conflictingRequest: { code: 409, message: `Instance ${ID} is locked` } },
    });
    routed.on('GET', SERVER_PATH, server('ACTIVE'));

    // Act
    const error = await failure(driver.powerOff(REF, call));

    // Assess
    expect(error).toBeInstanceOf(DriverError);
    expect((error as DriverError).retryable).toBe(false);
    expect(error.message).toMatch(/is locked/);
  });

  it('should refuse a PAUSED server with what to do about it', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, { status: 409 });
    routed.on('GET', SERVER_PATH, server('PAUSED'));

    // Act
    const error = await failure(driver.powerOff(REF, call));

    // Assess
    expect((error as DriverError).retryable).toBe(false);
    expect(error.message).toMatch(/server is PAUSED; Nova stops only ACTIVE or ERROR servers/);
  });

  it('should count a server Nova no longer knows as already off', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, { status: 404 });

    // Act
    await driver.powerOff(REF, call);

    // Assess
    expect(routed.count('POST', ACTION_PATH)).toBe(1);
  });

  it('should re-read instead of repeating os-stop after a lost answer, and stop when it took effect', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, { status: 503 });
    routed.on('GET', SERVER_PATH, server('ACTIVE', 'powering-off'));

    // Act
    await driver.powerOff(REF, call);

    // Assess
    expect(routed.count('POST', ACTION_PATH)).toBe(1);
  });

  it('should repeat os-stop after a lost answer when the re-read shows it did not take effect', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, { status: 202 });
    routed.sequence('POST', ACTION_PATH, [{ status: 503 }]);
    routed.on('GET', SERVER_PATH, server('ACTIVE'));

    // Act
    await driver.powerOff(REF, call);

    // Assess
    expect(routed.count('POST', ACTION_PATH)).toBe(2);
  });

  it('should send os-start and accept a 409 on a server already ACTIVE', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, { status: 409 });
    routed.on('GET', SERVER_PATH, server('ACTIVE'));

    // Act
    await driver.powerOn(REF, call);

    // Assess
    expect(routed.calls.find((c) => ACTION_PATH.test(c.url))?.body).toEqual({ 'os-start': null });
  });

  it('should refuse to power on a server that no longer exists', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', ACTION_PATH, { status: 404 });

    // Act
    const error = await failure(driver.powerOn(REF, call));

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
  });
});

describe('OpenStackDriver.waitForPower', () => {
  it('should poll through powering-off until SHUTOFF and describe the result', async () => {
    // Prepare
    const { routed, driver, call, progress } = setup();
    routed.on('GET', SERVER_PATH, server('SHUTOFF'));
    routed.sequence('GET', SERVER_PATH, [server('ACTIVE', 'powering-off'), server('ACTIVE', 'powering-off')]);
    routed.on('GET', ATTACHMENTS_PATH, attachments(['boot', '/dev/vda']));

    // Act
    const description = await driver.waitForPower(REF, 'off', call);

    // Assess
    expect(description).toMatchObject({
      power: 'off',
      cloudState: 'SHUTOFF',
      volumes: [{ id: 'boot', root: true }],
    });
    expect(routed.count('GET', SERVER_PATH)).toBe(3);
    expect(progress[0]).toMatch(/waiting for server .* to be SHUTOFF: ACTIVE\/powering-off/);
  });

  it('should not take SHUTOFF with a task in progress for off', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server('SHUTOFF'));
    routed.sequence('GET', SERVER_PATH, [server('SHUTOFF', 'powering-on')]);
    routed.on('GET', ATTACHMENTS_PATH, attachments());

    // Act
    await driver.waitForPower(REF, 'off', call);

    // Assess
    expect(routed.count('GET', SERVER_PATH)).toBe(2);
  });

  it('should issue os-stop again when the server stays ACTIVE and idle (a dropped call)', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server('SHUTOFF'));
    routed.sequence('GET', SERVER_PATH, [server('ACTIVE'), server('ACTIVE')]);
    routed.on('POST', ACTION_PATH, { status: 202 });
    routed.on('GET', ATTACHMENTS_PATH, attachments());

    // Act
    await driver.waitForPower(REF, 'off', call);

    // Assess
    expect(routed.count('POST', ACTION_PATH)).toBe(1);
  });

  it('should throw DeadlineExceededError when the task never ends (dead hypervisor)', async () => {
    // Prepare
    const { routed, driver, clock } = setup();
    routed.on('GET', SERVER_PATH, server('ACTIVE', 'powering-off'));

    // Act
    const error = await failure(driver.waitForPower(REF, 'off', { deadline: clock.now() + 10_000 }));

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DriverError).retryable).toBe(true);
    expect(error.message).toMatch(/last state: ACTIVE\/powering-off/);
  });

  it('should wait for ACTIVE with no task for on', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server('ACTIVE'));
    routed.sequence('GET', SERVER_PATH, [server('SHUTOFF', 'powering-on')]);
    routed.on('GET', ATTACHMENTS_PATH, attachments());

    // Act
    const description = await driver.waitForPower(REF, 'on', call);

    // Assess
    expect(description.power).toBe('on');
  });

  it('should stop waiting for on when the server is gone', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, { status: 404 });

    // Act
    const error = await failure(driver.waitForPower(REF, 'on', call));

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
  });
});

describe('OpenStackDriver.detachVolume', () => {
  function withVolumes(routed: RoutedFetch) {
    routed.on('GET', SERVER_PATH, server('SHUTOFF'));
    routed.on('GET', ATTACHMENTS_PATH, attachments(['boot', '/dev/vda'], ['pv', '/dev/vdb']));
  }

  it('should refuse to detach the root volume and send nothing', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    withVolumes(routed);

    // Act
    const error = await failure(driver.detachVolume(REF, 'boot', call));

    // Assess
    expect(error).toBeInstanceOf(VolumeDetachRefusedError);
    expect((error as DriverError).retryable).toBe(false);
    expect(error.message).toMatch(/it is the root disk/);
    expect(routed.count('DELETE', DETACH_PATH)).toBe(0);
  });

  it.each([
    ['ACTIVE', null],
    ['ACTIVE', 'powering-off'],
    ['SHUTOFF', 'powering-on'],
    ['PAUSED', null],
    ['ERROR', null],
    ['UNKNOWN', null],
  ])('should only detach a volume from a server verified off (refuses %s/%s)', async (status, task) => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server(status, task));
    routed.on('GET', ATTACHMENTS_PATH, attachments(['boot', '/dev/vda'], ['pv', '/dev/vdb']));
    routed.on('DELETE', DETACH_PATH, { status: 202 });

    // Act
    const error = await failure(driver.detachVolume(REF, 'pv', call));

    // Assess
    expect(error).toBeInstanceOf(VolumeDetachRefusedError);
    expect(error).toMatchObject({ retryable: false, volumeId: 'pv' });
    expect(error.message).toMatch(/not off/);
    expect(routed.count('DELETE', DETACH_PATH)).toBe(0);
  });

  it('should read the power state afresh for a detach, never trusting an earlier describe', async () => {
    // Prepare: describe saw the server off; it has been started since.
    const { routed, driver, call } = setup();
    withVolumes(routed);
    routed.on('DELETE', DETACH_PATH, { status: 202 });
    await driver.describe(REF, call);
    routed.on('GET', SERVER_PATH, server('ACTIVE'));

    // Act
    const error = await failure(driver.detachVolume(REF, 'pv', call));

    // Assess
    expect(error).toBeInstanceOf(VolumeDetachRefusedError);
    expect(routed.count('DELETE', DETACH_PATH)).toBe(0);
  });

  it('should send one DELETE for an attached volume, reusing the root disks describe learnt', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    withVolumes(routed);
    routed.on('DELETE', DETACH_PATH, { status: 202 });
    await driver.describe(REF, call);
    const before = routed.calls.length;

    // Act
    await driver.detachVolume(REF, 'pv', call);

    // Assess: the server is read again for its power state; the attachments are not listed again.
    expect(routed.calls.slice(before).map((c) => `${c.method} ${new URL(c.url).pathname}`)).toEqual([
      `GET /v2.1/servers/${ID}`,
      `DELETE /v2.1/servers/${ID}/os-volume_attachments/pv`,
    ]);
  });

  it('should do nothing for a volume that is not attached', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    withVolumes(routed);

    // Act
    await driver.detachVolume(REF, 'elsewhere', call);

    // Assess
    expect(routed.count('DELETE', DETACH_PATH)).toBe(0);
  });

  it('should accept a 404 as already detached', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    withVolumes(routed);
    routed.on('DELETE', DETACH_PATH, { status: 404 });

    // Act
    await driver.detachVolume(REF, 'pv', call);

    // Assess
    expect(routed.count('DELETE', DETACH_PATH)).toBe(1);
  });

  it('should accept a 400 when Cinder shows the detach already under way', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    withVolumes(routed);
    routed.on('DELETE', DETACH_PATH, { status: 400 });
    routed.on('GET', VOLUME_PATH, volume('pv', 'detaching', [ID]));

    // Act
    await driver.detachVolume(REF, 'pv', call);

    // Assess
    expect(routed.count('GET', VOLUME_PATH)).toBe(1);
    expect(routed.calls.find((c) => VOLUME_PATH.test(c.url))?.url).toBe(
      `https://cinder.test:8776/v3/${PROJECT_ID}/volumes/pv`,
    );
  });

  it('should call a 409 on a still in-use volume a retryable refusal', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    withVolumes(routed);
    routed.on('DELETE', DETACH_PATH, {
      status: 409,
      json: { conflictingRequest: { code: 409, message: 'busy' } },
    });
    routed.on('GET', VOLUME_PATH, volume('pv', 'in-use', [ID]));

    // Act
    const error = await failure(driver.detachVolume(REF, 'pv', call));

    // Assess
    expect((error as DriverError).retryable).toBe(true);
    expect(error.message).toMatch(/Nova refused to detach volume pv \(in-use\)/);
  });
});

describe('OpenStackDriver.waitForDetached', () => {
  it.each([
    ['available', volume('pv', 'available')],
    ['attached elsewhere', volume('pv', 'in-use', [OTHER])],
    ['gone', { status: 404 }],
  ])('should be done when the volume is %s', async (_, final) => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', VOLUME_PATH, final);
    routed.sequence('GET', VOLUME_PATH, [volume('pv', 'detaching', [ID])]);

    // Act
    await driver.waitForDetached(REF, ['pv'], call);

    // Assess
    expect(routed.count('GET', VOLUME_PATH)).toBe(2);
  });

  it('should issue the detach again when the volume stays in-use', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('GET', SERVER_PATH, server('SHUTOFF'));
    routed.on('GET', ATTACHMENTS_PATH, attachments(['pv', '/dev/vdb']));
    routed.on('DELETE', DETACH_PATH, { status: 202 });
    routed.on('GET', VOLUME_PATH, volume('pv', 'available'));
    routed.sequence('GET', VOLUME_PATH, [
      volume('pv', 'in-use', [ID]),
      volume('pv', 'in-use', [ID]),
      volume('pv', 'in-use', [ID]),
    ]);

    // Act
    await driver.waitForDetached(REF, ['pv'], call);

    // Assess
    expect(routed.count('DELETE', DETACH_PATH)).toBe(1);
  });

  it('should throw DeadlineExceededError naming the volumes still attached', async () => {
    // Prepare
    const { routed, driver, clock } = setup();
    routed.on('GET', VOLUME_PATH, volume('pv', 'detaching', [ID]));

    // Act
    const error = await failure(driver.waitForDetached(REF, ['pv'], { deadline: clock.now() + 5_000 }));

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error.message).toMatch(/last state: pv detaching/);
  });
});

describe('OpenStackDriver.preflight', () => {
  it('should pass with a fresh token and both endpoints in the catalog', async () => {
    // Prepare
    const { routed, driver, call } = setup();

    // Act
    const result = await driver.preflight(call);

    // Assess
    expect(result).toEqual({ ok: true, problems: [] });
    expect(routed.count('POST', /\/auth\/tokens$/)).toBe(1);
  });

  it('should name a missing block-storage endpoint', async () => {
    // Prepare
    const catalog = defaultCatalog().filter((s) => (s as { type: string }).type !== 'volumev3');
    const { driver, call } = setup({ catalog });

    // Act
    const result = await driver.preflight(call);

    // Assess
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      'block storage: the catalog has no public endpoint of type volumev3 or block-storage in region RegionOne (it offers: compute, identity)',
    ]);
  });

  it('should report refused credentials as a problem, not a crash', async () => {
    // Prepare
    const { routed, driver, call } = setup();
    routed.on('POST', /\/auth\/tokens$/, { status: 401 });

    // Act
    const result = await driver.preflight(call);

    // Assess
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatch(/^Keystone refused the credentials \(401\)/);
  });
});
