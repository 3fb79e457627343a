import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { captureProcessWarnings, createLogger, redact } from '../../functions/log.js';
import { alertPayload, createWorld, SECOND_TOKEN, TOKEN } from '../support/world.js';

const SECRET = 's3cr3t-value-that-must-not-leak';

/** `value` nested `depth` objects deep under keys that are not secret. */
function nest(value: unknown, depth: number): unknown {
  let nested = value;
  for (let i = 0; i < depth; i += 1) nested = { level: nested };
  return nested;
}

describe('redact', () => {
  it.each([
    'token',
    'accessToken',
    'ALERTFENCE_TOKENS',
    'x-amz-security-token',
    'secret',
    'clientSecret',
    'password',
    'Authorization',
    'proxy-authorization',
    'credentials',
    'applicationCredentialSecret',
    'cookie',
  ])('should mask the value of a %s key', (key) => {
    // Act
    const redacted = redact({ [key]: SECRET, kept: 'visible' });

    // Assess
    expect(redacted).toEqual({ [key]: '[redacted]', kept: 'visible' });
  });

  it('should mask secret keys inside objects and arrays', () => {
    // Prepare
    const fields = {
      request: { headers: { authorization: `Bearer ${SECRET}`, accept: 'application/json' } },
      tokens: [SECRET],
      steps: [{ phase: 'PowerOff', auth: { password: SECRET } }],
    };

    // Act
    const redacted = redact(fields);

    // Assess
    expect(JSON.stringify(redacted)).not.toContain(SECRET);
    expect(redacted).toEqual({
      request: { headers: { authorization: '[redacted]', accept: 'application/json' } },
      tokens: '[redacted]',
      steps: [{ phase: 'PowerOff', auth: { password: '[redacted]' } }],
    });
  });

  it.each([1, 3, 6, 7, 10, 50])('should mask a secret key %i levels deep', (depth) => {
    // Prepare
    const fields = nest({ token: SECRET }, depth);

    // Act
    const line = JSON.stringify(redact(fields));

    // Assess: past MAX_DEPTH the value is replaced by '[truncated]', never passed through unmasked.
    expect(line).not.toContain(SECRET);
  });

  it('should not throw on a circular structure, and mask what it shows', () => {
    // Prepare
    const fields: Record<string, unknown> = { password: SECRET };
    fields.self = fields;

    // Act
    const render = () => JSON.stringify(redact(fields));

    // Assess: the cycle is cut ('[circular]'), so JSON.stringify, and the log call, cannot throw on it.
    expect(render).not.toThrow();
    expect(render()).not.toContain(SECRET);
  });

  it('should show an object referenced twice both times, since a shared reference is not a cycle', () => {
    // Prepare
    const node = { name: 'worker-1', password: SECRET };
    const fields = { before: node, after: node, list: [node, node] };

    // Act
    const redacted = redact(fields);

    // Assess
    const shown = { name: 'worker-1', password: '[redacted]' };
    expect(redacted).toEqual({ before: shown, after: shown, list: [shown, shown] });
  });

  it('should show an error that is both logged and the cause of another', () => {
    // Prepare
    const cause = new Error('connection reset');
    const error = new Error('describe failed', { cause });

    // Act
    const redacted = redact({ error, cause });

    // Assess
    expect(redacted).toEqual({
      error: {
        name: 'Error',
        message: 'describe failed',
        cause: { name: 'Error', message: 'connection reset' },
      },
      cause: { name: 'Error', message: 'connection reset' },
    });
  });

  it('should leave primitives and null as they are', () => {
    // Act
    const values = [redact('text'), redact(3), redact(null), redact(undefined), redact(true)];

    // Assess
    expect(values).toEqual(['text', 3, null, undefined, true]);
  });

  it('should serialise an Error with its name, message and cause', () => {
    // Prepare
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { name: 'FetchError' });
    const error = new Error('describe failed', { cause });
    error.name = 'DriverError';

    // Act
    const redacted = redact({ error });

    // Assess
    expect(redacted).toEqual({
      error: {
        name: 'DriverError',
        message: 'describe failed',
        cause: { name: 'FetchError', message: 'connect ECONNREFUSED' },
      },
    });
  });

  it('should mask secrets in the cause of an Error', () => {
    // Prepare
    const error = new Error('auth failed', { cause: { status: 401, credential: SECRET } });

    // Act
    const line = JSON.stringify(redact({ error }));

    // Assess
    expect(line).not.toContain(SECRET);
    expect(line).toContain('auth failed');
  });
});

describe('createLogger', () => {
  it('should write one JSON line per event with time, level, message and fields', () => {
    // Prepare
    const lines: string[] = [];
    const log = createLogger({
      write: (line) => lines.push(line),
      now: () => Date.parse('2026-11-22T10:00:00Z'),
    });

    // Act
    log.info('fence started', { requestId: 'r1', node: 'worker-1', phase: 'Lock', outcome: 'accepted' });

    // Assess
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      time: '2026-11-22T10:00:00.000Z',
      level: 'info',
      msg: 'fence started',
      requestId: 'r1',
      node: 'worker-1',
      phase: 'Lock',
      outcome: 'accepted',
    });
  });

  it('should drop lines under its level', () => {
    // Prepare
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', write: (line) => lines.push(line) });

    // Act
    log.debug('a');
    log.info('b');
    log.warn('c');
    log.error('d');

    // Assess
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['c', 'd']);
  });

  it('should redact the fields of a line and of a child logger', () => {
    // Prepare
    const lines: string[] = [];
    const log = createLogger({ write: (line) => lines.push(line) }).child({ apiKey: 'k', token: SECRET });

    // Act
    log.error('keystone refused', { password: SECRET, error: new Error('401') });

    // Assess
    expect(lines.join('\n')).not.toContain(SECRET);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      token: '[redacted]',
      password: '[redacted]',
      error: { message: '401' },
    });
  });
});

describe('logs of a whole fence', () => {
  it('should never contain a bearer token', async () => {
    // Prepare
    const world = createWorld();

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]));
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]), {
      authorization: `Bearer ${SECOND_TOKEN}`,
    });
    const refused = await world.post('/v1/alerts', alertPayload([{ node: 'worker-1' }]), {
      authorization: `Bearer ${TOKEN.slice(0, -1)}x`,
    });
    await world.post('/v1/alerts', '{"version":', { authorization: `Bearer ${SECOND_TOKEN}` });
    await world.post('/v1/nodes/worker-2/fence', { dryRun: true, reason: 'check' });
    await world.drain();
    await world.app.request('/v1/nodes/worker-1/fence', {
      headers: { authorization: `Bearer ${SECOND_TOKEN}` },
    });
    await world.app.request('/readyz');

    // Assess
    expect(refused.status).toBe(401);
    const all = world.logs.join('\n');
    expect(world.logs.length).toBeGreaterThan(10);
    expect(all).toContain('"phase":"PowerOff"');
    expect(all).toContain('"status":401');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(SECOND_TOKEN);
    expect(all).not.toContain(TOKEN.slice(0, -1));
    for (const line of world.logs) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('should log one line per request with its id, status and duration', async () => {
    // Prepare
    const world = createWorld();

    // Act
    await world.post('/v1/alerts', alertPayload([{ node: 'worker-2' }]), { 'x-request-id': 'req-42' });

    // Assess
    const requests = world.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'request');
    expect(requests).toEqual([
      expect.objectContaining({
        requestId: 'req-42',
        method: 'POST',
        path: '/v1/alerts',
        status: 202,
        durationMs: expect.any(Number),
      }),
    ]);
  });
});

/**
 * A stand-in for `process` as the warning capture sees it: an emitter with flags and an environment, and
 * Node's printer as its one `'warning'` listener. The test worker's own process is left alone.
 */
function fakeProcess(
  options: { env?: Record<string, string>; execArgv?: string[]; noDeprecation?: boolean } = {},
) {
  const printed: string[] = [];
  const target = Object.assign(new EventEmitter(), {
    env: options.env ?? {},
    execArgv: options.execArgv ?? [],
    noDeprecation: options.noDeprecation ?? false,
  });
  const onWarning = (warning: Error) => printed.push(`(node:1) ${warning.name}: ${warning.message}`);
  target.on('warning', onWarning);
  return { target: target as unknown as NodeJS.Process, emitter: target, printed };
}

/** The AWS SDK's warning on Node 20, as `@aws-sdk/core` emits it: one name, a message of several lines. */
function sdkWarning(): Error {
  const warning = new Error(
    'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after the first week of January 2027\nwill require node >=22.',
  );
  warning.name = 'Warning';
  return warning;
}

describe('captureProcessWarnings', () => {
  it("should write a multi-line warning as one JSON line instead of Node's text on stderr", () => {
    // Prepare
    const lines: string[] = [];
    const { target, emitter, printed } = fakeProcess();
    captureProcessWarnings(createLogger({ write: (line) => lines.push(line), now: () => 0 }), target);

    // Act
    emitter.emit('warning', sdkWarning());

    // Assess
    expect(printed).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      level: 'warn',
      msg: 'process warning',
      warning: { name: 'Warning', message: expect.stringContaining('will require node >=22') },
    });
  });

  it("should keep a warning's code and detail", () => {
    // Prepare
    const lines: string[] = [];
    const { target, emitter } = fakeProcess();
    captureProcessWarnings(createLogger({ write: (line) => lines.push(line) }), target);
    const warning = Object.assign(new Error('Buffer() is deprecated'), {
      name: 'DeprecationWarning',
      code: 'DEP0005',
      detail: 'Use Buffer.alloc() instead.',
    });

    // Act
    emitter.emit('warning', warning);

    // Assess
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      warning: { name: 'DeprecationWarning', code: 'DEP0005', detail: 'Use Buffer.alloc() instead.' },
    });
  });

  it.each<[string, Parameters<typeof fakeProcess>[0], string]>([
    ['NODE_NO_WARNINGS=1', { env: { NODE_NO_WARNINGS: '1' } }, 'Warning'],
    ['--no-warnings', { execArgv: ['--no-warnings'] }, 'Warning'],
    [
      '--no-warnings in NODE_OPTIONS',
      { env: { NODE_OPTIONS: '--max-old-space-size=512 --no-warnings' } },
      'Warning',
    ],
    ['--disable-warning=Warning', { execArgv: ['--disable-warning=Warning'] }, 'Warning'],
    [
      '--disable-warning DEP0005 in NODE_OPTIONS',
      { env: { NODE_OPTIONS: '--disable-warning DEP0005' } },
      'DeprecationWarning',
    ],
    ['--no-deprecation', { noDeprecation: true }, 'DeprecationWarning'],
  ])('should stay quiet as Node would with %s', (_flag, options, name) => {
    // Prepare
    const lines: string[] = [];
    const { target, emitter } = fakeProcess(options);
    captureProcessWarnings(createLogger({ write: (line) => lines.push(line) }), target);

    // Act
    emitter.emit('warning', Object.assign(new Error('quiet please'), { name, code: 'DEP0005' }));

    // Assess
    expect(lines).toEqual([]);
  });

  it("should give the warnings back to Node's printer once released", () => {
    // Prepare
    const lines: string[] = [];
    const { target, emitter, printed } = fakeProcess();
    const release = captureProcessWarnings(createLogger({ write: (line) => lines.push(line) }), target);

    // Act
    release();
    emitter.emit('warning', sdkWarning());

    // Assess
    expect(lines).toEqual([]);
    expect(printed).toHaveLength(1);
    expect(emitter.listenerCount('warning')).toBe(1);
  });
});
