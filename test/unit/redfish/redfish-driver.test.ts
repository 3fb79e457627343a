import { describe, expect, it } from 'vitest';
import {
  DeadlineExceededError,
  DriverAuthError,
  DriverError,
  InstanceNotFoundError,
  type InstanceRef,
  type NodeIdentity,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import { type AuthMode, createRedfishDriver, type MappingEntry } from '../../../drivers/redfish/index.js';
import { FakeBmc, redfishError, VirtualClock } from './fake-bmc.js';

const REF: InstanceRef = { provider: 'redfish', id: 'rack1/1' };
const SYSTEM = /^\/redfish\/v1\/Systems\/1$/;
const RESET = /\/Actions\/ComputerSystem\.Reset$/;

interface SetupOptions {
  nodes?: MappingEntry[];
  nodeKeyPrefix?: string | null;
  auth?: AuthMode;
  insecure?: boolean;
  systems?: string[];
}

function setup(options: SetupOptions = {}) {
  const clock = new VirtualClock();
  const bmc = new FakeBmc(clock);
  for (const id of options.systems ?? ['1']) bmc.addSystem(id);
  const credentials = bmc.credentials();
  const warnings: string[] = [];
  const progress: string[] = [];
  const driver = createRedfishDriver({
    bmcs: [
      {
        name: 'rack1',
        address: 'https://10.0.1.11',
        credentials,
        ...(options.auth ? { auth: options.auth } : {}),
        ...(options.insecure ? { insecure: true } : {}),
      },
    ],
    ...(options.nodes ? { nodes: options.nodes } : {}),
    ...(options.nodeKeyPrefix === undefined ? {} : { nodeKeyPrefix: options.nodeKeyPrefix }),
    wire: () => bmc.send,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    log: { warn: (message) => warnings.push(message) },
  });
  const call = (ms = 60_000) => ({
    deadline: clock.now() + ms,
    onProgress: (detail: string) => progress.push(detail),
  });
  return { clock, bmc, driver, credentials, warnings, progress, call };
}

function node(labels: Record<string, string> = {}, extra: Partial<NodeIdentity> = {}): NodeIdentity {
  return { name: 'worker-1', internalIPs: ['10.0.0.5'], labels, annotations: {}, ...extra };
}

const LABELS = { 'redfish.alertfence.io/bmc': 'rack1', 'redfish.alertfence.io/system': '1' };

describe('RedfishDriver', () => {
  describe('handles', () => {
    it.each([
      ['a node labelled with a BMC', node({ 'redfish.alertfence.io/bmc': 'rack1' }), true],
      [
        'a node annotated with a BMC',
        node({}, { annotations: { 'redfish.alertfence.io/bmc': 'rack1' } }),
        true,
      ],
      ['a metal3 node', node({}, { providerID: 'metal3://ns/host-1/m3m-1' }), true],
      ['an OpenShift bare-metal node', node({}, { providerID: 'baremetalhost:///ns/host-1/uid' }), true],
      ['an EC2 node', node({}, { providerID: 'aws:///us-east-1a/i-0abc' }), false],
      ['a node nothing speaks of', node(), false],
    ])('should judge %s: %s', (_what, identity, expected) => {
      // Prepare
      const { driver } = setup();

      // Act
      const handled = driver.handles(identity);

      // Assess
      expect(handled).toBe(expected);
    });

    it('should claim a node of the mapping file, and ignore node labels when node keys are off', () => {
      // Prepare
      const { driver } = setup({
        nodes: [{ node: 'worker-9', bmc: 'rack1', system: '1' }],
        nodeKeyPrefix: null,
      });

      // Act
      const mapped = driver.handles(node({}, { name: 'worker-9' }));
      const labelled = driver.handles(node({ 'redfish.alertfence.io/bmc': 'rack1' }));

      // Assess
      expect(mapped).toBe(true);
      expect(labelled).toBe(false);
    });
  });

  describe('resolve', () => {
    it('should resolve a labelled node to <bmc>/<system> after reading the system, in one request', async () => {
      // Prepare
      const { driver, bmc, call } = setup();

      // Act
      const ref = await driver.resolve(node(LABELS), call());

      // Assess
      expect(ref).toEqual({ provider: 'redfish', id: 'rack1/1' });
      expect(bmc.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /redfish/v1/Systems/1']);
    });

    it('should resolve a metal3 node through the mapping file by its providerID', async () => {
      // Prepare
      const providerID = 'metal3://machines/host-7/m3m-7';
      const { driver, call } = setup({ nodes: [{ providerID, bmc: 'rack1', system: '1' }] });

      // Act
      const ref = await driver.resolve(node({}, { providerID }), call());

      // Assess
      expect(ref.id).toBe('rack1/1');
    });

    it('should take the only system of a BMC when none is named', async () => {
      // Prepare
      const { driver, bmc, call } = setup({ systems: ['System.Embedded.1'] });

      // Act
      const ref = await driver.resolve(node({ 'redfish.alertfence.io/bmc': 'rack1' }), call());

      // Assess
      expect(ref.id).toBe('rack1/System.Embedded.1');
      expect(bmc.requests.map((r) => r.path)).toEqual([
        '/redfish/v1/Systems',
        '/redfish/v1/Systems/System.Embedded.1',
      ]);
    });

    it('should refuse a BMC with several systems when none is named, never picking one (fence_redfish takes the last)', async () => {
      // Prepare
      const { driver, call } = setup({ systems: ['1', '2', '3'] });

      // Act
      const resolving = driver.resolve(node({ 'redfish.alertfence.io/bmc': 'rack1' }), call());

      // Assess
      await expect(resolving).rejects.toThrow(InstanceNotFoundError);
      await expect(resolving).rejects.toThrow(/has 3 systems \(1, 2, 3\)/);
    });

    it.each([
      ['no source at all', node(), /not mapped to a BMC: label it redfish\.alertfence\.io\/bmc/],
      [
        'a system without a BMC',
        node({ 'redfish.alertfence.io/system': '1' }),
        /system is set but .*bmc is not/,
      ],
      [
        'a label and an annotation that disagree',
        node(
          { 'redfish.alertfence.io/bmc': 'rack1' },
          { annotations: { 'redfish.alertfence.io/bmc': 'rack2' } },
        ),
        /disagree/,
      ],
      [
        'a BMC that is not configured',
        node({ 'redfish.alertfence.io/bmc': 'rack9' }),
        /names BMC rack9, which is not configured/,
      ],
    ])('should refuse %s', async (_what, identity, message) => {
      // Prepare
      const { driver, bmc, call } = setup();

      // Act
      const resolving = driver.resolve(identity, call());

      // Assess
      await expect(resolving).rejects.toThrow(InstanceNotFoundError);
      await expect(resolving).rejects.toThrow(message);
      expect(bmc.requests).toEqual([]);
    });

    it('should refuse a node whose labels and mapping entry name different systems', async () => {
      // Prepare
      const { driver, call } = setup({
        systems: ['1', '2'],
        nodes: [{ node: 'worker-1', bmc: 'rack1', system: '2' }],
      });

      // Act
      const resolving = driver.resolve(node(LABELS), call());

      // Assess
      await expect(resolving).rejects.toThrow(
        /mapped to 2 different targets \(rack1\/1 from node labels\/annotations; rack1\/2 from mapping nodes\[0\]/,
      );
    });

    it('should accept a node whose labels and mapping entry agree', async () => {
      // Prepare
      const { driver, call } = setup({ nodes: [{ node: 'worker-1', bmc: 'rack1', system: '1' }] });

      // Act
      const ref = await driver.resolve(node(LABELS), call());

      // Assess
      expect(ref.id).toBe('rack1/1');
    });

    it('should read labels only under a prefix kubelets may not set, ignoring an annotation a kubelet could add', async () => {
      // Prepare
      const prefix = 'alertfence.node-restriction.kubernetes.io/';
      const { driver, call } = setup({ systems: ['1', '2'], nodeKeyPrefix: prefix });
      const identity = node(
        { [`${prefix}bmc`]: 'rack1', [`${prefix}system`]: '1' },
        { annotations: { [`${prefix}system`]: '2' } },
      );

      // Act
      const ref = await driver.resolve(identity, call());
      const annotatedOnly = driver.handles(node({}, { annotations: { [`${prefix}bmc`]: 'rack1' } }));

      // Assess
      expect(ref.id).toBe('rack1/1');
      expect(annotatedOnly).toBe(false);
    });

    it('should refuse a wrong system id: a 404 is not a machine', async () => {
      // Prepare
      const { driver, call } = setup();

      // Act
      const resolving = driver.resolve(node({ ...LABELS, 'redfish.alertfence.io/system': '7' }), call());

      // Assess
      await expect(resolving).rejects.toThrow(InstanceNotFoundError);
      await expect(resolving).rejects.toThrow(/answers 404 for system 7 of node worker-1/);
    });

    it('should refuse an answer about another system than the one asked for', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.fail({ status: 200, body: { '@odata.id': '/redfish/v1/Systems/2', Id: '2', PowerState: 'On' } });

      // Act
      const resolving = driver.resolve(node(LABELS), call());

      // Assess
      await expect(resolving).rejects.toThrow(/asked for system 1, the BMC answered with system 2/);
    });
  });

  describe('describe', () => {
    it.each([
      ['On', 'on'],
      ['Off', 'off'],
      ['PoweringOff', 'transitioning'],
      ['PoweringOn', 'transitioning'],
      ['Paused', 'on'],
      [null, 'unknown'],
    ])('should read PowerState %s as %s, with no volumes', async (state, power) => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.addSystem('1', { powerState: state });

      // Act
      const description = await driver.describe(REF, call());

      // Assess
      expect(description).toEqual({
        ref: REF,
        power,
        cloudState: state ?? 'PowerState absent',
        gone: false,
        missing: false,
        volumes: [],
        noCloudVolumes: true,
      });
    });

    it('should describe a system the BMC answers 404 for as missing and unknown, never off', async () => {
      // Prepare
      const { driver, call } = setup();

      // Act
      const description = await driver.describe({ provider: 'redfish', id: 'rack1/42' }, call());

      // Assess
      expect(description).toMatchObject({
        power: 'unknown',
        gone: false,
        missing: true,
        cloudState: 'NotFound',
      });
    });

    it.each([
      [401, DriverAuthError],
      [403, DriverAuthError],
    ])('should classify a %s as an authentication error, never retried', async (status, type) => {
      // Prepare
      const { driver, bmc, call } = setup();
      for (let i = 0; i < 3; i++)
        bmc.fail({ status, body: redfishError('Base.1.8.InsufficientPrivilege', 'no') });

      // Act
      const describing = driver.describe(REF, call());

      // Assess
      await expect(describing).rejects.toThrow(type);
      await expect(describing).rejects.toMatchObject({ retryable: false });
    });

    it('should retry a 503 with Retry-After and succeed', async () => {
      // Prepare
      const { driver, bmc, clock, call } = setup();
      bmc.fail({ status: 503, headers: { 'retry-after': '2' } });

      // Act
      const description = await driver.describe(REF, call());

      // Assess
      expect(description.power).toBe('on');
      expect(clock.slept).toEqual([2000]);
      expect(bmc.count('GET', SYSTEM)).toBe(2);
    });

    it('should fail retryable when the BMC does not answer, naming the BMC and the path', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      for (let i = 0; i < 4; i++) bmc.fail({ drop: true });

      // Act
      const describing = driver.describe(REF, call());

      // Assess
      await expect(describing).rejects.toThrow(DriverError);
      await expect(describing).rejects.toMatchObject({ retryable: true });
      await expect(describing).rejects.toThrow(
        /GET \/redfish\/v1\/Systems\/1 on BMC rack1 failed without a response: socket hang up/,
      );
    });

    it('should not retry a certificate that does not verify: a BMC that cannot prove who it is gets nothing', async () => {
      // Prepare
      const clock = new VirtualClock();
      let attempts = 0;
      const driver = createRedfishDriver({
        bmcs: [
          { name: 'rack1', address: 'https://10.0.1.11', credentials: new FakeBmc(clock).credentials() },
        ],
        wire: () => async () => {
          attempts++;
          throw Object.assign(new Error('self-signed certificate in certificate chain'), {
            code: 'SELF_SIGNED_CERT_IN_CHAIN',
          });
        },
        now: clock.now,
        sleep: clock.sleep,
      });

      // Act
      const describing = driver.describe(REF, { deadline: clock.now() + 60_000 });

      // Assess
      await expect(describing).rejects.toMatchObject({ retryable: false });
      await expect(describing).rejects.toThrow(/TLS certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN/);
      expect(attempts).toBe(1);
    });

    it('should follow a redirect on the same BMC, and never to another host', async () => {
      // Prepare
      const { driver, bmc, call } = setup({ systems: ['uuid-1'] });
      bmc.fail({ status: 307, headers: { location: '/redfish/v1/Systems/uuid-1' } }, { path: /\/alias$/ });
      bmc.fail(
        { status: 307, headers: { location: 'https://evil.example/redfish/v1/Systems/1' } },
        { path: /\/other$/ },
      );

      // Act
      const followed = await driver.describe({ provider: 'redfish', id: 'rack1/alias' }, call());
      const elsewhere = driver.describe({ provider: 'redfish', id: 'rack1/other' }, call());

      // Assess
      expect(followed.power).toBe('on');
      await expect(elsewhere).rejects.toThrow(/answered 307/);
      expect(bmc.requests.map((r) => r.path)).toEqual([
        '/redfish/v1/Systems/alias',
        '/redfish/v1/Systems/uuid-1',
        '/redfish/v1/Systems/other',
      ]);
    });

    it('should refuse a ref of an unknown BMC', async () => {
      // Prepare
      const { driver, call } = setup();

      // Act
      const describing = driver.describe({ provider: 'redfish', id: 'gone-bmc/1' }, call());

      // Assess
      await expect(describing).rejects.toThrow(InstanceNotFoundError);
    });
  });

  describe('powerOff', () => {
    it('should read the system, then POST ForceOff to the action target', async () => {
      // Prepare
      const { driver, bmc, call } = setup();

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /redfish/v1/Systems/1',
        'POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
      ]);
      expect(bmc.requests[1]?.body).toEqual({ ResetType: 'ForceOff' });
      expect(bmc.systems.get('1')?.pending?.state).toBe('Off');
    });

    it('should send nothing for a system already Off', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.addSystem('1', { powerState: 'Off' });

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.count('POST')).toBe(0);
    });

    it('should take a 409 "already off" as done, as iDRAC answers a ForceOff to a system that is off', async () => {
      // Prepare: the system is Off, but the read before the reset is stale and still says On.
      const { driver, bmc, call } = setup();
      bmc.addSystem('1', { powerState: 'Off' });
      bmc.conflictWhenAlready = true;
      bmc.fail({ status: 200, body: bmc.systemBody('1', { powerState: 'On' }) }, { method: 'GET' });

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /redfish/v1/Systems/1',
        'POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
        'GET /redfish/v1/Systems/1',
      ]);
    });

    it('should read before every reset, so a repeated power-off sends nothing', async () => {
      // Prepare
      const { driver, bmc, clock, call } = setup();
      await driver.powerOff(REF, call());
      clock.time += bmc.transitionMs;

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.count('POST', RESET)).toBe(1);
      expect(bmc.count('GET', SYSTEM)).toBe(2);
    });

    it('should refuse when the BMC does not allow ForceOff, sending nothing', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.addSystem('1', { allowable: ['On', 'GracefulShutdown'] });

      // Act
      const off = driver.powerOff(REF, call());

      // Assess
      await expect(off).rejects.toThrow(
        /does not allow ResetType ForceOff \(it allows On, GracefulShutdown\)/,
      );
      await expect(off).rejects.toMatchObject({ retryable: false });
      expect(bmc.count('POST')).toBe(0);
    });

    it('should read the allowed values from the ActionInfo when the BMC lists them there', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.addSystem('1', { actionInfo: ['On', 'ForceOff'] });

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /redfish/v1/Systems/1',
        'GET /redfish/v1/Systems/1/ResetActionInfo',
        'POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
      ]);
    });

    it('should send ForceOff when the BMC does not say what it allows', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.addSystem('1', { allowable: null });

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.requests.at(-1)?.body).toEqual({ ResetType: 'ForceOff' });
    });

    it('should fail on a 403 to the reset with the privilege it needs, never retried', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.fail(
        { status: 403, body: redfishError('Base.1.8.InsufficientPrivilege', 'Insufficient privilege') },
        { method: 'POST' },
      );

      // Act
      const off = driver.powerOff(REF, call());

      // Assess
      await expect(off).rejects.toThrow(DriverAuthError);
      await expect(off).rejects.toThrow(/Insufficient privilege.*ConfigureComponents/);
      expect(bmc.count('POST')).toBe(1);
    });

    it('should read the account again after a 401 and send once more (a rotated Secret)', async () => {
      // Prepare
      const { driver, bmc, credentials, call } = setup();
      bmc.fail({ status: 401 }, { method: 'POST' });

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(credentials.reloads).toBe(1);
      expect(bmc.count('POST', RESET)).toBe(2);
    });

    it('should fail with an authentication error when the BMC refuses the account twice', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.fail({ status: 401 }).fail({ status: 401 });

      // Act
      const off = driver.powerOff(REF, call());

      // Assess
      await expect(off).rejects.toThrow(DriverAuthError);
      await expect(off).rejects.toThrow(/refused the account even after reading it again/);
    });

    it('should read again after a 500 to the reset and send it once more while the system is still On', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.fail({ status: 500, body: redfishError('Base.1.8.InternalError', 'busy') }, { method: 'POST' });

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.count('POST', RESET)).toBe(2);
      expect(bmc.count('GET', SYSTEM)).toBe(2);
    });

    it('should stop after three lost resets, retryable', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      for (let i = 0; i < 3; i++) bmc.fail({ status: 502 }, { method: 'POST' });

      // Act
      const off = driver.powerOff(REF, call());

      // Assess
      await expect(off).rejects.toMatchObject({ retryable: true });
      expect(bmc.count('POST', RESET)).toBe(3);
    });

    it('should not send again a lost reset that took effect: the read shows it under way', async () => {
      // Prepare: the BMC acts on the reset, but its answer is lost; it shows the switch under way.
      const { driver, bmc, call } = setup();
      bmc.reportTransitions = true;
      bmc.fail({ drop: true, apply: true }, { method: 'POST' });

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(bmc.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /redfish/v1/Systems/1',
        'POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset',
        'GET /redfish/v1/Systems/1',
      ]);
    });

    it('should refuse, non-retryable, when the BMC answers 409 and the system stays On', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.fail(
        { status: 409, body: redfishError('Base.1.8.ResourceInUse', 'A virtual media operation is running') },
        { method: 'POST' },
      );

      // Act
      const off = driver.powerOff(REF, call());

      // Assess
      await expect(off).rejects.toThrow(
        /refused ResetType ForceOff for system 1: the system is still On .*virtual media operation/,
      );
      await expect(off).rejects.toMatchObject({ retryable: false });
    });

    it('should refuse to power off a system the BMC answers 404 for', async () => {
      // Prepare
      const { driver, bmc, call } = setup();

      // Act
      const off = driver.powerOff({ provider: 'redfish', id: 'rack1/9' }, call());

      // Assess
      await expect(off).rejects.toThrow(InstanceNotFoundError);
      await expect(off).rejects.toThrow(/404 proves nothing/);
      expect(bmc.count('POST')).toBe(0);
    });

    it('should warn at start and at every power action when TLS verification is off', async () => {
      // Prepare
      const { driver, warnings, call } = setup({ insecure: true });
      const atStart = [...warnings];

      // Act
      await driver.powerOff(REF, call());

      // Assess
      expect(atStart).toEqual([
        expect.stringMatching(/TLS verification is OFF for BMC rack1 \(configured\)/),
      ]);
      expect(warnings).toHaveLength(2);
      expect(warnings[1]).toMatch(/power off of rack1\/1/);
    });
  });

  describe('powerOn', () => {
    it('should POST On, and nothing for a system already On', async () => {
      // Prepare
      const { driver, bmc, clock, call } = setup();
      bmc.addSystem('1', { powerState: 'Off' });

      // Act
      await driver.powerOn(REF, call());
      clock.time += bmc.transitionMs;
      const fresh = createRedfishDriver({
        bmcs: [{ name: 'rack1', address: 'https://10.0.1.11', credentials: bmc.credentials() }],
        wire: () => bmc.send,
        now: clock.now,
        sleep: clock.sleep,
      });
      await fresh.powerOn(REF, call());

      // Assess
      expect(bmc.requests.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([
        { ResetType: 'On' },
      ]);
    });

    it('should use ForceOn where the BMC lists only that', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.addSystem('1', { powerState: 'Off', allowable: ['ForceOn', 'ForceOff'] });

      // Act
      await driver.powerOn(REF, call());

      // Assess
      expect(bmc.requests.at(-1)?.body).toEqual({ ResetType: 'ForceOn' });
    });
  });

  describe('waitForPower', () => {
    it('should poll PowerState about every second until Off', async () => {
      // Prepare
      const { driver, bmc, clock, call } = setup();
      await driver.powerOff(REF, call());
      const start = clock.now();

      // Act
      const description = await driver.waitForPower(REF, 'off', call());

      // Assess
      expect(description).toMatchObject({ power: 'off', cloudState: 'Off', gone: false });
      // The reset lands 3 s after it was sent: polls at 0, 0.5, 1.5, 2.5 and 3.5 s.
      expect(clock.slept).toEqual([500, 1000, 1000, 1000]);
      expect(clock.now() - start).toBe(3500);
      expect(bmc.count('POST')).toBe(1);
    });

    it('should fail with the deadline, naming the last state, when the system never switches', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      bmc.transitionMs = Number.POSITIVE_INFINITY;
      await driver.powerOff(REF, call());

      // Act
      const waiting = driver.waitForPower(REF, 'off', call(10_000));

      // Assess
      await expect(waiting).rejects.toThrow(DeadlineExceededError);
      await expect(waiting).rejects.toThrow(/system rack1\/1 to be Off \(last state: On\)/);
    });

    it('should send the reset again when the system stays on the wrong side 20 s after it', async () => {
      // Prepare: the BMC dropped the reset (a restart of its web server, say).
      const { driver, bmc, progress, call } = setup();
      await driver.powerOff(REF, call());
      const dropped = bmc.systems.get('1');
      if (dropped) delete dropped.pending;

      // Act
      const description = await driver.waitForPower(REF, 'off', call(120_000));

      // Assess
      expect(description.power).toBe('off');
      expect(bmc.count('POST', RESET)).toBe(2);
      expect(progress).toContain('system rack1/1 is still On; sending the reset again');
    });

    it('should never take a 404 as off, even for a caller that saw the system exist: machines do not age out of a BMC', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      await driver.powerOff(REF, call());
      bmc.systems.delete('1');

      // Act
      const waiting = driver.waitForPower(REF, 'off', { ...call(), notFoundMeansOff: true });

      // Assess
      await expect(waiting).rejects.toThrow(InstanceNotFoundError);
    });

    it('should fail at once when the system starts answering 404: power cannot be verified', async () => {
      // Prepare
      const { driver, bmc, call } = setup();
      await driver.powerOff(REF, call());
      bmc.fail(
        { status: 404, body: redfishError('Base.1.8.ResourceMissingAtURI', 'gone') },
        { method: 'GET' },
      );

      // Act
      const waiting = driver.waitForPower(REF, 'off', call());

      // Assess
      await expect(waiting).rejects.toThrow(InstanceNotFoundError);
      await expect(waiting).rejects.toThrow(/cannot be verified/);
    });
  });

  describe('volumes', () => {
    it('should refuse every detach: bare metal has no cloud volumes', async () => {
      // Prepare
      const { driver, bmc, call } = setup();

      // Act
      const detaching = driver.detachVolume(REF, 'pvc-1', call());

      // Assess
      await expect(detaching).rejects.toThrow(VolumeDetachRefusedError);
      await expect(detaching).rejects.toThrow(/no cloud volumes/);
      await expect(driver.waitForDetached(REF, [], call())).resolves.toBeUndefined();
      await expect(driver.waitForDetached(REF, ['pvc-1'], call())).rejects.toThrow(VolumeDetachRefusedError);
      expect(bmc.requests).toEqual([]);
    });
  });

  describe('sessions', () => {
    it('should log in once, reuse the token, log in again after a 401, and log out on close', async () => {
      // Prepare
      const { driver, bmc, call } = setup({ auth: 'session' });

      // Act
      await driver.describe(REF, call());
      await driver.describe(REF, call());
      bmc.expireSessions();
      await driver.describe(REF, call());
      await driver.close(call());

      // Assess
      expect(bmc.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'POST /redfish/v1/SessionService/Sessions',
        'GET /redfish/v1/Systems/1',
        'GET /redfish/v1/Systems/1',
        'GET /redfish/v1/Systems/1',
        'POST /redfish/v1/SessionService/Sessions',
        'GET /redfish/v1/Systems/1',
        'DELETE /redfish/v1/SessionService/Sessions/2',
      ]);
      expect(bmc.requests[1]?.headers['X-Auth-Token']).toBe('token-1');
      expect(bmc.requests[1]?.headers.Authorization).toBeUndefined();
      expect(bmc.openSessions).toBe(0);
    });

    it('should fail with an authentication error when the login is refused', async () => {
      // Prepare
      const { driver, bmc, call } = setup({ auth: 'session' });
      bmc.account.password = 'changed';

      // Act
      const describing = driver.describe(REF, call());

      // Assess
      await expect(describing).rejects.toThrow(DriverAuthError);
      expect(bmc.count('POST')).toBe(1);
    });
  });

  describe('preflight', () => {
    it('should pass on a BMC whose systems offer ForceOff and On, reading only', async () => {
      // Prepare
      const { driver, bmc, call } = setup({ systems: ['1', '2'] });

      // Act
      const result = await driver.preflight(call());

      // Assess
      expect(result).toEqual({ ok: true, problems: [] });
      expect(bmc.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /redfish/v1/Systems',
        'GET /redfish/v1/Systems/1',
        'GET /redfish/v1/Systems/2',
      ]);
    });

    it('should read only the systems the mapping names', async () => {
      // Prepare
      const { driver, bmc, call } = setup({
        systems: ['1', '2'],
        nodes: [{ node: 'worker-1', bmc: 'rack1', system: '2' }],
      });

      // Act
      const result = await driver.preflight(call());

      // Assess
      expect(result.ok).toBe(true);
      expect(bmc.requests.map((r) => r.path)).toEqual(['/redfish/v1/Systems/2']);
    });

    it.each([
      [
        'an account the BMC refuses',
        (bmc: FakeBmc) => bmc.fail({ status: 401 }).fail({ status: 401 }),
        /BMC rack1 refused the account \(401\)/,
      ],
      [
        'a BMC that does not answer',
        (bmc: FakeBmc) => {
          for (let i = 0; i < 4; i++) bmc.fail({ drop: true });
        },
        /BMC rack1 at https:\/\/10\.0\.1\.11 does not answer/,
      ],
      [
        'a system without ForceOff',
        (bmc: FakeBmc) => bmc.addSystem('1', { allowable: ['On'] }),
        /system 1: the BMC does not allow ResetType ForceOff/,
      ],
      [
        'a system without a reset action',
        (bmc: FakeBmc) => bmc.addSystem('1', { noResetAction: true }),
        /system 1: offers no #ComputerSystem\.Reset action/,
      ],
    ])('should name %s', async (_what, arrange, message) => {
      // Prepare
      const { driver, bmc, call } = setup();
      arrange(bmc);

      // Act
      const result = await driver.preflight(call());

      // Assess
      expect(result.ok).toBe(false);
      expect(result.problems).toEqual([expect.stringMatching(message)]);
      expect(bmc.count('POST')).toBe(0);
    });

    it('should name a mapped system the BMC does not know, and a BMC with several systems for an unnamed node', async () => {
      // Prepare
      const { driver, call } = setup({
        systems: ['1', '2'],
        nodes: [
          { node: 'worker-1', bmc: 'rack1', system: '7' },
          { node: 'worker-2', bmc: 'rack1' },
        ],
      });

      // Act
      const result = await driver.preflight(call());

      // Assess
      expect(result.problems).toEqual([
        'BMC rack1 has 2 systems (1, 2); name the system of node worker-2 in the mapping',
        'BMC rack1 system 7: not found (404) for this account',
      ]);
    });
  });
});
