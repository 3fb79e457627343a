/**
 * The Redfish driver against sushy-tools' emulator (`sushy-emulator --fake`) over TLS on loopback: power off
 * and on verified, repeats, and every way a BMC fails — each one failing closed with a reason an operator can
 * act on. A power change lands 1–11 s after the reset, so each wait is bounded by a deadline well past that.
 */
import { describe, expect, it } from 'vitest';
import {
  type CallOptions,
  DeadlineExceededError,
  DriverAuthError,
  DriverError,
  InstanceNotFoundError,
  type InstanceRef,
} from '../../../drivers/driver.js';
import { readinessCheck } from '../../../functions/http/readiness.js';
import { FakeKube } from '../../fakes/kube.js';
import { freePort } from '../../peers/process.js';
import { SUSHY_MAX_LANDING_MS } from '../../peers/sushy.js';
import { driverOf, labelledNode, useSushy } from './sushy.js';

const RESET = /\/Actions\/ComputerSystem\.Reset$/;
/** Past sushy's 11 s landing, with room for a slow machine. */
const POWER_DEADLINE_MS = SUSHY_MAX_LANDING_MS + 8000;

const call = (ms = POWER_DEADLINE_MS): CallOptions => ({ deadline: Date.now() + ms });

describe('Redfish driver on sushy-emulator over TLS', () => {
  const suite = useSushy({
    systems: [{ name: 'web-1' }, { name: 'web-2' }, { name: 'db-1', powerState: 'Off' }],
  });
  const system = (name: string) => {
    const found = suite.sushy.systems.find((s) => s.name === name);
    if (!found) throw new Error(`no system ${name}`);
    return found;
  };
  const refOf = (name: string): InstanceRef => ({ provider: 'redfish', id: `rack1/${system(name).id}` });

  it('should pass the pre-flight by reading only: every system offers ForceOff and On', async () => {
    // Prepare
    const { driver } = driverOf(suite);

    // Act
    const result = await driver.preflight(call());

    // Assess
    expect(result).toEqual({ ok: true, problems: [] });
    expect(suite.proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 200',
      'GET 200',
      'GET 200',
      'GET 200',
    ]);
    await expect(readinessCheck(new FakeKube(), [driver])()).resolves.toBeUndefined();
  });

  it('should power off and verify Off, then power on and verify On, each within the deadline', async () => {
    // Prepare
    const { driver } = driverOf(suite);
    const ref = await driver.resolve(labelledNode('web-1', system('web-1').id), call());
    suite.proxy.reset();

    // Act
    const offStarted = Date.now();
    await driver.powerOff(ref, call());
    const off = await driver.waitForPower(ref, 'off', call());
    const offMs = Date.now() - offStarted;
    const offRequests = suite.proxy.requests.length;
    await driver.powerOn(ref, call());
    const on = await driver.waitForPower(ref, 'on', call());

    // Assess
    expect(ref).toEqual(refOf('web-1'));
    expect(off).toMatchObject({ power: 'off', cloudState: 'Off', gone: false, volumes: [] });
    expect(on).toMatchObject({ power: 'on', cloudState: 'On' });
    expect(await suite.sushy.powerState(system('web-1').id)).toBe('On');
    expect(offMs).toBeLessThan(POWER_DEADLINE_MS);
    // One POST each way; every other request a read.
    expect(suite.proxy.requests.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([204, 204]);
    expect(suite.proxy.requests.every((r) => r.status !== undefined && r.status < 300)).toBe(true);
    expect(offRequests).toBeGreaterThanOrEqual(2);
    // The other systems of the BMC were never touched.
    expect(suite.proxy.requests.every((r) => r.path.includes(system('web-1').id))).toBe(true);
  });

  it('should repeat power off without harm: a system already Off is read and sent nothing', async () => {
    // Prepare: db-1 is Off.
    const ref = refOf('db-1');
    const { driver } = driverOf(suite);

    // Act
    await driver.powerOff(ref, call());
    await driver.powerOff(ref, call());
    const verified = await driver.waitForPower(ref, 'off', call());

    // Assess
    expect(verified.power).toBe('off');
    expect(suite.proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 200',
      'GET 200',
      'GET 200',
    ]);
    expect(await suite.sushy.powerState(system('db-1').id)).toBe('Off');
  });

  it('should take a ForceOff sent twice in a row as one power-off', async () => {
    // Prepare: web-2 is On; two invocations of a fence both send the reset before it lands.
    const ref = refOf('web-2');
    const { driver: first } = driverOf(suite);
    const { driver: second } = driverOf(suite);

    // Act
    await first.powerOff(ref, call());
    await second.powerOff(ref, call());
    const off = await first.waitForPower(ref, 'off', call());
    await first.powerOn(ref, call());
    await second.powerOn(ref, call());
    const on = await second.waitForPower(ref, 'on', call());

    // Assess: sushy shows the old state until a change lands, so both sent it; both were accepted.
    expect(off.power).toBe('off');
    expect(on.power).toBe('on');
    expect(suite.proxy.requests.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([
      204, 204, 204, 204,
    ]);
  });

  it('should work with session auth: one login, the token reused, a new login once it expires, logout on close', async () => {
    // Prepare: the SessionService is the proxy's (sushy-tools has none); everything behind it is sushy's.
    const { driver } = driverOf(suite, { bmc: { auth: 'session' } });
    const ref = refOf('web-1');

    // Act
    await driver.powerOff(ref, call());
    const off = await driver.waitForPower(ref, 'off', call());
    suite.proxy.expireSessions();
    await driver.powerOn(ref, call());
    const on = await driver.waitForPower(ref, 'on', call());
    await driver.close(call());

    // Assess
    expect([off.power, on.power]).toEqual(['off', 'on']);
    const sessionCalls = suite.proxy.requests.filter((r) => r.path.startsWith('/redfish/v1/SessionService'));
    expect(sessionCalls.map((r) => `${r.method} ${r.status}`)).toEqual([
      'POST 201',
      'POST 201',
      'DELETE 204',
    ]);
    // The one 401: the first request after the sessions expired, answered by a new login and sent again.
    expect(suite.proxy.requests.filter((r) => r.status === 401)).toHaveLength(1);
    expect(suite.proxy.openSessions).toBe(0);
  });

  it('should fail closed on a 403 to the reset: authentication error, nothing retried, system untouched', async () => {
    // Prepare
    const { driver } = driverOf(suite);
    suite.proxy.fail(
      {
        status: 403,
        body: {
          error: {
            code: 'Base.1.8.InsufficientPrivilege',
            message:
              'There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.',
          },
        },
      },
      { method: 'POST', path: RESET },
    );

    // Act
    const off = driver.powerOff(refOf('web-2'), call());

    // Assess
    await expect(off).rejects.toThrow(DriverAuthError);
    await expect(off).rejects.toThrow(/insufficient privileges.*ConfigureComponents/);
    expect(suite.proxy.requests.filter((r) => r.method === 'POST')).toEqual([
      expect.objectContaining({ status: 403, injected: true }),
    ]);
    expect(await suite.sushy.powerState(system('web-2').id)).toBe('On');
  });

  it('should fail closed, retryable, when the BMC keeps answering 500 to the reset, reading back after each', async () => {
    // Prepare
    const { driver } = driverOf(suite);
    suite.proxy.fail({ status: 500 }, { method: 'POST', path: RESET, times: 3 });

    // Act
    const off = driver.powerOff(refOf('web-2'), call());

    // Assess
    await expect(off).rejects.toThrow(DriverError);
    await expect(off).rejects.toMatchObject({ retryable: true });
    await expect(off).rejects.toThrow(/POST .*ComputerSystem\.Reset on BMC rack1 answered 500/);
    expect(suite.proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 200',
      'POST 500',
      'GET 200',
      'POST 500',
      'GET 200',
      'POST 500',
      'GET 200',
    ]);
    expect(await suite.sushy.powerState(system('web-2').id)).toBe('On');
  });

  it('should ride out a 503 on a read and succeed on the retry', async () => {
    // Prepare
    const { driver } = driverOf(suite);
    suite.proxy.fail({ status: 503, headers: { 'retry-after': '1' } }, { method: 'GET' });

    // Act
    const description = await driver.describe(refOf('web-2'), call());

    // Assess
    expect(description.power).toBe('on');
    expect(suite.proxy.requests.map((r) => r.status)).toEqual([503, 200]);
  });

  it('should refuse the account the BMC rejects, in the pre-flight and in every call', async () => {
    // Prepare
    const { driver } = driverOf(suite, {
      bmc: {
        credentials: {
          current: () => ({ username: suite.sushy.account.username, password: 'wrong' }),
          reload: () => ({ username: suite.sushy.account.username, password: 'wrong' }),
        },
      },
    });

    // Act
    const preflight = await driver.preflight(call());
    const describing = driver.describe(refOf('web-2'), call());

    // Assess
    expect(preflight).toEqual({
      ok: false,
      problems: ['BMC rack1 refused the account (401); check its credentials'],
    });
    await expect(describing).rejects.toThrow(DriverAuthError);
    await expect(readinessCheck(new FakeKube(), [driver])()).rejects.toThrow(
      'redfish: BMC rack1 refused the account (401)',
    );
  });

  it('should refuse a wrong system id: resolve refuses, describe says missing (never off), power-off sends nothing', async () => {
    // Prepare
    const { driver } = driverOf(suite);
    const wrong: InstanceRef = { provider: 'redfish', id: 'rack1/no-such-system' };

    // Act
    const resolved = await driver
      .resolve(labelledNode('web-9', 'no-such-system'), call())
      .catch((e: unknown) => e);
    const description = await driver.describe(wrong, call());
    const off = await driver.powerOff(wrong, call()).catch((e: unknown) => e);

    // Assess
    expect(resolved).toBeInstanceOf(InstanceNotFoundError);
    expect(String(resolved)).toMatch(/answers 404 for system no-such-system of node web-9/);
    expect(description).toMatchObject({ power: 'unknown', missing: true, gone: false });
    expect(off).toBeInstanceOf(InstanceNotFoundError);
    expect(suite.proxy.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });

  it('should refuse a BMC with several systems when the node names none (fence_redfish would take the last)', async () => {
    // Prepare
    const { driver } = driverOf(suite);

    // Act
    const resolving = driver.resolve(labelledNode('web-1', undefined), call());

    // Assess
    await expect(resolving).rejects.toThrow(/BMC rack1 of node web-1 has 3 systems/);
  });

  it('should fail closed, retryable, when the BMC is down, naming its address in the pre-flight', async () => {
    // Prepare: nothing listens on this port.
    const address = `https://127.0.0.1:${await freePort()}`;
    const { driver } = driverOf(suite, {
      bmc: { address },
      retry: { retries: 1, baseDelayMs: 100, maxDelayMs: 100 },
    });

    // Act
    const described = await driver.describe(refOf('web-1'), call()).catch((e: unknown) => e);
    const preflight = await driver.preflight(call());

    // Assess
    expect(described).toMatchObject({ retryable: true });
    expect(String(described)).toMatch(/failed without a response: connect ECONNREFUSED/);
    expect(preflight.problems).toEqual([expect.stringContaining(`BMC rack1 at ${address} does not answer`)]);
  });

  it('should give up on a hung BMC at the deadline', async () => {
    // Prepare
    const { driver } = driverOf(suite, { requestTimeoutMs: 1000 });
    suite.proxy.fail({ hang: true }, { method: 'GET', times: 10 });

    // Act
    const started = Date.now();
    const describing = driver.describe(refOf('web-1'), call(2500));
    const outcome = await describing.catch((error: unknown) => error);

    // Assess: a retryable failure either way — the request's own limit (a DriverError) or, when the deadline
    // passes between attempts, the driver contract's DeadlineExceededError; which one depends on the timing.
    expect(outcome instanceof DriverError || outcome instanceof DeadlineExceededError, String(outcome)).toBe(
      true,
    );
    expect((outcome as DriverError | DeadlineExceededError).retryable).toBe(true);
    expect(String(outcome)).toMatch(/no answer within 1000 ms|deadline passed/);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('should refuse a BMC whose certificate it cannot verify, unless told to trust anything, and then say so', async () => {
    // Prepare
    const { driver: strict } = driverOf(suite, { bmc: { ca: undefined } });
    const { driver: named } = driverOf(suite, { bmc: { tlsServerName: 'bmc.other.example' } });
    const { driver: insecure, warnings } = driverOf(suite, { bmc: { ca: undefined, insecure: true } });

    // Act
    const strictRead = await strict.describe(refOf('web-1'), call(5000)).catch((e: unknown) => e);
    const namedRead = await named.describe(refOf('web-1'), call(5000)).catch((e: unknown) => e);
    const insecureRead = await insecure.describe(refOf('web-1'), call());

    // Assess
    // Never retried: a BMC that cannot prove who it is gets neither the account nor a second try.
    expect(strictRead).toMatchObject({ retryable: false });
    expect(String(strictRead)).toMatch(/TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
    expect(namedRead).toMatchObject({ retryable: false });
    expect(String(namedRead)).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID: Hostname\/IP does not match/);
    expect(suite.proxy.requests).toHaveLength(1);
    expect(insecureRead.power).toBe('on');
    expect(warnings).toEqual([expect.stringMatching(/TLS verification is OFF for BMC rack1/)]);
  });

  it('should stop waiting at the deadline when the system does not switch in time', async () => {
    // Prepare: a reset that never reaches the emulator, so the system stays On.
    const { driver } = driverOf(suite);
    const ref = refOf('web-2');

    // Act
    const waiting = driver.waitForPower(ref, 'off', call(3000));

    // Assess
    await expect(waiting).rejects.toThrow(DeadlineExceededError);
    await expect(waiting).rejects.toThrow(/to be Off \(last state: On\)/);
    expect(suite.proxy.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });
});
