import { describe, expect, it } from 'vitest';
import { accessRulePattern } from '../../fakes/nova-cinder.js';

describe('accessRulePattern (the contract fake, as keystonemiddleware matches paths)', () => {
  it.each([
    ['/v2.1/servers/*', '/v2.1/servers/8d2b0f0e', true],
    ['/v2.1/servers/*', '/v2.1/servers/detail', true],
    ['/v2.1/servers/*', '/v2.1/servers/8d2b0f0e/action', false],
    ['/v2.1/servers/*', '/v2.1/servers', false],
    ['/v2.1/servers/*/action', '/v2.1/servers/8d2b0f0e/action', true],
    ['/v2.1/servers/*/os-volume_attachments/*', '/v2.1/servers/s/os-volume_attachments/v', true],
    ['/v2.1/servers/**', '/v2.1/servers/s/os-volume_attachments/v', true],
    ['/v2.1/servers/{server_id}', '/v2.1/servers/s', true],
    ['/v3/*/volumes/*', '/v3/p1/volumes/v1', true],
    ['/v3/*/volumes/*', '/v3/volumes/v1', false],
    ['/v2.1/servers/*', '/v2x1/servers/s', false],
  ])('should match %s against %s: %s', (pattern, path, matches) => {
    expect(accessRulePattern(pattern).test(path)).toBe(matches);
  });
});
