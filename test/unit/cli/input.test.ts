import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/errors.js';
import * as input from '../../../cli/input.js';
import { resolveToken } from '../../../cli/token.js';

const NOW = Date.parse('2026-11-22T10:00:00Z');

describe('cli input', () => {
  it.each(['worker-1', 'ip-10-0-0-1.eu-west-1.compute.internal', 'a', 'x'.repeat(253)])(
    'should accept the Node name %s',
    (name) => {
      // Act
      const accepted = input.nodeName(name);

      // Assess
      expect(accepted).toBe(name);
    },
  );

  it.each(['', 'Worker-1', 'worker_1', '-worker', 'worker-', 'worker..1', 'x'.repeat(254), 'a/b', 'a b'])(
    'should refuse the Node name "%s" as a usage error',
    (name) => {
      // Act
      const act = () => input.nodeName(name);

      // Assess
      expect(act).toThrow(UsageError);
      expect(act).toThrow(/RFC 1123/);
    },
  );

  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
  ])('should read the duration %s as %i ms', (text, ms) => {
    // Act
    const value = input.duration(text, '--timeout');

    // Assess
    expect(value).toBe(ms);
  });

  it.each(['', '5', '1d', '-5m', '5 m', '0s', 'soon'])('should refuse the duration "%s"', (text) => {
    // Act
    const act = () => input.duration(text, '--for');

    // Assess
    expect(act).toThrow(UsageError);
    expect(act).toThrow(/^--for: /);
  });

  it.each(['2026-11-22T12:00:00Z', '2026-11-22T13:00:00+01:00', '2026-11-22T12:00:00.5Z'])(
    'should accept the RFC 3339 time %s',
    (text) => {
      // Act
      const at = input.rfc3339(text, '--until');

      // Assess
      expect(at).toBe(Date.parse(text));
    },
  );

  it.each(['2026-11-22 12:00', '2026-11-22T12:00:00', 'tomorrow', '2026-13-40T99:00:00Z'])(
    'should refuse "%s" as a time without a zone or not a time',
    (text) => {
      // Act
      const act = () => input.rfc3339(text, '--until');

      // Assess
      expect(act).toThrow(/--until: .*RFC 3339/);
    },
  );

  it('should refuse a pause given both --for and --until', () => {
    // Act
    const act = () => input.pauseEnd({ for: '2h', until: '2026-11-22T12:00:00Z' }, NOW);

    // Assess
    expect(act).toThrow('give --for or --until, not both');
  });

  it.each([
    [{ until: '2026-11-22T09:00:00Z' }, /not in the future/],
    [{ until: '2027-01-22T09:00:00Z' }, /at most 30 days/],
    [{ for: '721h' }, /at most 30 days/],
  ])('should refuse the pause end %o', (options, message) => {
    // Act
    const act = () => input.pauseEnd(options, NOW);

    // Assess
    expect(act).toThrow(message);
  });

  it('should pass a pause end on as the API takes it', () => {
    // Act
    const forTwoHours = input.pauseEnd({ for: ' 2h ' }, NOW);
    const untilNoon = input.pauseEnd({ until: '2026-11-22T12:00:00Z' }, NOW);
    const open = input.pauseEnd({}, NOW);

    // Assess
    expect(forTwoHours).toEqual({ for: '2h' });
    expect(untilNoon).toEqual({ until: '2026-11-22T12:00:00Z' });
    expect(open).toBeUndefined();
  });

  it.each([
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
    ['https://gateway.example:8080/function/alertfence/', 'https://gateway.example:8080/function/alertfence'],
  ])('should take %s as the base URL %s', (text, expected) => {
    // Act
    const url = input.baseUrl(text);

    // Assess
    expect(url).toBe(expected);
  });

  it.each([
    ['localhost:8080', /not an http or https URL|not a URL/],
    ['ftp://host', /not an http or https URL/],
    ['http://user:secret@host', /no credentials in the URL/],
    ['http://host/?a=1', /query or a fragment/],
    ['not a url', /not a URL/],
  ])('should refuse the URL %s', (text, message) => {
    // Act
    const act = () => input.baseUrl(text);

    // Assess
    expect(act).toThrow(message);
  });

  it.each(['0', '51', '2.5', 'ten', '-1'])('should refuse --limit %s', (text) => {
    // Act
    const act = () => input.limit(text);

    // Assess
    expect(act).toThrow(/--limit: .* from 1 to 50/);
  });

  it('should refuse blank and overlong free text', () => {
    // Act
    const blank = () => input.text('   ', '--reason', 500);
    const long = () => input.text('x'.repeat(501), '--reason', 500);

    // Assess
    expect(blank).toThrow('--reason: must not be empty');
    expect(long).toThrow('--reason: at most 500 characters');
  });
});

describe('cli token', () => {
  const files: Record<string, string> = {
    '/run/token': '\n  file-token-0123456789  \nsecond-token-ignored\n',
    '/run/other': 'other-token-0123456789\n',
    '/run/empty': '\n \n',
  };
  const readFile = (path: string) => {
    const content = files[path];
    if (content === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return content;
  };

  it('should read the first non-empty line of --token-file, over the environment', () => {
    // Act
    const token = resolveToken({
      tokenFile: '/run/token',
      env: { ALERTFENCE_TOKEN: 'env-token', ALERTFENCE_TOKEN_FILE: '/run/other' },
      readFile,
    });

    // Assess
    expect(token).toBe('file-token-0123456789');
  });

  it('should take ALERTFENCE_TOKEN, else ALERTFENCE_TOKEN_FILE, else none', () => {
    // Act
    const inline = resolveToken({ env: { ALERTFENCE_TOKEN: ' env-token ' }, readFile });
    const fromFile = resolveToken({ env: { ALERTFENCE_TOKEN_FILE: '/run/other' }, readFile });
    const none = resolveToken({ env: {}, readFile });

    // Assess
    expect(inline).toBe('env-token');
    expect(fromFile).toBe('other-token-0123456789');
    expect(none).toBeUndefined();
  });

  it.each([
    [
      { ALERTFENCE_TOKEN: 'a', ALERTFENCE_TOKEN_FILE: '/run/other' },
      /both ALERTFENCE_TOKEN and ALERTFENCE_TOKEN_FILE/,
    ],
    [
      { ALERTFENCE_TOKEN_FILE: '/run/missing' },
      /ALERTFENCE_TOKEN_FILE: cannot read \/run\/missing \(ENOENT\)/,
    ],
    [{ ALERTFENCE_TOKEN_FILE: '/run/empty' }, /holds no token/],
  ])('should refuse the token sources %o', (env, message) => {
    // Act
    const act = () => resolveToken({ env, readFile });

    // Assess
    expect(act).toThrow(UsageError);
    expect(act).toThrow(message);
  });
});
