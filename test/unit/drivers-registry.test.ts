import { describe, expect, it } from 'vitest';
import { type NodeIdentity, type PowerDriver, VolumeDetachRefusedError } from '../../drivers/driver.js';
import { createDriverRegistry } from '../../drivers/registry.js';
import { SimulatedDriver } from '../../drivers/simulated/simulated-driver.js';

/** A driver that claims nodes by a predicate; nothing else is called by the registry. */
const claiming = (name: string, claims: (node: NodeIdentity) => boolean) =>
  ({ name, handles: claims }) as unknown as PowerDriver;

const node = (providerID?: string): NodeIdentity => ({
  name: 'worker-1',
  internalIPs: [],
  ...(providerID ? { providerID } : {}),
});

describe('createDriverRegistry', () => {
  const aws = claiming('aws', (n) => n.providerID?.startsWith('aws://') ?? false);
  const openstack = claiming('openstack', (n) => n.providerID?.startsWith('openstack://') ?? false);
  const awsDefault = claiming('aws', () => true);

  it.each([
    ['aws:///eu-west-1a/i-0abc', [aws, openstack], 'aws'],
    ['openstack:///0b1c', [aws, openstack], 'openstack'],
    ['openstack:///0b1c', [awsDefault, openstack], 'openstack'],
    [undefined, [awsDefault, openstack], 'aws'],
  ] as const)('should pick the driver of %s', (providerID, drivers, expected) => {
    // Act
    const picked = createDriverRegistry(drivers).pick(node(providerID));

    // Assess
    expect('driver' in picked && picked.driver.name).toBe(expected);
  });

  it.each([
    ['gce://project/zone/vm', [aws, openstack], 'no enabled driver for providerID scheme "gce"'],
    [undefined, [aws, openstack], 'node has no spec.providerID'],
    ['k3s://node', [awsDefault, claiming('other', () => true)], 'several drivers claim the node: aws, other'],
  ] as const)('should refuse %s with a reason', (providerID, drivers, reason) => {
    // Act
    const picked = createDriverRegistry(drivers).pick(node(providerID));

    // Assess
    expect('reason' in picked && picked.reason).toContain(reason);
  });
});

// The simulated driver has no test file of its own; its refusals live here with the other driver-level checks.
describe('SimulatedDriver.detachVolume', () => {
  const ref = { provider: 'simulated', id: 'sim-1' };
  const call = { deadline: Number.MAX_SAFE_INTEGER };

  function simulated(state: 'running' | 'stopping' | 'stopped' | 'pending') {
    let now = 0;
    const driver = new SimulatedDriver({ now: () => now, detachMs: 10 });
    driver.addInstance('sim-1', ['vol-pv']);
    const instance = driver.instances.get('sim-1');
    if (instance) Object.assign(instance, { state, settlesAt: Number.MAX_SAFE_INTEGER });
    return { driver, advance: (ms: number) => (now += ms) };
  }

  it.each(['running', 'stopping', 'pending'] as const)(
    'should only detach a volume from an instance verified off (refuses while %s)',
    async (state) => {
      // Prepare
      const { driver, advance } = simulated(state);

      // Act
      const error = await driver.detachVolume(ref, 'vol-pv', call).catch((caught: unknown) => caught);
      advance(1000);

      // Assess
      expect(error).toBeInstanceOf(VolumeDetachRefusedError);
      expect(error).toMatchObject({ retryable: false, volumeId: 'vol-pv' });
      expect((await driver.describe(ref, call)).volumes.map((v) => v.id)).toContain('vol-pv');
    },
  );

  it('should never detach the root volume, even of an instance that is off', async () => {
    // Prepare
    const { driver, advance } = simulated('stopped');

    // Act
    const error = await driver.detachVolume(ref, 'sim-1-root', call).catch((caught: unknown) => caught);
    advance(1000);

    // Assess
    expect(error).toBeInstanceOf(VolumeDetachRefusedError);
    expect((await driver.describe(ref, call)).volumes.map((v) => v.id)).toContain('sim-1-root');
  });

  it('should detach a data volume of an instance that is off', async () => {
    // Prepare
    const { driver, advance } = simulated('stopped');

    // Act
    await driver.detachVolume(ref, 'vol-pv', call);
    advance(1000);

    // Assess
    expect((await driver.describe(ref, call)).volumes.map((v) => v.id)).toEqual(['sim-1-root']);
  });
});
