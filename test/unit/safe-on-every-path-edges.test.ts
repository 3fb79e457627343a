/**
 * The scenarios of "Safe on every path" that live at the edges: the cloud drivers' view of an instance, the
 * Kubernetes client's deadlines and kubeconfig, and the public surface of the function. Each test is named after
 * its scenario and failed before its fix.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { InstanceNotFoundError, type PowerDriver } from '../../drivers/driver.js';
import { createOpenStackDriver } from '../../drivers/openstack/index.js';
import { readinessCheck } from '../../functions/http/readiness.js';
import { createKubeClient } from '../../functions/kube/client.js';
import { KubeconfigError, parseKubeconfig } from '../../functions/kube/kubeconfig.js';
import { KubeDeadlineError, KubeUnavailableError } from '../../functions/kube/port.js';
import { FakeKube } from '../fakes/kube.js';
import { createWorld, TOKEN } from '../support/world.js';
import { awsError, setup as ec2Setup, INSTANCE_ID, instanceOutput } from './aws-ec2/helpers.js';
import { AUTH_URL, RoutedFetch, routeKeystone, VirtualClock } from './openstack/helpers.js';

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('Safe on every path: "not found" reads as off, at the driver', () => {
  it('"not found" reads as off: EC2 resolve should read the instance and refuse one the account cannot see', async () => {
    // Prepare
    const { ec2, driver, deadlineIn } = ec2Setup({ region: 'eu-west-1' });
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));

    // Act
    const error = await failure(
      driver.resolve(
        { name: 'worker-1', providerID: `aws:///eu-west-1a/${INSTANCE_ID}`, internalIPs: [] },
        deadlineIn(30_000),
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
    expect(error.message).toMatch(/not found|not visible/);
  });

  it('"not found" reads as off: EC2 describe should not call an instance it cannot find "off"', async () => {
    // Prepare
    const { ec2, driver, deadlineIn } = ec2Setup({ region: 'eu-west-1' });
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));

    // Act
    const description = await driver.describe(
      { provider: 'aws', id: INSTANCE_ID, region: 'eu-west-1' },
      deadlineIn(30_000),
    );

    // Assess
    expect(description.power).not.toBe('off');
  });

  it('"not found" reads as off: EC2 resolve should refuse an instance without the cluster tag when a cluster is named', async () => {
    // Prepare: the instance exists but belongs to another cluster (or is not a cluster machine at all).
    const { ec2, driver, deadlineIn } = ec2Setup({ region: 'eu-west-1', clusterName: 'prod' });
    ec2.on(DescribeInstancesCommand).resolves(instanceOutput({ state: 'running' }));

    // Act
    const error = await failure(
      driver.resolve(
        { name: 'worker-1', providerID: `aws:///eu-west-1a/${INSTANCE_ID}`, internalIPs: [] },
        deadlineIn(30_000),
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
    expect(error.message).toContain('kubernetes.io/cluster/prod');
  });
});

function openStackWithServers(servers: unknown[], options: { lookupWithoutProviderID?: boolean } = {}) {
  const routed = new RoutedFetch();
  const clock = new VirtualClock();
  routeKeystone(routed, clock);
  routed.on('GET', /\/servers\/detail$/, (call) => {
    const query = new URL(call.url).searchParams;
    const byName = query.get('name');
    const ip = query.get('ip');
    const matching = servers.filter((entry) => {
      const candidate = entry as { name: string; addresses: Record<string, Array<{ addr: string }>> };
      if (byName) return new RegExp(byName).test(candidate.name);
      return ip
        ? Object.values(candidate.addresses)
            .flat()
            .some((a) => new RegExp(ip).test(a.addr))
        : true;
    });
    return { status: 200, json: { servers: matching } };
  });
  const driver = createOpenStackDriver({
    authUrl: AUTH_URL,
    credentials: { method: 'application_credential', credential: { id: 'ac1' }, secret: 'x' },
    region: 'RegionOne',
    fetch: routed.fetch,
    now: clock.now,
    sleep: clock.sleep,
    ...options,
  });
  return { driver, routed, clock };
}

const SERVER_ID = '9f6c1f5e-4d1e-4a53-9d58-5a0b7a8e1c11';

const server = (name: string, ip: string) => ({
  id: SERVER_ID,
  name,
  status: 'ACTIVE',
  'OS-EXT-STS:task_state': null,
  'OS-EXT-STS:vm_state': 'active',
  'OS-EXT-STS:power_state': 1,
  image: '',
  addresses: { net: [{ addr: ip, version: 4 }] },
});

describe('Safe on every path: OpenStack lookup by IP alone', () => {
  it('OpenStack lookup by IP alone: should refuse a server that matches the node by IP but not by name', async () => {
    // Prepare: the node's address now belongs to another machine (IPs get reused).
    const { driver, clock } = openStackWithServers([server('batch-17', '10.0.0.5')], {
      lookupWithoutProviderID: true,
    });

    // Act
    const error = await failure(
      driver.resolve({ name: 'worker-1', internalIPs: ['10.0.0.5'] }, { deadline: clock.now() + 30_000 }),
    );

    // Assess
    expect(error).toBeInstanceOf(InstanceNotFoundError);
  });

  it('OpenStack lookup by IP alone: should leave nodes without a providerID alone by default', () => {
    // Prepare
    const { driver } = openStackWithServers([server('worker-1', '10.0.0.5')]);

    // Act
    const handled = driver.handles({ name: 'worker-1', internalIPs: ['10.0.0.5'] });

    // Assess
    expect(handled).toBe(false);
  });
});

let stalled: Server | undefined;
afterEach(() => {
  stalled?.closeAllConnections();
  stalled?.close();
  stalled = undefined;
});

describe('Safe on every path: the smaller ones', () => {
  it('step deadlines reach the Kubernetes calls: should give up a call at the step deadline, not the client default', async () => {
    // Prepare: an API server that never answers.
    stalled = createServer(() => {});
    await new Promise<void>((resolve) => stalled?.listen(0, '127.0.0.1', resolve));
    const { port } = stalled.address() as AddressInfo;
    const kube = createKubeClient({ server: `http://127.0.0.1:${port}`, tls: {}, source: 'test' });
    const started = Date.now();

    // Act
    const error = await failure(kube.getNode('worker-1', { deadline: started + 300 }));

    // Assess: the step's deadline, not the 15 s default: unavailable (retried), and known as a deadline.
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error).toBeInstanceOf(KubeDeadlineError);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('a YAML error in an inline kubeconfig should never quote the offending line (it can hold a token)', () => {
    // Prepare
    const text = [
      'apiVersion: v1',
      'users: [{ name: u, user: { token: sekrit-token-value } }',
      'kind: Config',
    ].join('\n');

    // Act
    let error: Error | undefined;
    try {
      parseKubeconfig(text, { baseDir: '/', source: 'ALERTFENCE_KUBECONFIG_INLINE' });
    } catch (caught) {
      error = caught as Error;
    }

    // Assess
    expect(error).toBeInstanceOf(KubeconfigError);
    expect(error?.message).not.toContain('sekrit');
  });

  it('insecure-skip-tls-verify for Kubernetes should be refused unless explicitly allowed', () => {
    // Prepare
    const text = [
      'apiVersion: v1',
      'kind: Config',
      "clusters: [{ name: c, cluster: { server: 'https://10.0.0.1:6443', insecure-skip-tls-verify: true } }]",
      'users: [{ name: u, user: { token: t } }]',
      'contexts: [{ name: x, context: { cluster: c, user: u } }]',
      'current-context: x',
    ].join('\n');

    // Act
    const parse = () => parseKubeconfig(text, { baseDir: '/', source: 'test' });

    // Assess
    expect(parse).toThrow(/insecure-skip-tls-verify/);
  });
});

describe('Safe on every path: exposure of a public Function URL', () => {
  it('exposure: /readyz without a token should answer only ready or not ready', async () => {
    // Prepare: the API server is away; its address and the error are what an outsider must not see.
    const world = createWorld();
    world.kube.unavailable = true;

    // Act
    const anonymous = await world.app.request('/readyz');
    const operator = await world.app.request('/readyz', { headers: { authorization: `Bearer ${TOKEN}` } });

    // Assess
    expect(anonymous.status).toBe(503);
    expect(await anonymous.text()).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    expect(operator.status).toBe(503);
    expect(await operator.text()).toMatch(/ECONNREFUSED/);
  });

  it('exposure: readiness checks should be single-flight and a failure cached briefly', async () => {
    // Prepare: a pre-flight that fails, slowly.
    const kube = new FakeKube();
    let preflights = 0;
    const driver = {
      name: 'aws',
      preflight: async () => {
        preflights += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { ok: false, problems: ['not authorised for ec2:StopInstances'] };
      },
    } as unknown as PowerDriver;
    const check = readinessCheck(kube, [driver]);

    // Act: a burst of probes, then another right after.
    await Promise.allSettled(Array.from({ length: 10 }, () => check()));
    await check().catch(() => {});

    // Assess
    expect(preflights).toBe(1);
  });
});
