/**
 * Each command of the CLI against a stub of alertfence's API on loopback: what it asks, what it prints for
 * people and with --json, and the exit code of every kind of answer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { VirtualClock } from '../../support/world.js';
import {
  accepted,
  FENCE_ID,
  history,
  journalAt,
  listing,
  overview,
  planned,
  record,
  refused,
} from './fixtures.js';
import { ANSI, jsonLines, plain, type Routes, runCli, type Stub, startStub, TOKEN } from './support.js';

const READY = { status: 200, body: { status: 'ready', paused: false } };
const PAUSE = {
  reason: 'cluster upgrade',
  by: 'ops@laptop',
  since: '2026-11-22T09:30:00.000Z',
  until: '2026-11-22T11:30:00.000Z',
};

let stub: Stub | undefined;
afterEach(async () => {
  await stub?.stop();
  stub = undefined;
});

async function serve(routes: Routes): Promise<Stub> {
  stub = await startStub(routes);
  return stub;
}

describe('alertfence status', () => {
  it('should show readiness, no pause, no fence and the last success, and exit 0', async () => {
    // Prepare
    const api = await serve({
      'GET /readyz': READY,
      'GET /v1/fences': {
        status: 200,
        body: overview({
          lastSucceeded: { node: 'worker-1', id: FENCE_ID, finishedAt: '2026-11-22T09:55:00Z' },
        }),
      },
    });

    // Act
    const result = await runCli(api.url, ['status']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`alertfence at ${api.url}`);
    expect(result.stdout).toMatch(/ready\s+yes/);
    expect(result.stdout).toMatch(/paused\s+no/);
    expect(result.stdout).toContain(`worker-1 (fence ${FENCE_ID}) at 2026-11-22T09:55:00Z, 5m ago`);
    expect(result.stdout).toContain('No fence is running, failed or waiting for an operator.');
    expect(result.stderr).toBe('');
  });

  it('should send the bearer token to every route it reads', async () => {
    // Prepare
    const api = await serve({ 'GET /readyz': READY, 'GET /v1/fences': { status: 200, body: overview() } });

    // Act
    await runCli(api.url, ['status']);

    // Assess
    expect(api.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /readyz',
      'GET /v1/fences',
    ]);
    for (const request of api.requests) expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.requests[0]?.headers['user-agent']).toMatch(/^alertfence-cli\/\d+\.\d+\.\d+$/);
  });

  it('should list running, failed and waiting fences, the rejected journals and the pause', async () => {
    // Prepare
    const api = await serve({
      'GET /readyz': { status: 200, body: { status: 'ready', paused: PAUSE } },
      'GET /v1/fences': {
        status: 200,
        body: overview({
          paused: PAUSE,
          fences: [
            listing(),
            listing({
              node: 'worker-4',
              status: 'failed',
              phase: 'PowerOff',
              held: false,
              lastError: 'Nova answered 409',
            }),
            listing({
              node: 'worker-5',
              status: 'failed',
              phase: 'Release',
              held: false,
              waiting: {
                since: '2026-11-22T09:40:00Z',
                reason: 'NeedsOperator: the volume cannot be detached',
              },
            }),
          ],
          rejected: [{ node: 'worker-9', reason: 'the seal does not match' }],
        }),
      },
    });

    // Act
    const result = await runCli(api.url, ['status']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'yes, since 2026-11-22T09:30:00Z (30m ago) by ops@laptop: "cluster upgrade"; until 2026-11-22T11:30:00Z (in 1h)',
    );
    const rows = result.stdout.split('\n');
    expect(rows.find((row) => row.startsWith('NODE'))).toMatch(
      /^NODE\s+FENCE\s+STATUS\s+PHASE DONE\s+TRIGGER\s+STARTED\s+UPDATED\s+NOTE$/,
    );
    expect(rows.find((row) => row.startsWith('worker-3'))).toMatch(
      /running\s+VerifyOff\s+alert\s+2026-11-22T09:58:00Z\s+10s ago\s+in progress/,
    );
    expect(rows.find((row) => row.startsWith('worker-4'))).toMatch(
      /failed\s+PowerOff.*the tick or the next alert retries it/,
    );
    expect(rows.find((row) => row.startsWith('worker-5'))).toMatch(/waiting\s+Release.*needs an operator/);
    expect(result.stdout).toContain('worker-4: last error: Nova answered 409');
    expect(result.stdout).toContain(
      'worker-5: waits for an operator since 2026-11-22T09:40:00Z: NeedsOperator',
    );
    expect(result.stdout).toContain('worker-9: the seal does not match');
  });

  it('should say why alertfence is not ready, and exit 1', async () => {
    // Prepare
    const api = await serve({
      'GET /readyz': {
        status: 503,
        body: {
          error: { code: 'not_ready', message: 'the API server cannot be reached: connect ECONNREFUSED' },
        },
      },
      'GET /v1/fences': {
        status: 503,
        body: { error: { code: 'unavailable', message: 'the API server cannot be read' } },
      },
    });

    // Act
    const result = await runCli(api.url, ['status']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/ready\s+no: the API server cannot be reached: connect ECONNREFUSED/);
    expect(result.stderr).toContain(
      `GET ${api.url}/v1/fences answered 503 unavailable: the API server cannot be read`,
    );
  });

  it('should say the pause is unknown, and why, when alertfence could not read it', async () => {
    // Prepare: ready, but neither /readyz nor the list of fences could read the pause Lease.
    const api = await serve({
      'GET /readyz': {
        status: 200,
        body: { status: 'ready', paused: 'unknown', pauseError: 'leases "alertfence.pause" is forbidden' },
      },
      'GET /v1/fences': {
        status: 503,
        body: { error: { code: 'unavailable', message: 'the API server cannot be read' } },
      },
    });

    // Act
    const result = await runCli(api.url, ['status']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/ready\s+yes/);
    expect(result.stdout).toMatch(/paused\s+unknown: leases "alertfence.pause" is forbidden\n/);
  });

  it.each([
    ['with a token', { error: { code: 'not_ready', message: 'connect ECONNREFUSED' } }],
    ['without a token', { status: 'not_ready' }],
  ])('should say the pause is unknown, not "no", when alertfence is not ready (%s)', async (_name, body) => {
    // Prepare
    const api = await serve({
      'GET /readyz': { status: 503, body },
      'GET /v1/fences': {
        status: 503,
        body: { error: { code: 'unavailable', message: 'the API server cannot be read' } },
      },
    });

    // Act
    const result = await runCli(api.url, ['status']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/paused\s+unknown\n/);
    expect(result.stdout).not.toMatch(/paused\s+no/);
  });

  it('should print both API answers as one JSON document with --json', async () => {
    // Prepare
    const fences = overview({ fences: [listing()] });
    const api = await serve({ 'GET /readyz': READY, 'GET /v1/fences': { status: 200, body: fences } });

    // Act
    const result = await runCli(api.url, ['status', '--json']);

    // Assess
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([{ readyz: READY.body, fences }]);
  });
});

describe('alertfence fence', () => {
  it('should start a fence without asking the server to wait, and exit 0', async () => {
    // Prepare
    const api = await serve({ 'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() } });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1', '--reason', 'kernel panic']);

    // Assess
    expect(result.code).toBe(0);
    expect(api.requests[0]?.body).toEqual({ reason: 'kernel panic' });
    expect(api.requests[0]?.headers['content-type']).toBe('application/json');
    expect(result.stdout).toBe(
      `worker-1: accepted (Accepted): node confirmed down (fence ${FENCE_ID}, running after Lock)\n`,
    );
  });

  it('should exit 1 with the reason when the fence is refused, and say how to force it', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-2/fence': { status: 200, body: refused('NodeReady', 'the node is Ready') },
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-2']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('worker-2: refused (NodeReady): the node is Ready');
    expect(result.stderr).toContain('add --force');
  });

  it('should send force and dryRun only when asked', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-2/fence': { status: 202, body: accepted({ node: 'worker-2' }) },
    });

    // Act
    await runCli(api.url, ['fence', 'worker-2', '--force']);

    // Assess
    expect(api.requests[0]?.body).toEqual({ force: true });
  });

  it('should print the plan of a dry run and exit 0', async () => {
    // Prepare
    const api = await serve({ 'POST /v1/nodes/worker-1/fence': { status: 200, body: planned(true) } });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1', '--dry-run', '--wait']);

    // Assess
    expect(result.code).toBe(0);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]?.body).toEqual({ dryRun: true });
    expect(result.stdout.split('\n')).toEqual([
      'worker-1: planned (DryRun): dry-run: nothing was changed',
      '   1. Lock        take the fence Lease',
      '                  lease/alertfence/worker-1',
      '   2. PowerOff    hard power-off',
      '                  simulated:i-worker-1',
      '   3. DeleteNode  delete the Node',
      '                  node/worker-1',
      '',
    ]);
  });

  it('should exit 1 and say so when a fence asked for is only planned (disarmed)', async () => {
    // Prepare
    const api = await serve({ 'POST /v1/nodes/worker-1/fence': { status: 200, body: planned(true) } });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('alertfence is disarmed (ALERTFENCE_DRY_RUN is not false)');
  });

  it.each([
    [
      404,
      {
        dryRun: false,
        node: 'worker-7',
        outcome: 'not-found',
        reason: 'NodeNotFound',
        message: 'no such Node',
      },
      4,
    ],
    [
      503,
      {
        dryRun: false,
        node: 'worker-7',
        outcome: 'failed',
        reason: 'ApiServerUnavailable',
        message: 'timeout',
        retryable: true,
      },
      1,
    ],
    [
      200,
      { dryRun: false, node: 'worker-7', outcome: 'skipped', reason: 'Cooldown', message: 'fenced 60s ago' },
      1,
    ],
  ])('should exit with the code of a %i %o', async (status, body, code) => {
    // Prepare
    const api = await serve({ 'POST /v1/nodes/worker-7/fence': { status, body } });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-7']);

    // Assess
    expect(result.code).toBe(code);
    expect(result.stdout).toContain(`worker-7: ${body.outcome} (${body.reason}): ${body.message}`);
  });

  it('should follow the fence with --wait, a line per phase once each, and exit 0 when it succeeds', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': [
        { status: 200, body: journalAt('Lock') },
        { status: 200, body: journalAt('Lock') },
        { status: 200, body: journalAt('VerifyOff') },
        { status: 200, body: journalAt('VerifyOff') },
        { status: 200, body: journalAt('Done') },
      ],
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1', '--wait']);

    // Assess
    expect(result.code).toBe(0);
    expect(api.requests[0]?.body).toEqual({});
    const stepLines = result.stdout.split('\n').filter((line) => line.startsWith('  ✓ '));
    expect(stepLines.map((line) => line.split(/\s+/)[2])).toEqual([...PHASES]);
    expect(stepLines[3]).toBe('  ✓ PowerOff     900ms  simulated i-worker-1 stopping');
    expect(result.stdout).toContain(`worker-1: fence ${FENCE_ID} succeeded in 8.9s`);
  });

  it('should read the journal at most every 2 s, and sooner after a change', async () => {
    // Prepare
    const clock = new VirtualClock();
    const readAt: number[] = [];
    const journals = [
      journalAt('Lock'),
      journalAt('Lock'),
      journalAt('Lock'),
      journalAt('Lock'),
      journalAt('Lock'),
    ];
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': () => {
        readAt.push(clock.now());
        return { status: 200, body: journals.shift() ?? journalAt('Done') };
      },
    });

    // Act
    await runCli(api.url, ['fence', 'worker-1', '--wait'], { clock });

    // Assess
    const gaps = readAt.slice(1).map((time, index) => time - (readAt[index] as number));
    expect(gaps).toEqual([500, 750, 1125, 1688, 2000]);
  });

  it('should exit 1 with the error when the fence it follows fails', async () => {
    // Prepare
    const failed = journalAt('Mark', {
      status: 'failed',
      lastError: {
        phase: 'PowerOff',
        message: 'the cloud refused: AccessDenied',
        at: '2026-11-22T10:00:05Z',
        retryable: false,
      },
      waiting: { since: '2026-11-22T10:00:05Z', reason: 'NeedsOperator' },
    });
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': { status: 200, body: failed },
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1', '--wait']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`worker-1: fence ${FENCE_ID} failed after Mark`);
    expect(result.stdout).toContain('PowerOff: the cloud refused: AccessDenied (a retry cannot fix it)');
    expect(result.stdout).toContain('waits for an operator since 2026-11-22T10:00:05Z: NeedsOperator');
  });

  it('should tell the operator to start afresh, not to resume, a fence whose machine was started after its power-off request', async () => {
    // Prepare
    const failed = journalAt('Mark', {
      status: 'failed',
      powerOffRequestedAt: '2026-11-22T10:00:03Z',
      lastError: {
        phase: 'PowerOff',
        message: 'SafetyViolationError: power-off of i-0abc was requested by this fence …',
        at: '2026-11-22T10:01:05Z',
        retryable: false,
      },
      waiting: { since: '2026-11-22T10:01:05Z', reason: 'NeedsOperator' },
    });
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': { status: 200, body: failed },
    });

    // Act: the operator resumes it, as for any fence that waits.
    const result = await runCli(api.url, ['fence', 'worker-1', '--wait']);

    // Assess
    expect(result.stdout).toContain(
      'it asked for its power-off at 2026-11-22T10:00:03Z and never asks twice',
    );
    expect(result.stdout).toContain('kubectl delete lease');
    expect(result.stdout).not.toContain('resumes it');
  });

  it('should wait out alertfence being away for a while, saying so once', async () => {
    // Prepare
    const away = {
      status: 503,
      body: { error: { code: 'unavailable', message: 'the API server cannot be read' } },
    };
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': [away, away, away, { status: 200, body: journalAt('Done') }],
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1', '--wait']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr.match(/still following, but GET .* answered 503/g)).toHaveLength(1);
  });

  it('should give up with exit 5 when the fence outlives --timeout, saying it goes on', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': { status: 200, body: journalAt('VerifyOff') },
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1', '--wait', '--timeout', '1m']);

    // Assess
    expect(result.code).toBe(5);
    expect(result.stdout).toContain(`fence ${FENCE_ID} is still running after --timeout 1m; it goes on`);
  });

  it('should stop following when the journal holds another fence', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': { status: 200, body: journalAt('Lock', { id: 'another-fence' }) },
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-1', '--wait']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`the journal now holds fence another-fence, not ${FENCE_ID}`);
  });

  it('should print the answer, then the journal it ended with, as JSON lines with --json --wait', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-1/fence': { status: 202, body: accepted() },
      'GET /v1/nodes/worker-1/fence': [
        { status: 200, body: journalAt('Lock') },
        { status: 200, body: journalAt('Done') },
      ],
    });

    // Act
    const result = await runCli(api.url, ['--json', 'fence', 'worker-1', '--wait']);

    // Assess
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([accepted(), journalAt('Done')]);
  });
});

describe('alertfence history', () => {
  it('should show the fences as a table, the newest first, with errors under it', async () => {
    // Prepare
    const api = await serve({
      'GET /v1/nodes/worker-1/fences?limit=5': {
        status: 200,
        body: history([
          record({
            id: 'f2',
            trigger: { kind: 'manual', reason: 'kernel panic', force: true },
            forced: true,
            status: 'failed',
            phase: 'PowerOff',
            finishedAt: undefined,
            volumesDetached: [],
            lastError: 'verify off timed out',
          }),
          record({ id: 'f1' }),
        ]),
      },
    });

    // Act
    const result = await runCli(api.url, ['history', 'worker-1', '--limit', '5']);

    // Assess
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^FENCE\s+TRIGGER\s+STARTED\s+DURATION\s+OUTCOME\s+FORCED\s+VOLUMES\s+REASON$/);
    expect(lines[1]).toMatch(
      /^f2\s+manual\s+2026-11-22T08:00:00Z\s+-\s+failed after PowerOff\s+yes\s+-\s+kernel panic$/,
    );
    expect(lines[2]).toMatch(
      /^f1\s+alert KubeNodeNotReady\s+2026-11-22T08:00:00Z\s+1m14s\s+succeeded\s+no\s+vol-1,vol-2\s+KubeNodeNotReady firing$/,
    );
    expect(lines[3]).toBe('  f2: verify off timed out');
  });

  it('should say when no fence is recorded', async () => {
    // Prepare
    const api = await serve({
      'GET /v1/nodes/worker-2/fences': { status: 200, body: history([], { node: 'worker-2' }) },
    });

    // Act
    const result = await runCli(api.url, ['history', 'worker-2']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('worker-2: no fence recorded\n');
  });

  it('should exit 4 with the API message for an unknown node', async () => {
    // Prepare
    const api = await serve({
      'GET /v1/nodes/worker-9/fences': {
        status: 404,
        body: { error: { code: 'not_found', message: 'no Node worker-9 and no fence of it' } },
      },
    });

    // Act
    const result = await runCli(api.url, ['history', 'worker-9']);

    // Assess
    expect(result.code).toBe(4);
    expect(result.stderr).toBe(
      `alertfence: GET ${api.url}/v1/nodes/worker-9/fences answered 404 not_found: no Node worker-9 and no fence of it\n`,
    );
  });

  it('should exit 1 when the journal is rejected, and print the history as JSON with --json', async () => {
    // Prepare
    const body = history([], { rejected: 'the seal does not match' });
    const api = await serve({ 'GET /v1/nodes/worker-1/fences': { status: 200, body } });

    // Act
    const people = await runCli(api.url, ['history', 'worker-1']);
    const scripts = await runCli(api.url, ['history', 'worker-1', '--json']);

    // Assess
    expect(people.code).toBe(1);
    expect(people.stdout).toContain('its journal is rejected (the seal does not match)');
    expect(scripts.code).toBe(1);
    expect(jsonLines(scripts.stdout)).toEqual([body]);
  });
});

describe('alertfence pause and resume', () => {
  it('should pause with the reason, the end and who, and show the pause', async () => {
    // Prepare
    const api = await serve({ 'POST /v1/pause': { status: 200, body: { paused: true, ...PAUSE } } });

    // Act
    const result = await runCli(api.url, ['pause', '--reason', 'cluster upgrade', '--for', '2h']);

    // Assess
    expect(result.code).toBe(0);
    expect(api.requests[0]?.body).toEqual({ reason: 'cluster upgrade', for: '2h', by: 'ops@laptop' });
    expect(result.stdout).toContain(
      'paused: yes, since 2026-11-22T09:30:00Z (30m ago) by ops@laptop: "cluster upgrade"',
    );
  });

  it('should send --until and --by as given', async () => {
    // Prepare
    const api = await serve({ 'POST /v1/pause': { status: 200, body: { paused: true, ...PAUSE } } });

    // Act
    await runCli(api.url, ['pause', '--reason', 'x', '--until', '2026-11-22T11:30:00Z', '--by', 'CHG-1234']);

    // Assess
    expect(api.requests[0]?.body).toEqual({ reason: 'x', until: '2026-11-22T11:30:00Z', by: 'CHG-1234' });
  });

  it.each([
    [
      ['pause', '--reason', 'x', '--for', '2h', '--until', '2026-11-22T11:30:00Z'],
      'give --for or --until, not both',
    ],
    [['pause', '--reason', 'x', '--for', 'two hours'], '--for: "two hours" is not a duration'],
    [['pause', '--reason', 'x', '--until', '2026-11-22T09:00:00Z'], 'is not in the future'],
    [['pause', '--reason', '  '], '--reason: must not be empty'],
    [['pause'], "required option '--reason <text>' not specified"],
  ])('should refuse %o before any request, exit 2', async (argv, message) => {
    // Prepare
    const api = await serve({});

    // Act
    const result = await runCli(api.url, argv);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(api.requests).toEqual([]);
  });

  it('should exit 2 with the API details when the API refuses the input', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/pause': {
        status: 400,
        body: {
          error: { code: 'invalid_input', message: 'invalid pause request', details: ['by: too long'] },
        },
      },
    });

    // Act
    const result = await runCli(api.url, ['pause', '--reason', 'x']);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `POST ${api.url}/v1/pause answered 400 invalid_input: invalid pause request\n  - by: too long`,
    );
  });

  it('should lift the pause and say what it was, or that there was none', async () => {
    // Prepare
    const api = await serve({
      'DELETE /v1/pause': [
        { status: 200, body: { paused: false, lifted: PAUSE } },
        { status: 200, body: { paused: false } },
      ],
    });

    // Act
    const lifted = await runCli(api.url, ['resume']);
    const none = await runCli(api.url, ['resume']);

    // Assess
    expect(lifted.code).toBe(0);
    expect(lifted.stdout).toBe(
      'pause lifted; it was: since 2026-11-22T09:30:00Z (30m ago) by ops@laptop: "cluster upgrade"; until 2026-11-22T11:30:00Z (in 1h)\n',
    );
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('alertfence was not paused; nothing to lift\n');
  });
});

describe('alertfence errors and output', () => {
  it('should exit 3 naming the URL when alertfence cannot be reached', async () => {
    // Prepare: a port that was just free.
    const gone = await serve({});
    const url = gone.url;
    await gone.stop();
    stub = undefined;

    // Act
    const result = await runCli(url, ['status']);

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `alertfence: cannot reach alertfence: GET ${url}/readyz: connect ECONNREFUSED ${url.slice(7)}\n`,
    );
  });

  it('should say why fetch will not connect to a port it blocks', async () => {
    // Act: port 9 (discard) is on the Fetch standard's list of bad ports; nothing is sent.
    const result = await runCli('http://127.0.0.1:9', ['status']);

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      'GET http://127.0.0.1:9/readyz: bad port: fetch never connects to this port',
    );
  });

  it('should exit 3 and point at the token when it is refused', async () => {
    // Prepare
    const api = await serve({
      'GET /readyz': READY,
      'GET /v1/fences': {
        status: 401,
        body: { error: { code: 'unauthorized', message: 'missing or invalid bearer token' } },
      },
    });

    // Act
    const result = await runCli(api.url, ['status']);

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `GET ${api.url}/v1/fences answered 401 unauthorized: missing or invalid bearer token`,
    );
    expect(result.stderr).toContain('check ALERTFENCE_TOKEN, ALERTFENCE_TOKEN_FILE or --token-file');
  });

  it('should exit 3 when what answers is not alertfence', async () => {
    // Prepare
    const api = await serve({ 'GET /readyz': { status: 502, raw: '<html><body>Bad Gateway</body></html>' } });

    // Act
    const result = await runCli(api.url, ['status']);

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("answered 502 with something that is not alertfence's JSON API");
    expect(result.stderr).toContain('Bad Gateway');
  });

  it('should exit 3 when no answer comes within --timeout', async () => {
    // Prepare: fetch that never answers until aborted.
    const hang: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );

    // Act
    const result = await runCli('http://127.0.0.1:9', ['status', '--timeout', '200ms'], {
      fetch: hang,
      env: { ALERTFENCE_URL: 'http://127.0.0.1:9', ALERTFENCE_TOKEN: TOKEN },
    });

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('GET http://127.0.0.1:9/readyz: no answer within 0.2s');
  });

  it.each([
    [{ ALERTFENCE_URL: 'URL' }, ['status'], 'no token'],
    [{ ALERTFENCE_URL: 'ftp://x', ALERTFENCE_TOKEN: TOKEN }, ['status'], 'not an http or https URL'],
    [
      { ALERTFENCE_URL: 'URL', ALERTFENCE_TOKEN: TOKEN },
      ['status', '--timeout', 'soon'],
      '--timeout: "soon" is not a duration',
    ],
    [{ ALERTFENCE_URL: 'URL', ALERTFENCE_TOKEN: TOKEN }, ['fence', 'Worker_1'], 'is not a Node name'],
    [{ ALERTFENCE_URL: 'URL', ALERTFENCE_TOKEN: TOKEN }, ['history', 'Worker_1'], 'is not a Node name'],
    [
      { ALERTFENCE_URL: 'URL', ALERTFENCE_TOKEN: TOKEN },
      ['history', 'worker-1', '--limit', '500'],
      '--limit',
    ],
    [{ ALERTFENCE_URL: 'URL', ALERTFENCE_TOKEN: TOKEN }, ['status', '--colour'], "unknown option '--colour'"],
    [{ ALERTFENCE_URL: 'URL', ALERTFENCE_TOKEN: TOKEN }, ['fences'], "unknown command 'fences'"],
    [{ ALERTFENCE_URL: 'URL', ALERTFENCE_TOKEN: TOKEN }, [], 'Usage: alertfence'],
  ])('should exit 2 before any request for env %o and %o', async (env, argv, message) => {
    // Prepare
    const api = await serve({});
    const withUrl = Object.fromEntries(
      Object.entries(env).map(([key, value]) => [key, value === 'URL' ? api.url : value]),
    );

    // Act
    const result = await runCli(api.url, argv, { env: withUrl });

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(api.requests).toEqual([]);
  });

  it('should read the token from --token-file', async () => {
    // Prepare
    const api = await serve({ 'DELETE /v1/pause': { status: 200, body: { paused: false } } });

    // Act
    const result = await runCli(api.url, ['resume', '--token-file', '/run/secrets/alertfence'], {
      env: { ALERTFENCE_URL: api.url },
      files: { '/run/secrets/alertfence': 'from-the-file-0123456789\n' },
    });

    // Assess
    expect(result.code).toBe(0);
    expect(api.requests[0]?.headers.authorization).toBe('Bearer from-the-file-0123456789');
  });

  it('should take --url over ALERTFENCE_URL, and keep a path prefix', async () => {
    // Prepare
    const api = await serve({
      'DELETE /function/alertfence/v1/pause': { status: 200, body: { paused: false } },
    });

    // Act
    const result = await runCli(api.url, ['resume', '--url', `${api.url}/function/alertfence/`], {
      env: { ALERTFENCE_URL: 'http://127.0.0.1:9', ALERTFENCE_TOKEN: TOKEN },
    });

    // Assess
    expect(result.code).toBe(0);
    expect(api.requests.map((request) => request.path)).toEqual(['/function/alertfence/v1/pause']);
  });

  it('should print help and the version with exit 0', async () => {
    // Act
    const help = await runCli('http://127.0.0.1:9', ['--help']);
    const fenceHelp = await runCli('http://127.0.0.1:9', ['fence', '--help']);
    const version = await runCli('http://127.0.0.1:9', ['--version']);

    // Assess
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(fenceHelp.code).toBe(0);
    expect(fenceHelp.stdout).toContain('--dry-run');
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it.each([
    [true, {}, true],
    [true, { NO_COLOR: '1' }, false],
    [false, {}, false],
  ])('should colour on a terminal (%s) unless NO_COLOR (%o): %s', async (tty, extra, coloured) => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-2/fence': { status: 200, body: refused('NodeReady', 'the node is Ready') },
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-2'], {
      tty,
      env: { ALERTFENCE_URL: api.url, ALERTFENCE_TOKEN: TOKEN, ...extra },
    });

    // Assess
    expect(ANSI.test(result.stdout)).toBe(coloured);
    expect(plain(result.stdout)).toContain('worker-2: refused (NodeReady)');
  });

  it('should not colour with --no-color on a terminal', async () => {
    // Prepare
    const api = await serve({
      'POST /v1/nodes/worker-2/fence': { status: 200, body: refused('NodeReady', 'the node is Ready') },
    });

    // Act
    const result = await runCli(api.url, ['fence', 'worker-2', '--no-color'], { tty: true });

    // Assess
    expect(ANSI.test(result.stdout + result.stderr)).toBe(false);
  });

  it('should put the API error body on stdout with --json, the message on stderr', async () => {
    // Prepare
    const error = { error: { code: 'not_found', message: 'no fence recorded for node worker-1' } };
    const api = await serve({ 'GET /v1/nodes/worker-1/fences': { status: 404, body: error } });

    // Act
    const result = await runCli(api.url, ['history', 'worker-1', '--json']);

    // Assess
    expect(result.code).toBe(4);
    expect(jsonLines(result.stdout)).toEqual([error]);
    expect(result.stderr).toContain('answered 404 not_found');
  });
});
