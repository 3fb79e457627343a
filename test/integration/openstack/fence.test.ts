import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallOptions,
  DeadlineExceededError,
  DriverAuthError,
  type DriverError,
  InstanceNotFoundError,
  type NodeIdentity,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import { createOpenStackDriver, type OpenStackDriver } from '../../../drivers/openstack/index.js';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { FakeKube } from '../../fakes/kube.js';
import { wireFence } from '../../support/fence-wiring.js';
import { alertPayload, putNodes, putStatefulWorkload } from '../../support/world.js';
import { documentedAccessRules, ExchangeLog, startTestCloud, type TestCloud } from './cloud.js';

const POWER_OFF_MS = 1500;
const POWER_ON_MS = 1000;
const DETACH_MS = 800;

/**
 * The driver's side of a fence against the Nova/Cinder contract fake behind real Keystone, under an
 * application credential restricted to the access rules documented in infra/openstack/README.md.
 */
describe('OpenStack driver fencing through the Nova/Cinder contract fake', () => {
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
      // Off by default; on here for the look-up test below (every other node names its server).
      lookupWithoutProviderID: true,
      onExchange: log.record,
    });
  });

  afterAll(async () => {
    await env?.stop();
  });

  it('should pass the pre-flight with the documented access rules', async () => {
    expect(await driver.preflight(call())).toEqual({ ok: true, problems: [] });
  });

  it('should fence the seed scenario: PV volume available after, boot and data volumes untouched', async () => {
    // Prepare
    const { serverId, boot, pv, data, node } = seedServer('worker-seed', '10.0.1.10');
    const pvVolumeHandles = new Set([pv]);
    // A warm process: the token is already cached (a cold one adds one Keystone call).
    await driver.session.authenticate(call());
    const mark = log.mark();
    const phases: Array<[string, number]> = [];
    const phase = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      const before = log.mark();
      const result = await run();
      phases.push([name, log.mark() - before]);
      return result;
    };

    // Act: the driver calls of one fence, in the workflow's order.
    const ref = await phase('resolve', () => driver.resolve(node, call()));
    const confirmed = await phase('describe', () => driver.describe(ref, call()));
    await phase('powerOff', () => driver.powerOff(ref, call()));
    const off = await phase('waitForPower off', () => driver.waitForPower(ref, 'off', call()));
    const toDetach = off.volumes.filter((v) => pvVolumeHandles.has(v.id) && !v.root).map((v) => v.id);
    for (const volumeId of toDetach)
      await phase('detachVolume', () => driver.detachVolume(ref, volumeId, call()));
    await phase('waitForDetached', () => driver.waitForDetached(ref, toDetach, call()));
    await phase('powerOn', () => driver.powerOn(ref, call()));
    const on = await phase('waitForPower on', () => driver.waitForPower(ref, 'on', call()));

    // Assess
    expect(confirmed).toMatchObject({ power: 'on', gone: false });
    expect(confirmed.volumes).toEqual([
      { id: boot, device: '/dev/vda', root: true },
      { id: pv, device: '/dev/vdb' },
      { id: data, device: '/dev/vdc' },
    ]);
    expect(off).toMatchObject({ power: 'off', cloudState: 'SHUTOFF' });
    expect(toDetach).toEqual([pv]);
    expect(env.cloud.volume(pv)).toEqual({ id: pv, status: 'available', attachedTo: [] });
    expect(env.cloud.volume(boot)).toEqual({ id: boot, status: 'in-use', attachedTo: [serverId] });
    expect(env.cloud.volume(data)).toEqual({ id: data, status: 'in-use', attachedTo: [serverId] });
    expect(env.cloud.server(serverId)).toMatchObject({
      status: 'ACTIVE',
      taskState: null,
      volumeIds: [boot, data],
    });
    expect(on.volumes.map((v) => v.id)).toEqual([boot, data]);

    const calls = log.since(mark);
    const byService = {
      keystone: calls.filter((e) => e.url.includes('/v3/auth/tokens')).length,
      nova: calls.filter((e) => e.url.includes('/v2.1/')).length,
      cinder: calls.filter((e) => e.url.includes('/volumes/')).length,
    };
    console.info(
      `OpenStack calls for one fence (1 PV volume; powering-off ${POWER_OFF_MS} ms, powering-on ${POWER_ON_MS} ms, detaching ${DETACH_MS} ms): ${calls.length} = ${JSON.stringify(byService)}; per step: ${phases.map(([n, c]) => `${n} ${c}`).join(', ')}`,
    );
    // The token from the pre-flight is reused: a fence costs no Keystone call.
    expect(byService.keystone).toBe(0);
    expect(calls.every((e) => e.status !== undefined && e.status < 300)).toBe(true);
    expect(
      env.cloud.requests.filter((r) => r.service === 'compute').every((r) => r.microversion === '2.3'),
    ).toBe(true);
  });

  it('should find a server by name when the Node has no providerID', async () => {
    // Prepare
    const { serverId } = seedServer('worker-noid', '10.0.1.20');
    seedServer('worker-noid-2', '10.0.1.21');

    // Act
    const ref = await driver.resolve({ name: 'worker-noid', internalIPs: ['10.0.1.20'] }, call());

    // Assess
    expect(ref.id).toBe(serverId);
  });

  it('should refuse an unknown server with InstanceNotFoundError (Nova 404)', async () => {
    // Act
    const error = await driver
      .resolve(
        { name: 'ghost', providerID: 'openstack:///00000000-0000-4000-8000-000000000000', internalIPs: [] },
        call(),
      )
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
    expect(env.cloud.requests.at(-1)).toMatchObject({ method: 'GET', status: 404 });
  });

  it('should take a 409 from a second os-stop during powering-off as fine', async () => {
    // Prepare
    const { node } = seedServer('worker-409', '10.0.1.30');
    const ref = await driver.resolve(node, call());
    await driver.powerOff(ref, call());

    // Act
    await driver.powerOff(ref, call());

    // Assess
    const actions = env.cloud.requests.filter((r) => r.path === `/v2.1/servers/${ref.id}/action`);
    expect(actions.map((r) => r.status)).toEqual([202, 409]);
    expect((await driver.describe(ref, call())).cloudState).toBe('ACTIVE/powering-off');
  });

  it('should only detach a volume from a server verified off: refused while powering-off, Nova never asked', async () => {
    // Prepare
    const { node, pv } = seedServer('worker-busy', '10.0.1.40');
    const ref = await driver.resolve(node, call());
    await driver.describe(ref, call());
    await driver.powerOff(ref, call());
    const before = env.cloud.requests.length;

    // Act
    const error = await driver.detachVolume(ref, pv, call()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(VolumeDetachRefusedError);
    expect((error as DriverError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/ACTIVE\/powering-off, not off/);
    expect(env.cloud.requests.slice(before).filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  it('should refuse to detach the boot volume without asking Nova', async () => {
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

  it('should get a 401 for a bad token from the fake', async () => {
    // Act
    const response = await fetch(`${env.cloud.computeUrl}/servers/detail`, {
      headers: { 'X-Auth-Token': 'bogus' },
    });

    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Keystone uri=/);
  });

  it('should be stopped by access rules that do not cover a call', async () => {
    // Prepare
    const rules = (await documentedAccessRules()).filter((r) => r.method !== 'DELETE');
    const credential = await env.createApplicationCredential({ accessRules: rules });
    const narrow = createOpenStackDriver({
      authUrl: env.keystone.authUrl,
      credentials: {
        method: 'application_credential',
        credential: { id: credential.id },
        secret: credential.secret,
      },
      region: env.keystone.region,
    });
    const { node, pv } = seedServer('worker-rules', '10.0.1.90');
    const ref = await narrow.resolve(node, call());
    // Off first: the driver itself refuses a detach from a running server before Nova could.
    await narrow.powerOff(ref, call());
    await narrow.waitForPower(ref, 'off', call());

    // Act
    const error = await narrow.detachVolume(ref, pv, call()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DriverAuthError);
  });
  describe('the whole fence workflow', () => {
    it('should fence a dead OpenStack node from an Alertmanager webhook: SHUTOFF, PV volume available, Node deleted, ACTIVE again', async () => {
      // Prepare: worker-dead has been NotReady with a stale kubelet Lease for an hour and runs a StatefulSet
      // pod whose PV is the Cinder volume; two healthy workers keep the storm guard quiet.
      const { serverId, boot, pv, data, node } = seedServer('worker-dead', '10.0.2.10');
      const kube = new FakeKube();
      putNodes(
        kube,
        [
          { name: 'worker-dead', ready: false, providerID: node.providerID },
          {
            name: 'worker-ok-1',
            providerID: `openstack:///${seedServer('worker-ok-1', '10.0.2.11').serverId}`,
          },
          {
            name: 'worker-ok-2',
            providerID: `openstack:///${seedServer('worker-ok-2', '10.0.2.12').serverId}`,
          },
        ],
        Date.now(),
      );
      putStatefulWorkload(kube, 'worker-dead', 'pv-postgres', pv, 'cinder.csi.openstack.org');

      await driver.session.authenticate(call());
      const mark = log.mark();
      const { service, post, drain } = wireFence({
        kube,
        drivers: [driver],
        env: { ALERTFENCE_DRIVERS: 'openstack', ALERTFENCE_MAX_UNHEALTHY: '50%' },
      });

      // Act: the webhook answers at once; the runtime then runs the handed-over continuations.
      const response = await post('/v1/alerts', alertPayload([{ node: 'worker-dead' }]));
      const accepted = (await response.json()) as { results: Array<{ outcome: string }> };
      const callsAtAnswer = log.since(mark).length;
      await drain(Number.POSITIVE_INFINITY);

      // Assess
      expect(response.status).toBe(202);
      expect(accepted.results[0]?.outcome).toBe('accepted');
      const journal = await service.journal('worker-dead');
      expect(journal?.status).toBe('succeeded');
      expect(journal?.steps.map((step) => step.phase)).toEqual(PHASES);
      expect(journal?.instance).toMatchObject({ provider: 'openstack', id: serverId });
      expect(kube.nodes.has('worker-dead')).toBe(false);
      expect(env.cloud.server(serverId)).toMatchObject({
        status: 'ACTIVE',
        taskState: null,
        volumeIds: [boot, data],
      });
      expect(env.cloud.volume(pv)).toEqual({ id: pv, status: 'available', attachedTo: [] });
      expect(env.cloud.volume(boot).attachedTo).toEqual([serverId]);
      expect(env.cloud.volume(data).attachedTo).toEqual([serverId]);
      const calls = log.since(mark);
      console.info(
        `OpenStack calls of one whole fence through the workflow: ${calls.length} (${callsAtAnswer} before the webhook answered): ${calls
          .map(
            (e) => `${e.method} ${new URL(e.url).pathname.replace(/[0-9a-f-]{32,36}/g, '{id}')} ${e.status}`,
          )
          .join('; ')}`,
      );
      expect(calls.every((e) => e.status !== undefined && e.status < 300)).toBe(true);
      // The fixed part of a fence; polls add GETs in proportion to how long Nova and Cinder take. Before it
      // answers, the webhook resolves the server and reads it (its state and volumes, journaled as seen).
      expect(callsAtAnswer).toBe(3);
      expect(calls.filter((e) => e.method === 'POST').map((e) => e.url.endsWith('/action'))).toEqual([
        true,
        true,
      ]);
      expect(calls.filter((e) => e.method === 'DELETE')).toHaveLength(1);
      expect(calls.filter((e) => e.url.includes('/auth/tokens'))).toHaveLength(0);
    });
  });
});
