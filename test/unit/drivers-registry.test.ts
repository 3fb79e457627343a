import { describe, expect, it } from 'vitest';
import type { NodeIdentity, PowerDriver } from '../../drivers/driver.js';
import { createDriverRegistry } from '../../drivers/registry.js';

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
