import { describe, expect, it } from 'vitest';
import type { Server } from '../../../drivers/openstack/client/nova.js';
import { parseOpenStackProviderID } from '../../../drivers/openstack/provider-id.js';
import {
  cloudStateOf,
  powerStateOf,
  rootVolumeIds,
  verdictAfterRefusal,
} from '../../../drivers/openstack/server-state.js';

function server(status: string, taskState: string | null = null, extra: Partial<Server> = {}): Server {
  return {
    id: 's1',
    name: 'worker-1',
    status,
    taskState,
    addresses: [],
    volumeBacked: true,
    rootDeviceName: undefined,
    ...extra,
  };
}

describe('powerStateOf', () => {
  it.each([
    ['SHUTOFF', null, 'off'],
    ['SHELVED_OFFLOADED', null, 'off'],
    ['SOFT_DELETED', null, 'off'],
    ['DELETED', null, 'off'],
    ['ACTIVE', null, 'on'],
    ['ERROR', null, 'on'],
    ['PAUSED', null, 'on'],
    ['SUSPENDED', null, 'on'],
    ['RESCUE', null, 'on'],
    ['ACTIVE', 'powering-off', 'transitioning'],
    ['SHUTOFF', 'powering-on', 'transitioning'],
    ['ERROR', 'powering-off', 'transitioning'],
    ['HARD_REBOOT', 'reboot_started_hard', 'transitioning'],
    ['HARD_REBOOT', null, 'transitioning'],
    ['REBOOT', null, 'transitioning'],
    ['BUILD', 'spawning', 'transitioning'],
    ['MIGRATING', 'migrating', 'transitioning'],
    ['UNKNOWN', null, 'unknown'],
  ] as const)('should read %s with task %s as %s', (status, task, power) => {
    expect(powerStateOf(server(status, task))).toBe(power);
  });

  it('should read a server Nova does not show as unknown, never off (another project looks the same)', () => {
    expect(powerStateOf({ missing: true })).toBe('unknown');
    expect(cloudStateOf({ missing: true })).toBe('NOT_FOUND');
  });

  it('should keep the task in the cloud state for the journal', () => {
    expect(cloudStateOf(server('ACTIVE', 'powering-off'))).toBe('ACTIVE/powering-off');
    expect(cloudStateOf(server('SHUTOFF'))).toBe('SHUTOFF');
  });
});

describe('rootVolumeIds', () => {
  const attachments = [
    { volumeId: 'boot', device: '/dev/vda' },
    { volumeId: 'pv', device: '/dev/vdb' },
    { volumeId: 'data', device: '/dev/vdc' },
  ];

  it('should flag the volume on the root device Nova reports', () => {
    expect(rootVolumeIds(server('ACTIVE', null, { rootDeviceName: '/dev/vda' }), attachments)).toEqual(
      new Set(['boot']),
    );
  });

  it('should flag the first-disk volume of a volume-backed server when Nova hides the root device', () => {
    expect(rootVolumeIds(server('ACTIVE'), attachments)).toEqual(new Set(['boot']));
    expect(rootVolumeIds(server('ACTIVE'), [{ volumeId: 'boot', device: '/dev/sda' }])).toEqual(
      new Set(['boot']),
    );
  });

  it('should flag nothing on a server booted from an image', () => {
    expect(rootVolumeIds(server('ACTIVE', null, { volumeBacked: false }), attachments.slice(1))).toEqual(
      new Set(),
    );
  });

  it('should follow a root device name other than the first disk', () => {
    expect(rootVolumeIds(server('ACTIVE', null, { rootDeviceName: '/dev/vdb' }), attachments)).toEqual(
      new Set(['pv']),
    );
  });
});

describe('verdictAfterRefusal', () => {
  it.each([
    ['off', server('SHUTOFF'), 'done'],
    ['off', server('ACTIVE', 'powering-off'), 'done'],
    ['off', server('ACTIVE', 'rebooting_hard'), 'done'],
    ['off', server('ACTIVE'), 'repeat'],
    ['off', server('ERROR'), 'repeat'],
    ['off', server('PAUSED'), 'refuse'],
    ['off', server('SUSPENDED'), 'refuse'],
    ['off', server('UNKNOWN'), 'refuse'],
    ['on', server('ACTIVE'), 'done'],
    ['on', server('SHUTOFF', 'powering-on'), 'done'],
    ['on', server('SHUTOFF'), 'repeat'],
    ['on', server('SHELVED_OFFLOADED'), 'refuse'],
    ['on', server('DELETED'), 'refuse'],
  ] as const)('should, wanting %s, answer %s with %s', (want, reading, kind) => {
    expect(verdictAfterRefusal(reading, want).kind).toBe(kind);
  });

  it('should leave a server not found to the wait when stopping, and refuse to power it on', () => {
    expect(verdictAfterRefusal({ missing: true }, 'off')).toEqual({ kind: 'done' });
    expect(verdictAfterRefusal({ missing: true }, 'on')).toMatchObject({ kind: 'refuse', retryable: false });
  });

  it('should explain a refusal in terms an operator can act on', () => {
    expect(verdictAfterRefusal(server('PAUSED'), 'off')).toEqual({
      kind: 'refuse',
      reason:
        'the server is PAUSED; Nova stops only ACTIVE or ERROR servers (resume, unpause or unrescue it first)',
      retryable: false,
    });
  });
});

describe('parseOpenStackProviderID', () => {
  const uuid = '8d2b0f0e-5b9e-4a53-9b63-1c5b2a1f6c11';

  it.each([
    [`openstack:///${uuid}`, { serverId: uuid }],
    [`openstack:///${uuid.toUpperCase()}`, { serverId: uuid }],
    [`openstack://RegionTwo/${uuid}`, { serverId: uuid, region: 'RegionTwo' }],
    ['openstack:///not-a-uuid', undefined],
    [`openstack:///${uuid}/extra`, undefined],
    [`aws:///eu-west-1a/i-0abc`, undefined],
    ['', undefined],
  ])('should parse %j as %j', (providerID, parsed) => {
    expect(parseOpenStackProviderID(providerID)).toEqual(parsed);
  });
});
