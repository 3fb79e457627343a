import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AlertmanagerServer,
  checkAlertmanagerConfig,
  startAlertmanager,
} from '../peers/alertmanager.js';
import { type KeystoneServer, startKeystone } from '../peers/keystone.js';
import { awsQuery, type MotoServer, startMoto, xmlText } from '../peers/moto.js';
import { CLOUD_PYTHON_DIR, OPENSTACK_PYTHON } from '../peers/openstack.js';
import {
  freePort,
  INSTALL_HINT,
  PeerMissingError,
  PeerStartError,
  requirePeer,
  runCommand,
  startProcess,
  tempDir,
  waitUntil,
} from '../peers/process.js';
import { type PrometheusServer, promtool, startPrometheus } from '../peers/prometheus.js';

describe('startProcess', () => {
  it('should fail with the last log lines when the process exits before it is ready', async () => {
    // Prepare
    const script = "console.log('booting'); console.error('fatal: no config'); process.exit(3)";

    // Act
    const start = startProcess({
      name: 'broken',
      command: process.execPath,
      args: ['-e', script],
      ready: async () => false,
    });

    // Assess
    await expect(start).rejects.toThrow(PeerStartError);
    await expect(start).rejects.toThrow(/broken exited \(exit code 3\)[\s\S]*fatal: no config/);
  });

  it('should wait for the ready URL and kill the whole process group on stop', async () => {
    // Prepare
    const port = await freePort();
    const script = `
      const child = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
      console.log('grandchild ' + child.pid);
      require('node:http').createServer((_, res) => res.end('ok')).listen(${port}, '127.0.0.1');`;
    const peer = await startProcess({
      name: 'server',
      command: process.execPath,
      args: ['-e', script],
      ready: `http://127.0.0.1:${port}/`,
    });
    const answered = await fetch(`http://127.0.0.1:${port}/`).then((response) => response.text());
    const grandchild = Number(/grandchild (\d+)/.exec(peer.logs())?.[1]);

    // Act
    await peer.stop();

    // Assess
    expect(answered).toBe('ok');
    expect(peer.exitStatus()).toBe('signal SIGTERM');
    expect(grandchild).toBeGreaterThan(0);
    await waitUntil(() => !isRunning(grandchild), { timeoutMs: 5_000, what: `process ${grandchild} to end` });
  });
});

/** Whether `pid` is a live process (a zombie waiting for its reaper counts as ended). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('requirePeer', () => {
  it('should throw an error naming the install command when the binary is missing', () => {
    // Prepare
    const missing = '/nonexistent/alertfence/peer';

    // Act
    const act = () => requirePeer(missing, INSTALL_HINT);

    // Assess
    expect(act).toThrow(PeerMissingError);
    expect(act).toThrow(
      `${missing} is missing or not executable; install the test peers with: ${INSTALL_HINT}`,
    );
  });
});

describe('moto', () => {
  const ec2 = { service: 'ec2', version: '2016-11-15' };
  let moto: MotoServer;

  beforeAll(async () => {
    moto = await startMoto({ region: 'eu-west-1' });
  });

  afterAll(async () => {
    await moto?.stop();
  });

  it('should run, stop and describe an EC2 instance over the query API', async () => {
    // Prepare
    const run = await awsQuery(moto, {
      ...ec2,
      action: 'RunInstances',
      params: { ImageId: 'ami-12c6146b', MinCount: '1', MaxCount: '1', InstanceType: 't3.micro' },
    });
    const instanceId = xmlText(run, 'instanceId')[0] ?? '';

    // Act
    await awsQuery(moto, {
      ...ec2,
      action: 'StopInstances',
      params: { 'InstanceId.1': instanceId, Force: 'true' },
    });
    const described = await awsQuery(moto, {
      ...ec2,
      action: 'DescribeInstances',
      params: { 'InstanceId.1': instanceId },
    });

    // Assess
    expect(instanceId).toMatch(/^i-[0-9a-f]+$/);
    expect(xmlText(described, 'instanceId')).toEqual([instanceId]);
    expect(xmlText(described, 'name')).toContain('stopped');
    expect(xmlText(described, 'availabilityZone')[0]).toMatch(/^eu-west-1[a-z]$/);
  });

  it('should forget every instance on reset', async () => {
    // Prepare
    await awsQuery(moto, {
      ...ec2,
      action: 'RunInstances',
      params: { ImageId: 'ami-12c6146b', MinCount: '1', MaxCount: '1' },
    });

    // Act
    await moto.reset();

    // Assess
    const described = await awsQuery(moto, { ...ec2, action: 'DescribeInstances' });
    expect(xmlText(described, 'instanceId')).toEqual([]);
  });
});

describe('keystone', () => {
  let keystone: KeystoneServer;

  beforeAll(async () => {
    keystone = await startKeystone({
      tokenExpirationSeconds: 600,
      extraCatalog: [{ type: 'volumev3', name: 'cinderv3', url: 'http://127.0.0.1:1/v3/%(tenant_id)s' }],
    });
  });

  afterAll(async () => {
    await keystone?.stop();
  });

  it('should issue a password token with a catalog that contains a registered service', async () => {
    // Prepare
    await keystone.registerService('compute', 'http://127.0.0.1:2/v2.1');
    const { admin } = keystone;

    // Act
    const response = await fetch(`${keystone.authUrl}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: admin.username, domain: { name: admin.domain }, password: admin.password },
            },
          },
          scope: { project: { name: admin.project, domain: { name: admin.domain } } },
        },
      }),
    });
    const body = (await response.json()) as {
      token: {
        issued_at: string;
        expires_at: string;
        catalog: Array<{
          type: string;
          endpoints: Array<{ interface: string; region_id: string; url: string }>;
        }>;
      };
    };

    // Assess
    expect(response.status).toBe(201);
    expect(response.headers.get('x-subject-token')).toBeTruthy();
    const compute = body.token.catalog.find((service) => service.type === 'compute');
    expect(compute?.endpoints).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          interface: 'public',
          region_id: 'RegionOne',
          url: 'http://127.0.0.1:2/v2.1',
        }),
        expect.objectContaining({
          interface: 'internal',
          region_id: 'RegionOne',
          url: 'http://127.0.0.1:2/v2.1',
        }),
      ]),
    );
    expect(body.token.catalog.map((service) => service.type)).toEqual(
      expect.arrayContaining(['identity', 'compute', 'volumev3']),
    );
    const lifetime = Date.parse(body.token.expires_at) - Date.parse(body.token.issued_at);
    expect(lifetime).toBe(600_000);
  });

  it('should issue a token for an application credential', async () => {
    // Prepare
    const credential = await keystone.createApplicationCredential();

    // Act
    const response = await fetch(`${keystone.authUrl}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['application_credential'],
            application_credential: { id: credential.id, secret: credential.secret },
          },
        },
      }),
    });
    await response.body?.cancel();

    // Assess
    expect(response.status).toBe(201);
    expect(response.headers.get('x-subject-token')).toBeTruthy();
  });
});

interface Delivery {
  headers: IncomingHttpHeaders;
  body: { status: string; alerts: Array<{ status: string; labels: Record<string, string> }> };
}

describe("the test OpenStack's sqlite", () => {
  // Nova reads a row and then updates it in one transaction (instance.save()). On a busy cloud another
  // service commits in between, and sqlite refused the update at once: a server went to ERROR in CI with
  // "database is locked". The race, run on oslo.db's own engines, without and with what the services import.
  async function race(...flags: string[]): Promise<string> {
    const dir = await tempDir('alertfence-sqlite-race');
    try {
      const { stdout } = await runCommand(
        requirePeer(OPENSTACK_PYTHON, INSTALL_HINT),
        [join(CLOUD_PYTHON_DIR, 'snapshot_race.py'), join(dir.path, 'nova.sqlite'), ...flags],
        { timeoutMs: 60_000 },
      );
      return stdout.trim();
    } finally {
      await dir.remove();
    }
  }

  it("should refuse a read-then-write transaction whose snapshot another process's commit made stale (oslo.db's BEGIN)", async () => {
    // Act
    const outcome = await race();

    // Assess
    expect(outcome).toMatch(/^A: .*database is locked/);
  });

  it('should let it wait its turn with the BEGIN IMMEDIATE every service of the cloud imports', async () => {
    // Act
    const outcome = await race('--begin-immediate');

    // Assess: A took the write lock first, so B committed after it.
    expect(outcome).toBe('committed both, last scheduling');
  });
});

describe('alertmanager', () => {
  const deliveries: Delivery[] = [];
  let receiver: Server;
  let alertmanager: AlertmanagerServer;

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        deliveries.push({
          headers: request.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    alertmanager = await startAlertmanager({
      webhookUrl: `http://127.0.0.1:${port}/webhook`,
      bearerToken: 's3cr3t',
    });
  });

  afterAll(async () => {
    await alertmanager?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('should notify the webhook with a bearer token when an alert fires and when it resolves', async () => {
    // Prepare
    const labels = { alertname: 'KubeNodeNotReady', node: 'worker-1', severity: 'warning' };

    // Act
    await alertmanager.postAlerts([{ labels, annotations: { summary: 'Node is not ready.' } }]);
    const firing = await waitUntil(() => deliveries.find((delivery) => delivery.body.status === 'firing'), {
      timeoutMs: 30_000,
      what: 'a firing notification',
    });
    await alertmanager.resolve(labels);
    const resolved = await waitUntil(
      () => deliveries.find((delivery) => delivery.body.status === 'resolved'),
      {
        timeoutMs: 30_000,
        what: 'a resolved notification',
      },
    );

    // Assess
    expect(firing.headers.authorization).toBe('Bearer s3cr3t');
    expect(firing.body.alerts).toEqual([expect.objectContaining({ status: 'firing', labels })]);
    expect(resolved.headers.authorization).toBe('Bearer s3cr3t');
    expect(resolved.body.alerts).toEqual([expect.objectContaining({ status: 'resolved', labels })]);
  });

  it('should accept its generated configuration in amtool check-config', async () => {
    // Act
    const result = await checkAlertmanagerConfig(alertmanager.configFile);

    // Assess
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });
});

describe('prometheus', () => {
  const rules = `groups:
  - name: nodes
    rules:
      - alert: KubeNodeNotReady
        expr: kube_node_status_condition{job="kube-state-metrics",condition="Ready",status="true"} == 0
        for: 15m
        labels: { severity: warning }
`;
  let prometheus: PrometheusServer;

  beforeAll(async () => {
    prometheus = await startPrometheus({
      configYaml: 'global: { evaluation_interval: 1s }\nrule_files: [rules.yml]\n',
      files: { 'rules.yml': rules },
    });
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  it('should serve the rules it was started with', async () => {
    // Act
    const response = await fetch(`${prometheus.url}/api/v1/rules`);
    const body = (await response.json()) as { data: { groups: Array<{ rules: Array<{ name: string }> }> } };

    // Assess
    expect(response.status).toBe(200);
    expect(body.data.groups.flatMap((group) => group.rules.map((rule) => rule.name))).toEqual([
      'KubeNodeNotReady',
    ]);
  });

  it('should check rules with promtool', async () => {
    // Prepare
    const dir = await tempDir('alertfence-promtool');
    const file = join(dir.path, 'rules.yml');
    await writeFile(file, rules);

    // Act
    const result = await promtool(['check', 'rules', file]);
    await dir.remove();

    // Assess
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 1 rules found');
  });
});
