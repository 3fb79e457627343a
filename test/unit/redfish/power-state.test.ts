import { describe, expect, it } from 'vitest';
import { redfishMessage } from '../../../drivers/redfish/client/errors.js';
import { parseComputerSystem, parseResetActionInfo } from '../../../drivers/redfish/client/resources.js';
import {
  powerStateOf,
  resetTypeFor,
  type SystemReading,
  verdictAfterReset,
} from '../../../drivers/redfish/power-state.js';

const system = (powerState?: string): SystemReading => ({
  id: '1',
  uri: '/redfish/v1/Systems/1',
  ...(powerState === undefined ? {} : { powerState }),
});

describe('powerStateOf', () => {
  it.each([
    ['Off', 'off'],
    ['On', 'on'],
    ['Paused', 'on'],
    ['PoweringOn', 'transitioning'],
    ['PoweringOff', 'transitioning'],
    ['Standby', 'unknown'],
    [undefined, 'unknown'],
  ])('should read PowerState %s as %s', (state, expected) => {
    // Act
    const power = powerStateOf(system(state));

    // Assess
    expect(power).toBe(expected);
  });

  it('should never read a 404 as off', () => {
    // Act
    const power = powerStateOf({ missing: true });

    // Assess
    expect(power).toBe('unknown');
  });
});

describe('resetTypeFor', () => {
  it.each([
    ['off', undefined, { resetType: 'ForceOff' }],
    ['off', ['On', 'ForceOff'], { resetType: 'ForceOff' }],
    [
      'off',
      ['On', 'GracefulShutdown', 'PushPowerButton'],
      { refusal: expect.stringMatching(/does not allow ResetType ForceOff/) },
    ],
    ['on', ['On', 'ForceOn'], { resetType: 'On' }],
    ['on', ['ForceOn', 'ForceOff'], { resetType: 'ForceOn' }],
    ['on', ['ForceOff'], { refusal: expect.stringMatching(/On or ForceOn \(it allows ForceOff\)/) }],
  ] as const)('should choose for power %s with allowed %j: %j', (want, allowed, expected) => {
    // Act
    const choice = resetTypeFor(want, allowed);

    // Assess
    expect(choice).toEqual(expected);
  });
});

describe('verdictAfterReset', () => {
  it.each([
    ['Off', 'off', 'refused', { kind: 'done' }],
    ['PoweringOff', 'off', 'refused', { kind: 'done' }],
    ['On', 'off', 'lost', { kind: 'repeat' }],
    ['On', 'off', 'refused', { kind: 'refuse', retryable: false }],
    ['PoweringOn', 'off', 'refused', { kind: 'refuse', retryable: true }],
    [undefined, 'off', 'lost', { kind: 'refuse', retryable: true }],
    ['On', 'on', 'refused', { kind: 'done' }],
    ['Off', 'on', 'lost', { kind: 'repeat' }],
  ] as const)('should judge %s after a %s reset to power %s that was %s', (state, want, answer, expected) => {
    // Act
    const verdict = verdictAfterReset(system(state), want, answer);

    // Assess
    expect(verdict).toMatchObject(expected);
  });

  it('should refuse, not repeat, once the system is not found', () => {
    // Act
    const verdict = verdictAfterReset({ missing: true }, 'off', 'lost');

    // Assess
    expect(verdict).toEqual({
      kind: 'refuse',
      reason: 'the BMC no longer finds the system (404)',
      retryable: false,
    });
  });
});

describe('Redfish resources', () => {
  it('should read a system, its reset action and its inline allowed values', () => {
    // Act
    const parsed = parseComputerSystem({
      '@odata.id': '/redfish/v1/Systems/1',
      Id: '1',
      Name: 'web-1',
      PowerState: 'On',
      Actions: {
        '#ComputerSystem.Reset': {
          target: '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
          'ResetType@Redfish.AllowableValues': ['On', 'ForceOff'],
        },
      },
    });

    // Assess
    expect(parsed).toEqual({
      id: '1',
      uri: '/redfish/v1/Systems/1',
      name: 'web-1',
      powerState: 'On',
      reset: {
        target: '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
        allowableValues: ['On', 'ForceOff'],
      },
    });
  });

  it.each([
    ['not an object', []],
    ['no Id', { '@odata.id': '/redfish/v1/Systems/1' }],
    [
      'a reset action without a target',
      { '@odata.id': '/x', Id: '1', Actions: { '#ComputerSystem.Reset': {} } },
    ],
  ])('should refuse a body with %s', (_what, body) => {
    // Act
    const parsing = () => parseComputerSystem(body);

    // Assess
    expect(parsing).toThrow();
  });

  it('should read the allowed reset types of an ActionInfo', () => {
    // Act
    const allowed = parseResetActionInfo({
      Parameters: [
        { Name: 'Other', AllowableValues: ['x'] },
        { Name: 'ResetType', AllowableValues: ['On', 'ForceOff'] },
      ],
    });

    // Assess
    expect(allowed).toEqual(['On', 'ForceOff']);
  });

  it('should take the message of a Redfish error from its extended info', () => {
    // Act
    const message = redfishMessage(
      JSON.stringify({
        error: {
          code: 'Base.1.8.GeneralError',
          message: 'A general error has occurred.',
          '@Message.ExtendedInfo': [
            { MessageId: 'Base.1.8.InsufficientPrivilege', Message: 'There are insufficient privileges.' },
            { MessageId: 'Base.1.8.Other' },
          ],
        },
      }),
    );

    // Assess
    expect(message).toBe('A general error has occurred.; There are insufficient privileges.; Base.1.8.Other');
  });
});
