import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallOptions,
  DeadlineExceededError,
  DriverAuthError,
  type DriverError,
  InstanceNotFoundError,
  type InstanceRef,
  type NodeIdentity,
  VolumeDetachRefusedError,
} from '../../../drivers/driver.js';
import {
  createOpenStackDriver,
  type KeystoneCredentials,
  type OpenStackDriver,
  type OpenStackDriverOptions,
} from '../../../drivers/openstack/index.js';
import { PHASES } from '../../../functions/fence/vocabulary.js';
import { FakeKube } from '../../fakes/kube.js';
import { type OpenStackCloud, startOpenStack } from '../../peers/openstack.js';
import { wireFence } from '../../support/fence-wiring.js';
import { alertPayload, putNodes, putStatefulWorkload } from '../../support/world.js';
import { documentedAccessRules, ExchangeLog, type IdentityHelpers, identityHelpers } from './cloud.js';

/**
 * The OpenStack driver against a real OpenStack (test/peers/openstack.ts): Keystone, Nova with the fake
 * virt driver, Cinder with the fake volume driver. What Nova and Cinder answer here is theirs — states,
 * 409s, 404s, policies, access rules, service tokens — so these tests are the driver's proof; the contract
 * fake (fence.test.ts) keeps only what a real service cannot be made to do on cue.
 */
describe('OpenStack driver against real Keystone, Nova and Cinder', () => {
  let cloud: OpenStackCloud;
  let identity: IdentityHelpers;
  const call = (ms = 60_000): CallOptions => ({ deadline: Date.now() + ms });

  function driverWith(credentials: KeystoneCredentials, extra: Partial<OpenStackDriverOptions> = {}) {
    const log = new ExchangeLog();
    const driver = createOpenStackDriver({
      authUrl: cloud.authUrl,
      credentials,
      region: cloud.region,
      onExchange: log.record,
      ...extra,
    });
    return { driver, log };
  }

  function passwordCredentials(): KeystoneCredentials {
    const { admin } = cloud.keystone;
    return {
      method: 'password',
      user: { name: admin.username, domain: { name: admin.domain } },
      password: admin.password,
      project: { name: admin.project, domain: { name: admin.domain } },
    };
  }

  /**
   * The credential infra/openstack/README.md tells operators to create: role `member`, the documented
   * access rules.
   */
  async function documentedCredential(): Promise<KeystoneCredentials> {
    const credential = await identity.createApplicationCredential({
      accessRules: await documentedAccessRules(),
      roles: ['member'],
    });
    return { method: 'application_credential', credential: { id: credential.id }, secret: credential.secret };
  }

  /** A server with the volume of a PV and a second data volume attached, as a CSI controller would. */
  async function seedServer(name: string) {
    const serverId = await cloud.createServer(name);
    // One at a time: the cloud's sqlite databases take one writer at a time.
    const pv = await cloud.admin.createVolume(`pvc-${name}`);
    const data = await cloud.admin.createVolume(`${name}-scratch`);
    await cloud.admin.attachVolume(serverId, pv);
    await cloud.admin.attachVolume(serverId, data);
    const node: NodeIdentity = { name, providerID: `openstack:///${serverId}`, internalIPs: [] };
    return { serverId, pv, data, node };
  }

  const statuses = (log: ExchangeLog, mark: number) =>
    log
      .since(mark)
      .map((e) => `${e.method} ${new URL(e.url).pathname.replace(/[0-9a-f-]{32,36}/g, '{id}')} ${e.status}`);

  beforeAll(async () => {
    cloud = await startOpenStack({
      log: (line) => process.stdout.write(`${line}\n`),
      // The services' logs, for a failure's post-mortem (git-ignored).
      logDir: fileURLToPath(new URL('./out/', import.meta.url)),
    });
    identity = identityHelpers(cloud.keystone);
    const rss = await cloud.rss();
    const total = Object.values(rss).reduce((sum, bytes) => sum + bytes, 0);
    console.info(
      `real OpenStack ready in ${(cloud.startedInMs / 1000).toFixed(1)} s, ${(total / 2 ** 30).toFixed(2)} GiB resident without Keystone: ${Object.entries(
        rss,
      )
        .map(([name, bytes]) => `${name} ${Math.round(bytes / 2 ** 20)} MiB`)
        .join(', ')}`,
    );
    // About 60 s on a quiet machine, over 3 minutes seen with other suites loading it.
  }, 420_000);

  afterAll(async () => {
    await cloud?.stop();
  });

  describe('authentication', () => {
    let ref: InstanceRef;

    beforeAll(async () => {
      ref = { provider: 'openstack', id: await cloud.createServer('worker-auth'), region: cloud.region };
    });

    it('should authenticate with a password (user and project by name in a domain) and read the server', async () => {
      // Prepare
      const { driver, log } = driverWith(passwordCredentials());

      // Act
      const description = await driver.describe(ref, call());

      // Assess
      expect(description).toMatchObject({ power: 'on', cloudState: 'ACTIVE', gone: false, volumes: [] });
      expect(log.keystone.map((e) => e.status)).toEqual([201]);
    });

    it('should authenticate with an application credential by id, and by name and user', async () => {
      // Prepare
      const credential = await identity.createApplicationCredential();
      const { admin } = cloud.keystone;
      const byId = driverWith({
        method: 'application_credential',
        credential: { id: credential.id },
        secret: credential.secret,
      });
      const byName = driverWith({
        method: 'application_credential',
        credential: { name: credential.name, user: { name: admin.username, domain: { name: admin.domain } } },
        secret: credential.secret,
      });

      // Act
      const [viaId, viaName] = await Promise.all([
        byId.driver.describe(ref, call()),
        byName.driver.describe(ref, call()),
      ]);

      // Assess
      expect(viaId.power).toBe('on');
      expect(viaName.power).toBe('on');
      expect(byId.log.keystone.map((e) => e.status)).toEqual([201]);
    });

    it('should reuse one token for many calls', async () => {
      // Prepare
      const { driver, log } = driverWith(await documentedCredential());

      // Act
      for (let i = 0; i < 5; i++) await driver.describe(ref, call());

      // Assess
      expect(log.keystone).toHaveLength(1);
      expect(driver.session.tokensIssued).toBe(1);
      // A describe is two Nova calls: the server and its volume attachments.
      expect(log.exchanges).toHaveLength(1 + 10);
    });

    it('should re-authenticate once when Keystone revoked the token in use', async () => {
      // Prepare: a credential without access rules. Keystone 22 cannot revoke a token that carries access
      // rules (DELETE /v3/auth/tokens validates it without the access-rules header and answers 404).
      const credential = await identity.createApplicationCredential();
      const { driver, log } = driverWith({
        method: 'application_credential',
        credential: { id: credential.id },
        secret: credential.secret,
      });
      await driver.describe(ref, call());
      const revoked = (await driver.session.authenticate(call())).id;
      await identity.revokeToken(revoked);
      const mark = log.mark();

      // Act
      const description = await driver.describe(ref, call());

      // Assess: Nova's keystonemiddleware refused the revoked token; one new token, then the two reads.
      expect(description.power).toBe('on');
      expect(statuses(log, mark)).toEqual([
        'GET /v2.1/servers/{id} 401',
        'POST /v3/auth/tokens 201',
        'GET /v2.1/servers/{id} 200',
        'GET /v2.1/servers/{id}/os-volume_attachments 200',
      ]);
      expect((await driver.session.authenticate(call())).id).not.toBe(revoked);
    });

    it('should fail with DriverAuthError, without retrying, when the secret is wrong', async () => {
      // Prepare
      const credential = await identity.createApplicationCredential();
      const { driver, log } = driverWith({
        method: 'application_credential',
        credential: { id: credential.id },
        secret: 'not-the-secret',
      });

      // Act
      const error = await driver.describe(ref, call()).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(DriverAuthError);
      expect(log.keystone.map((e) => e.status)).toEqual([401]);
    });

    it('should pass the pre-flight with the documented credential and use the Cinder endpoint Keystone filled in', async () => {
      // Prepare
      const { driver } = driverWith(await documentedCredential());

      // Act
      const preflight = await driver.preflight(call());
      const token = await driver.session.authenticate(call());

      // Assess
      expect(preflight).toEqual({ ok: true, problems: [] });
      const cinder = token.catalog.find((s) => s.type === 'volumev3');
      expect(cinder?.endpoints.map((e) => e.url)).toContain(cloud.urls.volume);
    });

    it('should name the problem when the catalog has no endpoint in the region', async () => {
      // Prepare
      const { driver } = driverWith(await documentedCredential(), { region: 'RegionThree' });

      // Act
      const preflight = await driver.preflight(call());

      // Assess
      expect(preflight.ok).toBe(false);
      expect(preflight.problems).toEqual([
        expect.stringMatching(
          /^compute: the catalog has no public endpoint of type compute in region RegionThree/,
        ),
        expect.stringMatching(
          /^block storage: the catalog has no public endpoint of type volumev3 or block-storage/,
        ),
      ]);
    });
    it('should pick endpoints by interface and region, and ask for a region when the catalog has several', async () => {
      // Prepare: a second region with its own compute endpoint (nothing listens there).
      await cloud.keystone.registerService('compute', 'http://127.0.0.1:9/v2.1', { region: 'RegionTwo' });
      const credentials = await documentedCredential();
      const internal = driverWith(credentials, { interface: 'internal' });
      const noRegion = driverWith(credentials, { region: undefined });

      // Act
      const viaInternal = await internal.driver.describe(ref, call());
      const inNone = await noRegion.driver.preflight(call());

      // Assess
      expect(viaInternal.power).toBe('on');
      expect(inNone.problems).toEqual([
        expect.stringMatching(/^compute: the catalog has 2 public endpoints of type compute; set the region/),
      ]);
    });
  });

  describe('power and volumes', () => {
    let driver: OpenStackDriver;
    let log: ExchangeLog;

    beforeAll(async () => {
      ({ driver, log } = driverWith(await documentedCredential()));
    });

    it('should fence the seed scenario under the documented credential: SHUTOFF, PV volume available, data volume untouched, ACTIVE again', async () => {
      // Prepare
      const { serverId, pv, data, node } = await seedServer('worker-seed');
      await driver.session.authenticate(call());
      const mark = log.mark();

      // Act: the driver calls of one fence, in the workflow's order.
      const ref = await driver.resolve(node, call());
      const confirmed = await driver.describe(ref, call());
      await driver.powerOff(ref, call());
      const off = await driver.waitForPower(ref, 'off', call());
      const offAtNova = await cloud.admin.server(serverId);
      await driver.detachVolume(ref, pv, call());
      await driver.waitForDetached(ref, [pv], call());
      const pvAfter = await cloud.admin.volume(pv);
      await driver.powerOn(ref, call());
      const on = await driver.waitForPower(ref, 'on', call());

      // Assess
      expect(confirmed).toMatchObject({ power: 'on', cloudState: 'ACTIVE', gone: false });
      expect(confirmed.volumes.map((v) => v.id).sort()).toEqual([pv, data].sort());
      expect(off).toMatchObject({ power: 'off', cloudState: 'SHUTOFF' });
      expect(offAtNova).toMatchObject({ status: 'SHUTOFF', taskState: null });
      expect(pvAfter).toEqual({ id: pv, name: `pvc-worker-seed`, status: 'available', attachedTo: [] });
      expect(await cloud.admin.volume(data)).toMatchObject({ status: 'in-use', attachedTo: [serverId] });
      expect(on).toMatchObject({ power: 'on', cloudState: 'ACTIVE' });
      expect(on.volumes.map((v) => v.id)).toEqual([data]);
      const calls = log.since(mark);
      console.info(
        `real Nova/Cinder, one fence's driver calls: ${calls.length} (${statuses(log, mark).join('; ')})`,
      );
      expect(calls.every((e) => e.status !== undefined && e.status < 300)).toBe(true);
      expect(calls.filter((e) => e.method === 'POST').map((e) => new URL(e.url).pathname)).toEqual([
        `/v2.1/servers/${serverId}/action`,
        `/v2.1/servers/${serverId}/action`,
      ]);
    });

    it('should take the 409 Nova answers to os-stop of a SHUTOFF server, and to os-start of an ACTIVE one, as done', async () => {
      // Prepare
      const { node, serverId } = await seedServer('worker-409');
      const ref = await driver.resolve(node, call());
      await driver.powerOff(ref, call());
      await driver.waitForPower(ref, 'off', call());
      const mark = log.mark();

      // Act
      await driver.powerOff(ref, call());
      await driver.powerOn(ref, call());
      await driver.waitForPower(ref, 'on', call());
      const afterOn = log.mark();
      await driver.powerOn(ref, call());

      // Assess
      const actions = (from: number, to?: number) =>
        log
          .since(from)
          .slice(0, to === undefined ? undefined : to - from)
          .filter((e) => e.url.endsWith(`/servers/${serverId}/action`))
          .map((e) => e.status);
      expect(actions(mark, afterOn)).toEqual([409, 202]);
      expect(actions(afterOn)).toEqual([409]);
      expect(await cloud.admin.server(serverId)).toMatchObject({ status: 'ACTIVE', taskState: null });
    });

    it('should only detach a volume from a server verified off: refused while ACTIVE, Nova never asked', async () => {
      // Prepare
      const { node, pv, serverId } = await seedServer('worker-busy');
      const ref = await driver.resolve(node, call());
      const mark = log.mark();

      // Act
      const error = await driver.detachVolume(ref, pv, call()).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(VolumeDetachRefusedError);
      expect((error as DriverError).retryable).toBe(false);
      expect((error as Error).message).toMatch(/is ACTIVE, not off/);
      expect(log.since(mark).filter((e) => e.method === 'DELETE')).toEqual([]);
      expect(await cloud.admin.volume(pv)).toMatchObject({ status: 'in-use', attachedTo: [serverId] });
    });

    it('should see a server deleted under it as missing, never off by itself; off only for a fence that saw it exist', async () => {
      // Prepare
      const { node, serverId, pv } = await seedServer('worker-deleted');
      const ref = await driver.resolve(node, call());
      await driver.describe(ref, call());
      await cloud.admin.deleteServer(serverId);

      // Act
      const described = await driver.describe(ref, call());
      const unproven = await driver.waitForPower(ref, 'off', call(3_000)).catch((e: unknown) => e);
      const off = await driver.waitForPower(ref, 'off', { ...call(), notFoundMeansOff: true });
      const detached = await driver.detachVolume(ref, pv, call()).then(
        () => 'returned',
        (e: unknown) => e,
      );
      const powerOn = await driver.powerOn(ref, call()).catch((e: unknown) => e);
      const resolveAgain = await driver.resolve(node, call()).catch((e: unknown) => e);

      // Assess: Nova answers 404 to the project (a wrong project looks the same): unknown, not off, unless the
      // caller saw this server exist; Nova detached its volumes, and Cinder shows them available.
      expect(described).toMatchObject({ power: 'unknown', missing: true, gone: false, volumes: [] });
      expect(unproven).toBeInstanceOf(DeadlineExceededError);
      // The wait ends for the caller that saw the server exist; the description stays the cloud's word (missing).
      expect(off).toMatchObject({ missing: true, cloudState: 'NOT_FOUND' });
      expect(detached).toBe('returned');
      expect(powerOn).toBeInstanceOf(InstanceNotFoundError);
      expect(resolveAgain).toBeInstanceOf(InstanceNotFoundError);
      expect(await cloud.admin.volume(pv)).toMatchObject({ status: 'available', attachedTo: [] });
    });

    it('should refuse an unknown server with InstanceNotFoundError (Nova 404)', async () => {
      // Prepare
      const mark = log.mark();

      // Act
      const error = await driver
        .resolve(
          { name: 'ghost', providerID: 'openstack:///00000000-0000-4000-8000-000000000000', internalIPs: [] },
          call(),
        )
        .catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(InstanceNotFoundError);
      expect(statuses(log, mark)).toEqual(['GET /v2.1/servers/{id} 404']);
    });

    it('should refuse a server found by name alone: look-up needs the InternalIP to agree (a name is no proof)', async () => {
      // Prepare: `worker-lookup-1` is also a prefix of another server's name (Nova filters by regex); test
      // servers boot without a network, so no address can agree (the contract fake covers the match).
      await cloud.createServer('worker-lookup-1');
      await cloud.createServer('worker-lookup-10');
      const { driver: lookingUp } = driverWith(await documentedCredential(), {
        lookupWithoutProviderID: true,
      });

      // Act
      const error = await lookingUp
        .resolve({ name: 'worker-lookup-1', internalIPs: ['10.0.9.1'] }, call())
        .catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(InstanceNotFoundError);
      expect((error as Error).message).toContain('worker-lookup-1');
    });

    it('should be stopped by access rules that do not cover a call: Nova refuses the detach', async () => {
      // Prepare
      const rules = (await documentedAccessRules()).filter((r) => r.method !== 'DELETE');
      const credential = await identity.createApplicationCredential({
        accessRules: rules,
        roles: ['member'],
      });
      const { driver: narrow, log: narrowLog } = driverWith({
        method: 'application_credential',
        credential: { id: credential.id },
        secret: credential.secret,
      });
      const { node, pv } = await seedServer('worker-rules');
      const ref = await narrow.resolve(node, call());
      await narrow.powerOff(ref, call());
      await narrow.waitForPower(ref, 'off', call());

      // Act
      const error = await narrow.detachVolume(ref, pv, call()).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(DriverAuthError);
      expect(narrowLog.exchanges.filter((e) => e.method === 'DELETE').map((e) => e.status)).toContain(401);
      expect(await cloud.admin.volume(pv)).toMatchObject({ status: 'in-use' });
    });
  });

  describe('the whole fence workflow', () => {
    it('should fence a dead OpenStack node from an Alertmanager webhook: SHUTOFF, PV volume available, Node deleted, ACTIVE again', async () => {
      // Prepare: worker-dead has been NotReady with a stale kubelet Lease for an hour and runs a StatefulSet
      // pod whose PV is the Cinder volume; two healthy workers keep the storm guard quiet.
      const { driver, log } = driverWith(await documentedCredential());
      const { serverId, pv, data, node } = await seedServer('worker-dead');
      const ok1 = await cloud.createServer('worker-ok-1');
      const ok2 = await cloud.createServer('worker-ok-2');
      const kube = new FakeKube();
      putNodes(
        kube,
        [
          { name: 'worker-dead', ready: false, providerID: node.providerID },
          { name: 'worker-ok-1', providerID: `openstack:///${ok1}` },
          { name: 'worker-ok-2', providerID: `openstack:///${ok2}` },
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

      // Act
      const response = await post('/v1/alerts', alertPayload([{ node: 'worker-dead' }]));
      const accepted = (await response.json()) as { results: Array<{ outcome: string }> };
      await drain(Number.POSITIVE_INFINITY);

      // Assess
      expect(response.status).toBe(202);
      expect(accepted.results[0]?.outcome).toBe('accepted');
      const journal = await service.journal('worker-dead');
      expect(journal?.status).toBe('succeeded');
      expect(journal?.phases.map((step) => step.phase)).toEqual(PHASES);
      expect(kube.nodes.has('worker-dead')).toBe(false);
      expect(await cloud.admin.server(serverId)).toMatchObject({
        status: 'ACTIVE',
        taskState: null,
        volumeIds: [data],
      });
      expect(await cloud.admin.volume(pv)).toMatchObject({ status: 'available', attachedTo: [] });
      const calls = log.since(mark);
      console.info(`real Nova/Cinder, one whole fence through the workflow: ${calls.length} calls`);
      expect(calls.every((e) => e.status !== undefined && e.status < 300)).toBe(true);
      expect(calls.filter((e) => e.method === 'DELETE')).toHaveLength(1);
      expect(calls.filter((e) => e.url.includes('/auth/tokens'))).toHaveLength(0);
    });
  });
});
