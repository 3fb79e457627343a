import { describe, expect, it } from 'vitest';
import type { PowerDriver, PreflightResult } from '../../drivers/driver.js';
import { readinessCheck } from '../../functions/http/readiness.js';
import { FakeKube } from '../fakes/kube.js';

/** A driver whose pre-flight answers what the test says, counting its calls. */
function driver(name: string, answer: () => Promise<PreflightResult>) {
  const counted = { name, preflights: 0 };
  const stand = {
    name,
    preflight: async () => {
      counted.preflights += 1;
      return answer();
    },
  } as unknown as PowerDriver;
  return { driver: stand, counted };
}

const passing = () => Promise.resolve({ ok: true, problems: [] });

describe('readinessCheck', () => {
  it("should name every problem, per driver, with the API server's", async () => {
    // Prepare
    const kube = new FakeKube();
    kube.unavailable = true;
    const aws = driver('aws', () =>
      Promise.resolve({ ok: false, problems: ['not authorised for ec2:StopInstances'] }),
    );
    const openstack = driver('openstack', () => Promise.reject(new Error('Keystone answered 401')));

    // Act
    const check = readinessCheck(kube, [aws.driver, openstack.driver])();

    // Assess
    await expect(check).rejects.toThrow(/ECONNREFUSED/);
    await expect(check).rejects.toThrow(
      'aws: not authorised for ec2:StopInstances; openstack: Keystone answered 401',
    );
  });

  it('should count a pre-flight that says not ok without saying why as a problem', async () => {
    // Prepare
    const silent = driver('aws', () => Promise.resolve({ ok: false, problems: [] }));

    // Act
    const check = readinessCheck(new FakeKube(), [silent.driver])();

    // Assess
    await expect(check).rejects.toThrow('aws: pre-flight failed');
  });

  it('should trust a passed check for a minute and remember a failed one for ten seconds only', async () => {
    // Prepare
    let clock = 1_000_000;
    let failing = true;
    const aws = driver('aws', () =>
      Promise.resolve(
        failing ? { ok: false, problems: ['expired credentials'] } : { ok: true, problems: [] },
      ),
    );
    const ready = readinessCheck(new FakeKube(), [aws.driver], () => clock);

    // Act
    const first = await ready().catch((error: Error) => error.message);
    failing = false;
    const remembered = await ready().catch((error: Error) => error.message);
    clock += 10_001;
    await ready();
    clock += 59_000;
    await ready();
    clock += 2_000;
    await ready();

    // Assess: failed, the failure remembered briefly, then checked again and passed, then trusted, then checked
    // again after the minute.
    expect(first).toBe('aws: expired credentials');
    expect(remembered).toBe('aws: expired credentials');
    expect(aws.counted.preflights).toBe(3);
  });

  it('should pass with the API server answering and no driver problem', async () => {
    // Prepare
    const aws = driver('aws', passing);
    const kube = new FakeKube();

    // Act
    await readinessCheck(kube, [aws.driver])();

    // Assess
    expect(kube.calls.map((call) => call.method)).toEqual(['ping']);
    expect(aws.counted.preflights).toBe(1);
  });
});
