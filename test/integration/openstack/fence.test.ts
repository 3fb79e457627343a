import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallOptions,
  DeadlineExceededError,
  type DriverError,
  type NodeIdentity,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import { createOpenStackDriver, type OpenStackDriver } from '../../../drivers/openstack/index.js';
import { documentedAccessRules, ExchangeLog, startTestCloud, type TestCloud } from './cloud.js';

const POWER_OFF_MS = 1500;
const POWER_ON_MS = 1000;
const DETACH_MS = 800;

/**
 * What the real Nova and Cinder of real-cloud.test.ts cannot be made to do on cue, against the Nova/Cinder
 * contract fake behind real Keystone: slow and stuck task states, dropped actions, 5xx answers, servers with
 * addresses and boot volumes. Under an application credential restricted to the access rules documented in
 * infra/openstack/README.md.
 */
describe('OpenStack driver through the Nova/Cinder contract fake: what a real cloud will not do on cue', () => {
  let env: TestCloud;
  let driver: OpenStackDriver;
  let log: ExchangeLog;
  const call = (ms = 60_000): CallOptions => ({ deadline: Date.now() + ms });

  /** A server booted from a volume, with the volume of a PV and another data volume attached. */
  function seedServer(name: string, ip: string) {
    const { cloud, projectId } = env;
    const serverId = cloud.addServer({ name, projectId, addresses: { private: [ip] } });
    const boot = cloud.addVolume({ name: `${name}-boot`, projectId, bootable: true });
    const pv = cloud.addVolume({ name: 'pvc-data-postgres-0', projectId });
    const data = cloud.addVolume({ name: `${name}-scratch`, projectId });
    cloud.attachVolume(serverId, boot, '/dev/vda');
    cloud.attachVolume(serverId, pv, '/dev/vdb');
    cloud.attachVolume(serverId, data, '/dev/vdc');
    const node: NodeIdentity = { name, providerID: `openstack:///${serverId}`, internalIPs: [ip] };
    return { serverId, boot, pv, data, node };
  }

  beforeAll(async () => {
    env = await startTestCloud({ powerOffMs: POWER_OFF_MS, powerOnMs: POWER_ON_MS, detachMs: DETACH_MS });
    const credential = await env.createApplicationCredential({ accessRules: await documentedAccessRules() });
    log = new ExchangeLog();
    driver = createOpenStackDriver({
      authUrl: env.keystone.authUrl,
      credentials: {
        method: 'application_credential',
        credential: { id: credential.id },
        secret: credential.secret,
      },
      region: env.keystone.region,
      // Nodes without a providerID are looked up by name and InternalIP together (as ALERTFENCE_OPENSTACK_LOOKUP).
      lookupWithoutProviderID: true,
      onExchange: log.record,
    });
  });

  afterAll(async () => {
    await env?.stop();
  });

  it('should find a server by name and InternalIP when the Node has no providerID (real test servers have no addresses)', async () => {
    // Prepare
    const { serverId } = seedServer('worker-noid', '10.0.1.20');
    seedServer('worker-noid-2', '10.0.1.21');

    // Act
    const ref = await driver.resolve({ name: 'worker-noid', internalIPs: ['10.0.1.20'] }, call());

    // Assess
    expect(ref.id).toBe(serverId);
  });

  it('should take a 409 from a second os-stop during a slow powering-off as fine', async () => {
    // Prepare
    // The hypervisor holds the server in powering-off until the test is done: no race with a loaded machine.
    const { node, serverId } = seedServer('worker-409', '10.0.1.30');
    const ref = await driver.resolve(node, call());
    env.cloud.setStuck(serverId, true);
    await driver.powerOff(ref, call());

    // Act
    await driver.powerOff(ref, call());

    // Assess
    const actions = env.cloud.requests.filter((r) => r.path === `/v2.1/servers/${ref.id}/action`);
    expect(actions.map((r) => r.status)).toEqual([202, 409]);
    expect((await driver.describe(ref, call())).cloudState).toBe('ACTIVE/powering-off');
    env.cloud.setStuck(serverId, false);
  });

  it('should only detach a volume from a server verified off: refused while powering-off, Nova never asked', async () => {
    // Prepare
    const { node, pv, serverId } = seedServer('worker-busy', '10.0.1.40');
    const ref = await driver.resolve(node, call());
    await driver.describe(ref, call());
    env.cloud.setStuck(serverId, true);
    await driver.powerOff(ref, call());
    const before = env.cloud.requests.length;

    // Act
    const error = await driver.detachVolume(ref, pv, call()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(VolumeDetachRefusedError);
    expect((error as DriverError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/ACTIVE\/powering-off, not off/);
    expect(env.cloud.requests.slice(before).filter((r) => r.method === 'DELETE')).toEqual([]);
    env.cloud.setStuck(serverId, false);
  });

  it('should refuse to detach the boot volume without asking Nova (real test servers boot from an image)', async () => {
    // Prepare
    const { node, boot } = seedServer('worker-root', '10.0.1.50');
    const ref = await driver.resolve(node, call());
    const before = env.cloud.requests.length;

    // Act
    const error = await driver.detachVolume(ref, boot, call()).catch((e: unknown) => e);

    // Assess
    expect((error as Error).message).toMatch(/it is the root disk/);
    expect(env.cloud.requests.slice(before).filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  it('should issue os-stop again when Nova dropped it', async () => {
    // Prepare
    const { node, serverId } = seedServer('worker-dropped', '10.0.1.60');
    const ref = await driver.resolve(node, call());
    env.cloud.dropActions(serverId, 1);
    await driver.powerOff(ref, call());

    // Act
    const off = await driver.waitForPower(ref, 'off', call());

    // Assess
    expect(off.power).toBe('off');
    const actions = env.cloud.requests.filter((r) => r.path === `/v2.1/servers/${ref.id}/action`);
    expect(actions.map((r) => r.status)).toEqual([202, 202]);
  });

  it('should not call a server off while its hypervisor never finishes powering-off', async () => {
    // Prepare
    const { node, serverId } = seedServer('worker-stuck', '10.0.1.70');
    const ref = await driver.resolve(node, call());
    env.cloud.setStuck(serverId, true);
    await driver.powerOff(ref, call());

    // Act
    const error = await driver.waitForPower(ref, 'off', call(4000)).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).message).toMatch(/last state: ACTIVE\/powering-off/);
  });

  it('should retry reads through 503s from Nova', async () => {
    // Prepare
    const { node } = seedServer('worker-503', '10.0.1.80');
    const ref = await driver.resolve(node, call());
    env.cloud.failNext({ service: 'compute', method: 'GET', path: /\/servers\/[^/]+$/ }, 503, 2);

    // Act
    const description = await driver.describe(ref, call());

    // Assess
    expect(description.power).toBe('on');
  });
});
