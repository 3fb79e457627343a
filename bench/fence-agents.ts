/**
 * alertfence's power-off side by side with the ClusterLabs fence agents that kube-fencing and medik8s FAR
 * run (Debian `fence-agents` 4.12.1): `fence_openstack` against the same real Nova (test/peers/openstack.ts)
 * as alertfence's OpenStack driver, and `fence_aws` against the same moto as alertfence's EC2 driver.
 *
 * Per power-off: the time from "off" requested to verified off, and the API requests it took (Keystone
 * included). Each agent runs as kube-fencing runs it, one process per fence, so its numbers include a cold
 * start and a fresh token; alertfence's are given cold (a new driver: token first) and warm (token cached, as
 * in a running function). The agents' requests are counted by an HTTP forward proxy on loopback that they
 * are pointed at with `HTTP_PROXY`; it also answers fence_aws's EC2 metadata requests itself, so nothing leaves
 * the machine (fence_aws 4.12.1 asks the metadata service which instance it runs on before every stop).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EC2Client } from '@aws-sdk/client-ec2';
import { createEc2Driver } from '../drivers/aws-ec2/index.js';
import type { InstanceRef, PowerDriver } from '../drivers/driver.js';
import { createOpenStackDriver, type HttpExchange } from '../drivers/openstack/index.js';
import { startCloudRecorder } from '../test/e2e/cloud-recorder.js';
import { runInstance } from '../test/integration/aws-ec2/moto-ec2.js';
import { startMoto } from '../test/peers/moto.js';
import { startOpenStack } from '../test/peers/openstack.js';
import { peerCacheDir, requirePeer, runCommand } from '../test/peers/process.js';
import { type Stats, stats } from './stats.js';

const FENCE_OPENSTACK = '/usr/sbin/fence_openstack';
const FENCE_AWS = '/usr/sbin/fence_aws';
const INSTALL = 'bash test/peers/install.sh';
/** The EC2 metadata service's address: answered by the proxy, never reached. */
const METADATA_HOST = '169.254.169.254';

/** One power-off as measured. */
interface Sample {
  /** "off" requested → verified off: the agent's process from start to exit, or the driver's two calls. */
  ms: number;
  /** First request → last request: the agent's time on the wire, without its interpreter's start. */
  wireMs: number;
  requests: number;
  /** Requests by kind: `keystone`, `nova`, `ec2 <Action>`, `metadata`. */
  byKind: Record<string, number>;
}

/** The numbers of one contender. */
export interface ContenderResult {
  what: string;
  offMs: Stats;
  wireMs: Stats;
  requestsPerPowerOff: number;
  requestsByKind: Record<string, number>;
}

/** A recorded request of a proxied agent. */
interface ProxiedRequest {
  method: string;
  url: string;
  /** The EC2 query action of a form-encoded body, if any. */
  action?: string;
  status: number;
  start: number;
  end: number;
}

/**
 * A forward proxy on loopback that records every request. It forwards only to loopback, and answers the
 * EC2 metadata service's token and instance-id requests itself with `selfInstanceId`.
 */
async function startCountingProxy(selfInstanceId = '') {
  const requests: ProxiedRequest[] = [];
  const readBody = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const server = createServer((request, response) => {
    void (async () => {
      const start = performance.now();
      const url = new URL(request.url ?? '/');
      const body = await readBody(request);
      const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? undefined;
      const done = (status: number) =>
        requests.push({
          method: request.method ?? 'GET',
          url: url.href,
          ...(action ? { action } : {}),
          status,
          start,
          end: performance.now(),
        });
      if (url.hostname === METADATA_HOST) {
        const answer = url.pathname === '/latest/api/token' ? 'alertfence-bench-token' : selfInstanceId;
        done(200);
        response.writeHead(200, { 'content-type': 'text/plain' }).end(answer);
        return;
      }
      if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
        done(502);
        response.writeHead(502).end(`the bench proxy forwards to loopback only, not ${url.hostname}`);
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers)) {
        if (
          value === undefined ||
          ['host', 'content-length', 'connection', 'proxy-connection'].includes(name)
        )
          continue;
        headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      try {
        const upstream = await fetch(url, {
          method: request.method ?? 'GET',
          headers,
          ...(body.length > 0 ? { body } : {}),
          redirect: 'manual',
        });
        const payload = Buffer.from(await upstream.arrayBuffer());
        done(upstream.status);
        const out: Record<string, string> = {};
        upstream.headers.forEach((value, name) => {
          if (!['content-encoding', 'transfer-encoding', 'connection', 'content-length'].includes(name))
            out[name] = value;
        });
        response
          .writeHead(upstream.status, { ...out, 'content-length': String(payload.length) })
          .end(payload);
      } catch (error) {
        done(502);
        response.writeHead(502).end(String(error));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function summarizeSamples(what: string, samples: readonly Sample[]): ContenderResult {
  const kinds: Record<string, number> = {};
  for (const sample of samples) {
    for (const [kind, count] of Object.entries(sample.byKind)) kinds[kind] = (kinds[kind] ?? 0) + count;
  }
  const perRun = (n: number) => Math.round((n / Math.max(1, samples.length)) * 10) / 10;
  return {
    what,
    offMs: stats(samples.map((s) => s.ms)),
    wireMs: stats(samples.map((s) => s.wireMs)),
    requestsPerPowerOff: perRun(samples.reduce((sum, s) => sum + s.requests, 0)),
    requestsByKind: Object.fromEntries(Object.entries(kinds).map(([kind, n]) => [kind, perRun(n)])),
  };
}

function countKinds(kinds: readonly string[]): Record<string, number> {
  const byKind: Record<string, number> = {};
  for (const kind of kinds) byKind[kind] = (byKind[kind] ?? 0) + 1;
  return byKind;
}

/** Runs an agent once and measures it against the proxy's record. */
async function runAgent(
  command: string,
  args: readonly string[],
  proxy: Awaited<ReturnType<typeof startCountingProxy>>,
  env: Record<string, string | undefined>,
  kindOf: (request: ProxiedRequest) => string,
): Promise<Sample & { stdout: string }> {
  const mark = proxy.requests.length;
  const started = performance.now();
  const result = await runCommand(command, args, {
    env: { HTTP_PROXY: proxy.url, http_proxy: proxy.url, NO_PROXY: '', no_proxy: '', ...env },
    timeoutMs: 120_000,
    check: false,
  });
  const ms = performance.now() - started;
  const seen = proxy.requests.slice(mark);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.filter((a) => !a.startsWith('--password') && !a.startsWith('--secret')).join(' ')} exited ${result.code}: ${result.stdout}\n${result.stderr}`.slice(
        0,
        3000,
      ),
    );
  }
  return {
    ms,
    wireMs:
      seen.length === 0 ? 0 : Math.max(...seen.map((r) => r.end)) - Math.min(...seen.map((r) => r.start)),
    requests: seen.length,
    byKind: countKinds(seen.map(kindOf)),
    stdout: result.stdout.trim(),
  };
}

/** alertfence's driver: powerOff then waitForPower('off'), as the PowerOff and VerifyOff phases call them. */
async function driverPowerOff(
  driver: PowerDriver,
  ref: InstanceRef,
  calls: () => Array<{ start: number; end: number; kind: string }>,
): Promise<Sample> {
  const mark = calls().length;
  const started = performance.now();
  const deadline = Date.now() + 60_000;
  await driver.powerOff(ref, { deadline });
  const off = await driver.waitForPower(ref, 'off', { deadline });
  const ms = performance.now() - started;
  if (off.power !== 'off') throw new Error(`the driver reported ${off.cloudState}, not off`);
  const seen = calls().slice(mark);
  return {
    ms,
    wireMs:
      seen.length === 0 ? 0 : Math.max(...seen.map((c) => c.end)) - Math.min(...seen.map((c) => c.start)),
    requests: seen.length,
    byKind: countKinds(seen.map((c) => c.kind)),
  };
}

/** fence_openstack and the OpenStack driver against one real Keystone and Nova. */
export async function benchOpenStackAgent(runs: number) {
  requirePeer(FENCE_OPENSTACK, INSTALL);
  const cloud = await startOpenStack();
  const proxy = await startCountingProxy();
  try {
    const { admin: user } = cloud.keystone;
    const kindOf = (r: { url: string }) =>
      r.url.startsWith(cloud.authUrl)
        ? 'keystone'
        : r.url.startsWith(cloud.urls.compute.replace(/\/v2\.1$/, ''))
          ? 'nova'
          : 'other';
    const agent: Sample[] = [];
    const cold: Sample[] = [];
    const warm: Sample[] = [];
    const exchanges: Array<{ start: number; end: number; kind: string }> = [];
    const record = (exchange: HttpExchange) => {
      const end = performance.now();
      exchanges.push({ start: end - exchange.durationMs, end, kind: kindOf(exchange) });
    };
    const credentials = {
      method: 'password' as const,
      user: { name: user.username, domain: { name: user.domain } },
      password: user.password,
      project: { name: user.project, domain: { name: user.domain } },
    };
    const warmDriver = createOpenStackDriver({
      authUrl: cloud.authUrl,
      credentials,
      region: cloud.region,
      onExchange: record,
    });
    const serverId = await cloud.createServer('bench-target');
    const ref: InstanceRef = { provider: 'openstack', id: serverId, region: cloud.region };
    await warmDriver.session.authenticate({ deadline: Date.now() + 30_000 });
    const powerOn = async () => {
      await cloud.admin.serverAction(serverId, { 'os-start': null });
      await cloud.admin.waitForServer(
        serverId,
        (s) => s.status === 'ACTIVE' && s.taskState === null,
        'ACTIVE',
      );
    };
    for (let i = 0; i < runs; i++) {
      const sample = await runAgent(
        FENCE_OPENSTACK,
        [
          `--auth-url=${cloud.authUrl}/v3`,
          `--username=${user.username}`,
          `--password=${user.password}`,
          `--project-name=${user.project}`,
          `--user-domain-name=${user.domain}`,
          `--project-domain-name=${user.domain}`,
          `--plug=${serverId}`,
          '--action=off',
        ],
        proxy,
        {},
        kindOf,
      );
      const server = await cloud.admin.server(serverId);
      if (server?.status !== 'SHUTOFF') throw new Error(`fence_openstack left the server ${server?.status}`);
      agent.push(sample);
      await powerOn();
      const coldDriver = createOpenStackDriver({
        authUrl: cloud.authUrl,
        credentials,
        region: cloud.region,
        onExchange: record,
      });
      cold.push(await driverPowerOff(coldDriver, ref, () => exchanges));
      await powerOn();
      warm.push(await driverPowerOff(warmDriver, ref, () => exchanges));
      await powerOn();
    }
    return {
      cloud: 'real Keystone 22, Nova 26.2.2 (fake virt driver: SHUTOFF ~0.4 s after os-stop)',
      agentCommand: `fence_openstack --auth-url=… --username=… --password=… --project-name=… --user-domain-name=… --project-domain-name=… --plug=<server> --action=off`,
      agent: summarizeSamples('fence_openstack 4.12.1 (one process per fence)', agent),
      alertfenceCold: summarizeSamples('alertfence OpenStack driver, new driver (token first)', cold),
      alertfenceWarm: summarizeSamples('alertfence OpenStack driver, token cached', warm),
    };
  } finally {
    await proxy.stop();
    await cloud.stop();
  }
}

/** fence_aws (with a boto3 that honours AWS_ENDPOINT_URL_EC2) and the EC2 driver against one moto. */
export async function benchAwsAgent(runs: number) {
  requirePeer(FENCE_AWS, INSTALL);
  // install.sh's venv over the system packages, with a boto3 that reads AWS_ENDPOINT_URL_EC2.
  const python = requirePeer(join(peerCacheDir(), 'fence-venv', 'bin', 'python'), INSTALL);
  const moto = await startMoto();
  const recorder = await startCloudRecorder(moto.endpoint);
  const client = new EC2Client({
    endpoint: recorder.url,
    region: moto.region,
    credentials: moto.credentials,
  });
  const motoClient = new EC2Client({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.credentials,
  });
  try {
    // The instance the agent runs on: fence_aws fences only while its own instance is running.
    const self = await runInstance(motoClient, [{ Key: 'Name', Value: 'fencing-node' }]);
    const target = await runInstance(motoClient, [{ Key: 'Name', Value: 'worker-1' }]);
    const proxy = await startCountingProxy(self.InstanceId ?? '');
    const targetId = target.InstanceId ?? '';
    const ref: InstanceRef = { provider: 'aws', id: targetId, region: moto.region };
    const kindOf = (r: ProxiedRequest) =>
      r.url.includes(METADATA_HOST) ? 'metadata' : `ec2 ${r.action ?? '?'}`;
    const driver = createEc2Driver({ clients: { ec2: client }, region: moto.region, pinRegion: true });
    const calls = () =>
      recorder.calls.map((c) => ({
        start: c.start - performance.timeOrigin,
        end: c.end - performance.timeOrigin,
        kind: `ec2 ${c.action}`,
      }));
    const start = async () => {
      const { StartInstancesCommand } = await import('@aws-sdk/client-ec2');
      await motoClient.send(new StartInstancesCommand({ InstanceIds: [targetId] }));
    };
    const agent: Sample[] = [];
    const alertfence: Sample[] = [];
    try {
      for (let i = 0; i < runs; i++) {
        agent.push(
          await runAgent(
            python,
            [
              FENCE_AWS,
              `--region=${moto.region}`,
              `--access-key=${moto.credentials.accessKeyId}`,
              `--secret-key=${moto.credentials.secretAccessKey}`,
              `--plug=${targetId}`,
              '--action=off',
            ],
            proxy,
            {
              AWS_ENDPOINT_URL_EC2: moto.endpoint,
              AWS_CONFIG_FILE: '/dev/null',
              AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
              AWS_PROFILE: undefined,
            },
            kindOf,
          ),
        );
        await start();
        alertfence.push(await driverPowerOff(driver, ref, calls));
        await start();
      }
    } finally {
      await proxy.stop();
    }
    return {
      cloud: 'moto 5.2.5 (state changes are immediate)',
      agentCommand: `AWS_ENDPOINT_URL_EC2=<moto> ${python} ${FENCE_AWS} --region=… --access-key=… --secret-key=… --plug=<instance> --action=off`,
      agent: summarizeSamples('fence_aws 4.12.1 (one process per fence, boto3 1.43 in a venv)', agent),
      alertfence: summarizeSamples('alertfence EC2 driver (client ready)', alertfence),
    };
  } finally {
    client.destroy();
    motoClient.destroy();
    await recorder.stop();
    await moto.stop();
  }
}

/** Both comparisons; an agent that cannot run is reported with where it stopped, not dropped. */
export async function benchFenceAgents(runs = 5) {
  const attempt = async <T>(run: () => Promise<T>): Promise<T | { error: string }> => {
    try {
      return await run();
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  };
  return {
    runs,
    openstack: await attempt(() => benchOpenStackAgent(runs)),
    aws: await attempt(() => benchAwsAgent(runs)),
  };
}

/** The side-by-side figures as a table for a person. */
export function formatFenceAgents(result: Awaited<ReturnType<typeof benchFenceAgents>>): string {
  const lines = [`fence agents side by side (${result.runs} power-offs each): off requested → verified off`];
  const row = (c: ContenderResult) =>
    `  ${c.what}: median ${c.offMs.medianMs} ms (min ${c.offMs.minMs}, max ${c.offMs.maxMs}); on the wire ${c.wireMs.medianMs} ms; ${c.requestsPerPowerOff} requests (${Object.entries(
      c.requestsByKind,
    )
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')})`;
  for (const [name, side] of [
    ['OpenStack', result.openstack],
    ['AWS', result.aws],
  ] as const) {
    if ('error' in side) {
      lines.push(`${name}: could not run: ${side.error}`);
      continue;
    }
    lines.push(`${name} (${side.cloud}):`);
    for (const contender of Object.values(side).filter(
      (v): v is ContenderResult => typeof v === 'object' && v !== null && 'offMs' in v,
    )) {
      lines.push(row(contender));
    }
  }
  return lines.join('\n');
}
