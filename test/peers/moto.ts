import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import { freePort, INSTALL_HINT, requirePeer, startProcess, tempDir, venvBin } from './process.js';

/** Static credentials; moto accepts any, and they are still used to sign requests properly. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Where an AWS client should send its requests. */
export interface AwsTarget {
  endpoint: string;
  region: string;
  credentials: AwsCredentials;
}

/** One request moto served, as its recorder wrote it down. */
export interface MotoCall {
  /** The query API action (`StopInstances`, …). */
  action: string;
  /** The instances it names (`InstanceId.N`). */
  instanceIds: string[];
  /** True for a permission check (`DryRun=true`), which changes nothing. */
  dryRun: boolean;
}

/** A running moto server (all AWS services on one port). */
export interface MotoServer extends AwsTarget {
  /** Forgets every resource in every service (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  /**
   * Starts moto's own request recorder afresh (`/moto-api/recorder/`): what moto served from now on, whoever
   * sent it, is what {@link MotoServer.recordedCalls} reads back.
   */
  startRecording(): Promise<void>;
  /** The requests moto recorded since {@link MotoServer.startRecording}, in order. */
  recordedCalls(): Promise<MotoCall[]>;
  stop(): Promise<void>;
  logs(): string;
}

/** One line of moto's recording file (moto/moto_api/_internal/recorder/models.py). */
interface RecordedRequest {
  body?: string | null;
  body_encoded?: boolean;
}

function recordedCall(entry: RecordedRequest): MotoCall {
  const text = entry.body_encoded
    ? Buffer.from(entry.body ?? '', 'base64').toString('utf8')
    : (entry.body ?? '');
  const form = new URLSearchParams(text);
  const instanceIds = [...form.entries()]
    .filter(([key]) => /^InstanceId\.\d+$/.test(key))
    .map(([, value]) => value);
  return { action: form.get('Action') ?? '', instanceIds, dryRun: form.get('DryRun') === 'true' };
}

/**
 * Starts `moto_server` from the test venv on a free loopback port.
 *
 * @example
 * const moto = await startMoto();
 * const ec2 = new EC2Client({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
 */
export async function startMoto(options: { region?: string } = {}): Promise<MotoServer> {
  const command = requirePeer(venvBin('moto_server'), INSTALL_HINT);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // The recorder writes to a file of its own, never into the working directory; it records only once asked.
  const dir = await tempDir('alertfence-moto');
  const peer = await startProcess({
    name: 'moto',
    command,
    args: ['-H', '127.0.0.1', '-p', String(port)],
    // Keep moto away from any real AWS configuration of the machine running the tests.
    env: {
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_PROFILE: undefined,
      MOTO_RECORDER_FILEPATH: join(dir.path, 'recording.jsonl'),
    },
    ready: `${endpoint}/moto-api/`,
  });
  const recorder = async (action: string, method = 'POST') => {
    const response = await fetch(`${endpoint}/moto-api/recorder/${action}`, { method });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto recorder ${action} answered ${response.status}: ${text}`);
    return text;
  };
  return {
    endpoint,
    region: options.region ?? 'us-east-1',
    credentials: { accessKeyId: 'AKIAALERTFENCETEST00', secretAccessKey: 'alertfence-test-secret' },
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`moto reset answered ${response.status}`);
    },
    async startRecording() {
      await recorder('reset-recording');
      await recorder('start-recording');
    },
    async recordedCalls() {
      const text = await recorder('download-recording', 'GET');
      return text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => recordedCall(JSON.parse(line) as RecordedRequest));
    },
    async stop() {
      await peer.stop();
      await dir.remove();
    },
    logs: () => peer.logs(),
  };
}

/** An AWS query API call answered with a non-2xx status. */
export class AwsQueryError extends Error {
  override name = 'AwsQueryError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    readonly body: string,
  ) {
    super(`AWS query API answered ${status}${code ? ` ${code}` : ''}: ${body.slice(0, 500)}`);
  }
}

/**
 * Calls an AWS query-protocol API (EC2, STS, IAM, …) with a SigV4-signed form POST and returns the XML
 * response body. Moto routes a request to a service by the credential scope of its signature, so the
 * signature matters even though moto does not verify it by default.
 *
 * @example
 * const xml = await awsQuery(moto, { service: 'ec2', version: '2016-11-15', action: 'DescribeInstances' });
 */
export async function awsQuery(
  target: AwsTarget,
  request: { service: string; version: string; action: string; params?: Record<string, string> },
): Promise<string> {
  const url = new URL(target.endpoint);
  const body = new URLSearchParams({
    Action: request.action,
    Version: request.version,
    ...request.params,
  }).toString();
  const headers = signV4({
    method: 'POST',
    host: url.host,
    path: url.pathname || '/',
    contentType: 'application/x-www-form-urlencoded; charset=utf-8',
    body,
    service: request.service,
    region: target.region,
    credentials: target.credentials,
    now: new Date(),
  });
  const response = await fetch(url, { method: 'POST', headers, body });
  const text = await response.text();
  if (!response.ok) throw new AwsQueryError(response.status, xmlText(text, 'Code')[0], text);
  return text;
}

/** The text content of every `<tag>…</tag>` element, in document order (no nesting-aware parsing). */
export function xmlText(xml: string, tag: string): string[] {
  const pattern = new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g');
  return [...xml.matchAll(pattern)].map((match) => match[1] ?? '');
}

// AWS Signature Version 4, as specified in the IAM user guide ("Create a signed AWS API request").
function signV4(input: {
  method: string;
  host: string;
  path: string;
  contentType: string;
  body: string;
  service: string;
  region: string;
  credentials: AwsCredentials;
  now: Date;
}): Record<string, string> {
  const amzDate = input.now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const signedHeaders = 'content-type;host;x-amz-date';
  const canonicalRequest = [
    input.method,
    input.path,
    '',
    `content-type:${input.contentType}`,
    `host:${input.host}`,
    `x-amz-date:${amzDate}`,
    '',
    signedHeaders,
    sha256Hex(input.body),
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${input.credentials.secretAccessKey}`, day);
  for (const part of [input.region, input.service, 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return {
    'content-type': input.contentType,
    'x-amz-date': amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
