import { describe, expect, it } from 'vitest';
import { classifyEc2Error, parseAwsProviderId, regionOfZone } from '../../../drivers/aws-ec2/index.js';
import { awsError } from './helpers.js';

describe('parseAwsProviderId', () => {
  it.each([
    ['aws:///eu-west-1b/i-0123456789abcdef0', { zone: 'eu-west-1b', instanceId: 'i-0123456789abcdef0' }],
    ['aws:///us-gov-west-1a/i-0123abcd', { zone: 'us-gov-west-1a', instanceId: 'i-0123abcd' }],
    ['aws:///i-0123456789abcdef0', { instanceId: 'i-0123456789abcdef0' }],
    ['aws:///eu-west-1/i-0123456789abcdef0', undefined],
    ['aws:///eu-west-1b/i-0123456789ABCDEF0', undefined],
    ['aws:///eu-west-1b/i-0123456789abcdef0/extra', undefined],
    ['gce://project/zone/name', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('should parse %s', (providerID, expected) => {
    // Act
    const parsed = parseAwsProviderId(providerID);

    // Assess
    expect(parsed).toEqual(expected);
  });
});

describe('regionOfZone', () => {
  it.each([
    ['us-east-1a', 'us-east-1'],
    ['ap-southeast-4c', 'ap-southeast-4'],
    ['us-gov-east-1b', 'us-gov-east-1'],
    ['cn-northwest-1a', 'cn-northwest-1'],
    ['us-west-2-lax-1a', 'us-west-2'],
    ['us-east-1-wl1-bos-wlz-1', 'us-east-1'],
    ['us-east-1', undefined],
    ['use1-az1', undefined],
  ])('should give the region of %s', (zone, region) => {
    // Act
    const result = regionOfZone(zone);

    // Assess
    expect(result).toBe(region);
  });
});

describe('classifyEc2Error', () => {
  it.each([
    ['RequestLimitExceeded', 503, 'throttled'],
    ['Throttling', 400, 'throttled'],
    ['SomethingNew', 429, 'throttled'],
    ['InternalError', 500, 'transient'],
    ['SomethingNew', 502, 'transient'],
    ['AuthFailure', 401, 'auth'],
    ['UnauthorizedOperation', 403, 'auth'],
    ['SomethingNew', 403, 'auth'],
    ['InvalidInstanceID.NotFound', 400, 'instance-not-found'],
    ['InvalidInstanceID.Malformed', 400, 'instance-malformed'],
    ['IncorrectInstanceState', 400, 'incorrect-instance-state'],
    ['IncorrectState', 400, 'volume-not-attached'],
    ['DryRunOperation', 412, 'dry-run-ok'],
    ['InvalidParameterValue', 400, 'other'],
  ])('should classify %s (HTTP %i) as %s', (code, status, kind) => {
    // Act
    const result = classifyEc2Error(awsError(code, status));

    // Assess
    expect(result).toBe(kind);
  });

  it('should classify a reset connection as transient and a plain error as other', () => {
    // Prepare
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

    // Act, Assess
    expect(classifyEc2Error(reset)).toBe('transient');
    expect(classifyEc2Error(new Error('Throttling'))).toBe('other');
  });
});
