/** The notification settings (`ALERTFENCE_NOTIFY_*`, `ALERTFENCE_CLUSTER_NAME`) as `loadConfig` reads them. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, NOTIFY_EVENTS } from '../../../functions/config.js';

const base = { ALERTFENCE_TOKENS: 'config-token-0123456789abcdef' };
const SLACK = 'https://hooks.slack.com/services/T000/B000/XXXXSECRETPATH';

function refusal(env: Record<string, string>, files: Record<string, string> = {}): string {
  try {
    loadConfig({ ...base, ...env }, (path) => files[path] ?? '');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected loadConfig to refuse');
}

describe('the notification settings', () => {
  it('should send nothing, and everything once configured, by default', () => {
    // Act
    const config = loadConfig(base);

    // Assess
    expect(config.clusterName).toBeUndefined();
    expect(config.notify).toEqual({
      destinations: [],
      secret: undefined,
      events: [...NOTIFY_EVENTS],
      timeoutMs: 5_000,
      repeatIntervalMs: 3_600_000,
    });
  });

  it('should pair each URL with its format, in order, or give one format to all', () => {
    // Act
    const paired = loadConfig({
      ...base,
      ALERTFENCE_NOTIFY_URL: `${SLACK}, https://receiver.example/hook`,
      ALERTFENCE_NOTIFY_FORMAT: 'slack,json',
    });
    const shared = loadConfig({
      ...base,
      ALERTFENCE_NOTIFY_URL: `${SLACK},https://mattermost.example/hooks/abc`,
      ALERTFENCE_NOTIFY_FORMAT: 'slack',
    });

    // Assess
    expect(paired.notify.destinations).toEqual([
      { url: SLACK, format: 'slack' },
      { url: 'https://receiver.example/hook', format: 'json' },
    ]);
    expect(shared.notify.destinations.map((destination) => destination.format)).toEqual(['slack', 'slack']);
  });

  it('should read the URLs (one a line) and the secret from files', () => {
    // Prepare
    const files = {
      '/run/secrets/notify-url': `${SLACK}\nhttps://receiver.example/hook\n`,
      '/run/secrets/notify-secret': 'notify-secret-0123456789abcdef\n',
    };

    // Act
    const config = loadConfig(
      {
        ...base,
        ALERTFENCE_NOTIFY_URL_FILE: '/run/secrets/notify-url',
        ALERTFENCE_NOTIFY_SECRET_FILE: '/run/secrets/notify-secret',
        ALERTFENCE_NOTIFY_FORMAT: 'slack,json',
      },
      (path) => files[path as keyof typeof files] ?? '',
    );

    // Assess
    expect(config.notify.destinations.map((destination) => destination.url)).toEqual([
      SLACK,
      'https://receiver.example/hook',
    ]);
    expect(config.notify.secret).toBe('notify-secret-0123456789abcdef');
  });

  it.each([
    'http://127.0.0.1:9000/hook',
    'http://127.1.2.3/hook',
    'http://localhost:8080/hook',
    'http://[::1]:8080/hook',
  ])('should take plain http to the loopback address %s', (url) => {
    // Act
    const config = loadConfig({ ...base, ALERTFENCE_NOTIFY_URL: url });

    // Assess
    expect(config.notify.destinations).toEqual([{ url, format: 'json' }]);
  });

  it.each([
    ['plain http elsewhere', 'http://hooks.example.com/services/XXXXSECRETPATH', /must be https:\/\//],
    ['not a URL', 'hooks.example.com/XXXXSECRETPATH', /is not a URL/],
    ['another scheme', 'ftp://hooks.example.com/XXXXSECRETPATH', /must be https:\/\//],
  ])('should refuse %s without repeating the URL', (_, url, reason) => {
    // Act
    const message = refusal({ ALERTFENCE_NOTIFY_URL: url });

    // Assess
    expect(message).toMatch(reason);
    expect(message).toContain('ALERTFENCE_NOTIFY_URL');
    expect(message).not.toContain('XXXXSECRETPATH');
  });

  it('should refuse as many formats as neither one nor the number of URLs', () => {
    // Act
    const message = refusal({
      ALERTFENCE_NOTIFY_URL: `${SLACK},https://receiver.example/hook`,
      ALERTFENCE_NOTIFY_FORMAT: 'slack,json,json',
    });

    // Assess
    expect(message).toMatch(/ALERTFENCE_NOTIFY_FORMAT: give one format for every URL, or 2 formats/);
  });

  it.each([
    ['all', [...NOTIFY_EVENTS]],
    ['started,fence.succeeded', ['fence.started', 'fence.succeeded']],
    ['refused.storm-guard, refused.cap', ['fence.refused.storm-guard', 'fence.refused.cap']],
  ])('should read the events %j', (events, expected) => {
    // Act
    const config = loadConfig({ ...base, ALERTFENCE_NOTIFY_EVENTS: events });

    // Assess
    expect(config.notify.events).toEqual(expected);
  });

  it.each([
    [
      { ALERTFENCE_NOTIFY_EVENTS: 'started,phase-completed' },
      /ALERTFENCE_NOTIFY_EVENTS.1: each event must be/,
    ],
    [{ ALERTFENCE_NOTIFY_FORMAT: 'teams' }, /ALERTFENCE_NOTIFY_FORMAT.0: each format must be json or slack/],
    [{ ALERTFENCE_NOTIFY_SECRET: 'short' }, /ALERTFENCE_NOTIFY_SECRET: must be at least 16 characters/],
    [{ ALERTFENCE_NOTIFY_TIMEOUT: '30s' }, /ALERTFENCE_NOTIFY_TIMEOUT: must be at most 10s/],
    [{ ALERTFENCE_NOTIFY_TIMEOUT: '100ms' }, /ALERTFENCE_NOTIFY_TIMEOUT: must be at least 1s/],
    [{ ALERTFENCE_CLUSTER_NAME: 'prod\neu' }, /ALERTFENCE_CLUSTER_NAME: must be printable text on one line/],
  ])('should refuse %j', (env, reason) => {
    // Act
    const message = refusal(env);

    // Assess
    expect(message).toMatch(reason);
  });

  it('should never repeat the secret in a refusal', () => {
    // Act
    const message = refusal({ ALERTFENCE_NOTIFY_SECRET: 'has a space in it, secret' });

    // Assess
    expect(message).toMatch(/ALERTFENCE_NOTIFY_SECRET: must be printable ASCII without spaces/);
    expect(message).not.toContain('has a space');
  });
});
