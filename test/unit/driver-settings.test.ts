import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../functions/config.js';
import { driversFromConfig } from '../../functions/runtimes/assemble.js';

const base = { ALERTFENCE_TOKENS: 'settings-token-0123456789abcdef' };
const OPENSTACK = {
  OS_AUTH_URL: 'https://keystone.test:5000/v3',
  OS_APPLICATION_CREDENTIAL_ID: 'ac1',
  OS_APPLICATION_CREDENTIAL_SECRET: 'secret',
};
const withoutProviderID = { name: 'worker-1', internalIPs: ['10.0.0.5'] };

function drivers(env: Record<string, string>) {
  return driversFromConfig(loadConfig({ ...base, ...env }));
}

describe('driver settings', () => {
  it.each([
    ['aws', {}, false],
    ['aws', { ALERTFENCE_AWS_LOOKUP: 'true' }, true],
    ['openstack', OPENSTACK, false],
    ['openstack', { ...OPENSTACK, ALERTFENCE_OPENSTACK_LOOKUP: 'true' }, true],
  ])('should look %s nodes without a providerID up only when asked (%j)', (name, env, claimed) => {
    // Act
    const [driver] = drivers({ ALERTFENCE_DRIVERS: name, AWS_REGION: 'eu-west-1', ...env });

    // Assess
    expect(driver?.handles(withoutProviderID)).toBe(claimed);
  });

  it('should refuse a lookup switch that is not a boolean', () => {
    // Act
    const building = () => drivers({ ALERTFENCE_DRIVERS: 'aws', ALERTFENCE_AWS_LOOKUP: 'maybe' });

    // Assess
    expect(building).toThrow(ConfigError);
    expect(building).toThrow('ALERTFENCE_AWS_LOOKUP must be true or false');
  });
});
