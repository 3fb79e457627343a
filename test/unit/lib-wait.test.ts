import { describe, expect, it } from 'vitest';
import { DeadlineExceededError } from '../../drivers/driver.js';
import {
  backoffDelay,
  DEFAULT_POLL_SCHEDULE,
  PROBE_RESERVE_MS,
  pollUntil,
  sleepWithin,
} from '../../functions/lib/wait.js';

/** A virtual clock: `sleep` moves time forward at once and records each delay. */
function virtualClock(start = 1_000_000) {
  let time = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => time,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      time += ms;
    },
  };
}

/** A probe answering `states` in order, repeating the last one. */
function answers<T>(states: readonly T[]) {
  let index = 0;
  return async () => states[Math.min(index++, states.length - 1)] as T;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('pollUntil', () => {
  it('should sleep by the schedule between probes and return the value that is done', async () => {
    // Prepare
    const clock = virtualClock();

    // Act
    const value = await pollUntil({
      deadline: clock.now() + 60_000,
      what: 'the instance to be off',
      probe: answers(['stopping', 'stopping', 'stopping', 'stopped']),
      done: (state) => state === 'stopped',
      now: clock.now,
      sleep: clock.sleep,
    });

    // Assess
    expect(value).toBe('stopped');
    expect(clock.sleeps).toEqual(DEFAULT_POLL_SCHEDULE.slice(0, 3));
  });

  it('should keep the last delay of the schedule once it runs out', async () => {
    // Prepare
    const clock = virtualClock();

    // Act
    await pollUntil({
      deadline: clock.now() + 60_000,
      what: 'the instance to be off',
      probe: answers([1, 2, 3, 4]),
      done: (n) => n === 4,
      schedule: [100, 200],
      now: clock.now,
      sleep: clock.sleep,
    });

    // Assess
    expect(clock.sleeps).toEqual([100, 200, 200]);
  });

  it('should shorten the last sleep so the final probe keeps the default reserve before the deadline', async () => {
    // Prepare
    const clock = virtualClock();
    const deadline = clock.now() + 2_000;
    const probedAt: number[] = [];

    // Act
    const error = await failure(
      pollUntil({
        deadline,
        what: 'the instance to be off',
        probe: async () => {
          probedAt.push(clock.now());
          return 'stopping';
        },
        done: () => false,
        now: clock.now,
        sleep: clock.sleep,
      }),
    );

    // Assess: 250 + 500, then 1000 cut to 750 so the last probe comes PROBE_RESERVE_MS before the deadline.
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(clock.sleeps).toEqual([250, 500, 750]);
    expect(probedAt.at(-1)).toBe(deadline - PROBE_RESERVE_MS);
  });

  it('should keep the reserve it is given instead of the default', async () => {
    // Prepare
    const clock = virtualClock();
    const deadline = clock.now() + 5_000;
    const probedAt: number[] = [];

    // Act
    await failure(
      pollUntil({
        deadline,
        what: 'volumes to detach',
        probe: async () => {
          probedAt.push(clock.now());
          return 'in-use';
        },
        done: () => false,
        probeReserveMs: 2_000,
        now: clock.now,
        sleep: clock.sleep,
      }),
    );

    // Assess
    expect(clock.sleeps).toEqual([250, 500, 1000, 1250]);
    expect(probedAt.at(-1)).toBe(deadline - 2_000);
  });

  it('should name the last state seen when the deadline passes between probes', async () => {
    // Prepare
    const clock = virtualClock();

    // Act
    const error = await failure(
      pollUntil<{ state: string }>({
        deadline: clock.now() + 3_000,
        what: 'i-0abc to be off',
        probe: answers([{ state: 'running' }, { state: 'stopping' }]),
        done: () => false,
        describeState: (value) => value.state,
        now: clock.now,
        sleep: clock.sleep,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error.message).toBe('deadline passed while waiting for i-0abc to be off (last state: stopping)');
  });

  it('should name the last state seen when the deadline cuts off a probe itself', async () => {
    // Prepare: the second probe runs out of time on the wire.
    const clock = virtualClock();
    const cutOff = new DeadlineExceededError('deadline passed during GET /servers/x');
    let probes = 0;

    // Act
    const error = await failure(
      pollUntil({
        deadline: clock.now() + 60_000,
        what: 'server x to be SHUTOFF',
        probe: async () => {
          probes++;
          if (probes === 2) throw cutOff;
          return 'ACTIVE/powering-off';
        },
        done: () => false,
        now: clock.now,
        sleep: clock.sleep,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error.message).toMatch(/server x to be SHUTOFF \(last state: ACTIVE\/powering-off\)/);
    expect(error.cause).toBe(cutOff);
  });

  it('should pass on a first probe cut off by the deadline unchanged, having no state to name', async () => {
    // Prepare
    const clock = virtualClock();
    const cutOff = new DeadlineExceededError('deadline passed before ec2:DescribeInstances');

    // Act
    const error = await failure(
      pollUntil({
        deadline: clock.now() + 60_000,
        what: 'i-0abc to be off',
        probe: async () => {
          throw cutOff;
        },
        done: () => false,
        now: clock.now,
        sleep: clock.sleep,
      }),
    );

    // Assess
    expect(error).toBe(cutOff);
  });

  it('should pass on other probe failures unchanged', async () => {
    // Prepare
    const clock = virtualClock();
    const refused = new Error('403');
    let probes = 0;

    // Act
    const error = await failure(
      pollUntil({
        deadline: clock.now() + 60_000,
        what: 'i-0abc to be off',
        probe: async () => {
          probes++;
          if (probes === 2) throw refused;
          return 'stopping';
        },
        done: () => false,
        now: clock.now,
        sleep: clock.sleep,
      }),
    );

    // Assess
    expect(error).toBe(refused);
  });

  it('should call onPending and report progress after each probe that is not done', async () => {
    // Prepare
    const clock = virtualClock();
    const pending: Array<[string, number]> = [];
    const progress: string[] = [];

    // Act
    await pollUntil<string>({
      deadline: clock.now() + 60_000,
      what: 'the instance to be on',
      probe: answers(['stopped', 'pending', 'running']),
      done: (state) => state === 'running',
      onPending: (state, attempt) => {
        pending.push([state, attempt]);
      },
      onProgress: (line) => progress.push(line),
      now: clock.now,
      sleep: clock.sleep,
    });

    // Assess
    expect(pending).toEqual([
      ['stopped', 0],
      ['pending', 1],
    ]);
    expect(progress).toEqual([
      'waiting for the instance to be on: stopped after 0s',
      'waiting for the instance to be on: pending after 0s',
    ]);
  });
});

describe('backoffDelay', () => {
  const backoff = (random: number) => ({ baseDelayMs: 200, maxDelayMs: 1000, random: () => random });

  it.each([
    [0, 0, 100],
    [0, 0.999, 200],
    [1, 0.5, 300],
    [2, 0.5, 600],
    [3, 0, 500],
    [10, 0.999, 1000],
  ])(
    'should wait, for retry %i with random %d, %i ms: half the doubled ceiling plus a random half',
    (retry, random, expected) => {
      // Act
      const delay = backoffDelay(retry, backoff(random));

      // Assess
      expect(delay).toBe(expected);
    },
  );
});

describe('sleepWithin', () => {
  it('should sleep when waking leaves time before the deadline', async () => {
    // Prepare
    const clock = virtualClock();

    // Act
    await sleepWithin(400, { deadline: clock.now() + 401 }, clock, () => new Error('too late'));

    // Assess
    expect(clock.sleeps).toEqual([400]);
  });

  it('should throw what tooLate returns, without sleeping, when waking would reach the deadline', async () => {
    // Prepare
    const clock = virtualClock();
    const lastFailure = new Error('503 from Nova');

    // Act
    const error = await failure(sleepWithin(400, { deadline: clock.now() + 400 }, clock, () => lastFailure));

    // Assess
    expect(error).toBe(lastFailure);
    expect(clock.sleeps).toEqual([]);
  });
});
