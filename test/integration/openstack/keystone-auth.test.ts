import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriverAuthError, type InstanceRef } from '../../../drivers/driver.js';
import {
  createOpenStackDriver,
  type KeystoneCredentials,
  type OpenStackDriverOptions,
} from '../../../drivers/openstack/index.js';
import { ExchangeLog, startTestCloud, type TestCloud } from './cloud.js';

/**
 * The driver's Keystone side against a real Keystone: both authentication methods, token reuse,
 * re-authentication after a revoked token, and endpoint discovery from the real catalog.
 */
describe('OpenStack driver against real Keystone', () => {
  let env: TestCloud;
  let ref: InstanceRef;
  const call = () => ({ deadline: Date.now() + 30_000 });

  function driverWith(credentials: KeystoneCredentials, extra: Partial<OpenStackDriverOptions> = {}) {
    const log = new ExchangeLog();
    const driver = createOpenStackDriver({
      authUrl: env.keystone.authUrl,
      credentials,
      region: env.keystone.region,
      onExchange: log.record,
      ...extra,
    });
    return { driver, log };
  }

  async function appCredential(): Promise<KeystoneCredentials> {
    const credential = await env.createApplicationCredential();
    return { method: 'application_credential', credential: { id: credential.id }, secret: credential.secret };
  }

  beforeAll(async () => {
    env = await startTestCloud();
    const id = env.cloud.addServer({
      name: 'worker-1',
      projectId: env.projectId,
      addresses: { private: ['10.0.0.11'] },
    });
    const boot = env.cloud.addVolume({ projectId: env.projectId, bootable: true });
    env.cloud.attachVolume(id, boot, '/dev/vda');
    ref = { provider: 'openstack', id, region: env.keystone.region };
    // A second region with its own compute endpoint, so endpoint selection has something to choose from.
    await env.keystone.registerService('compute', 'http://127.0.0.1:9/v2.1', { region: 'RegionTwo' });
  });

  afterAll(async () => {
    await env?.stop();
  });

  it('should authenticate with a password (user and project by name in a domain) and read the server', async () => {
    // Prepare
    const { admin } = env.keystone;
    const { driver, log } = driverWith({
      method: 'password',
      user: { name: admin.username, domain: { name: admin.domain } },
      password: admin.password,
      project: { name: admin.project, domain: { name: admin.domain } },
    });

    // Act
    const description = await driver.describe(ref, call());

    // Assess
    expect(description).toMatchObject({ power: 'on', cloudState: 'ACTIVE', volumes: [{ root: true }] });
    expect(log.keystone.map((e) => e.status)).toEqual([201]);
  });

  it('should authenticate with an application credential by id', async () => {
    // Prepare
    const { driver, log } = driverWith(await appCredential());

    // Act
    const description = await driver.describe(ref, call());

    // Assess
    expect(description.power).toBe('on');
    expect(log.keystone).toHaveLength(1);
  });

  it('should authenticate with an application credential by name and user', async () => {
    // Prepare
    const credential = await env.createApplicationCredential();
    const { admin } = env.keystone;
    const { driver } = driverWith({
      method: 'application_credential',
      credential: { name: credential.name, user: { name: admin.username, domain: { name: admin.domain } } },
      secret: credential.secret,
    });

    // Act
    const description = await driver.describe(ref, call());

    // Assess
    expect(description.power).toBe('on');
  });

  it('should reuse one token for many calls', async () => {
    // Prepare
    const { driver, log } = driverWith(await appCredential(), { lookupWithoutProviderID: true });
    const validationsBefore = env.cloud.validations;

    // Act
    for (let i = 0; i < 5; i++) await driver.describe(ref, call());
    await driver.resolve({ name: 'worker-1', internalIPs: ['10.0.0.11'] }, call());

    // Assess
    expect(log.keystone).toHaveLength(1);
    expect(driver.session.tokensIssued).toBe(1);
    // Every Nova call was checked against Keystone with that one token: 5 × 2 describes + 1 look-up (by name;
    // the server's addresses must hold the node's InternalIP too).
    expect(log.exchanges).toHaveLength(1 + 10 + 1);
    expect(env.cloud.validations - validationsBefore).toBe(11);
  });

  it('should re-authenticate once when Keystone revoked the token in use', async () => {
    // Prepare
    const { driver, log } = driverWith(await appCredential());
    await driver.describe(ref, call());
    const revoked = (await driver.session.authenticate(call())).id;
    await env.revokeToken(revoked);
    const mark = log.mark();

    // Act
    const description = await driver.describe(ref, call());

    // Assess
    expect(description.power).toBe('on');
    expect(log.since(mark).map((e) => `${e.method} ${e.status}`)).toEqual([
      'GET 401',
      'POST 201',
      'GET 200',
      'GET 200',
    ]);
    expect((await driver.session.authenticate(call())).id).not.toBe(revoked);
  });

  it('should fail with DriverAuthError, without retrying, when the secret is wrong', async () => {
    // Prepare
    const credential = await env.createApplicationCredential();
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

  it('should pass the pre-flight and pick endpoints by interface and region from the real catalog', async () => {
    // Prepare
    const credentials = await appCredential();
    const publicDriver = driverWith(credentials);
    const internalDriver = driverWith(credentials, { interface: 'internal' });

    // Act
    const preflight = await publicDriver.driver.preflight(call());
    const viaInternal = await internalDriver.driver.describe(ref, call());

    // Assess
    expect(preflight).toEqual({ ok: true, problems: [] });
    expect(viaInternal.power).toBe('on');
    expect(env.cloud.requests.at(-1)?.path).toBe(`/v2.1/servers/${ref.id}/os-volume_attachments`);
  });

  it('should name the problem when the catalog cannot answer for the region', async () => {
    // Prepare
    const credentials = await appCredential();
    const unknownRegion = driverWith(credentials, { region: 'RegionThree' });
    const noRegion = driverWith(credentials, { region: undefined });

    // Act
    const [inThree, inNone] = await Promise.all([
      unknownRegion.driver.preflight(call()),
      noRegion.driver.preflight(call()),
    ]);

    // Assess
    expect(inThree.ok).toBe(false);
    expect(inThree.problems).toEqual([
      expect.stringMatching(
        /^compute: the catalog has no public endpoint of type compute in region RegionThree/,
      ),
      expect.stringMatching(
        /^block storage: the catalog has no public endpoint of type volumev3 or block-storage/,
      ),
    ]);
    expect(inNone.problems).toEqual([
      expect.stringMatching(/^compute: the catalog has 2 public endpoints of type compute; set the region/),
    ]);
  });

  it('should see the Cinder endpoint with the project id Keystone substituted', async () => {
    // Prepare
    const { driver } = driverWith(await appCredential());

    // Act
    const token = await driver.session.authenticate(call());

    // Assess
    const cinder = token.catalog.find((s) => s.type === 'volumev3');
    expect(cinder?.endpoints.map((e) => e.url)).toContain(
      env.cloud.volumeUrlTemplate.replace('$(project_id)s', env.projectId),
    );
  });
});
