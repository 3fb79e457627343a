import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { type CertificateFiles, createCertificateAuthority, issueCertificate } from './certs.js';
import {
  freePort,
  INSTALL_HINT,
  type PeerProcess,
  requirePeer,
  runCommand,
  startProcess,
  type TempDir,
  tempDir,
  venvBin,
  waitUntil,
} from './process.js';

/** A system of the emulator; its `id` is the Redfish `Id` (sushy's fake driver uses the UUID). */
export interface SushySystem {
  id: string;
  name: string;
}

export interface SushyOptions {
  /** Systems by name, all powered `On` unless said otherwise. Default one system, `node-1`. */
  systems?: Array<{ name: string; powerState?: 'On' | 'Off' }>;
  /**
   * Replace the fake driver's random 1–11 s before a power change lands with a fixed delay, so a benchmark
   * compares clients and not dice. The config file is Python that sushy executes, so it sets
   * `random.randint` there; the tests leave the dice alone.
   */
  fixedDelaySeconds?: number;
}

/** A running `sushy-emulator --fake`, over TLS with its own test CA, behind HTTP basic auth. */
export interface SushyEmulator {
  /** `https://127.0.0.1:<port>`. */
  address: string;
  port: number;
  ca: CertificateFiles;
  /** The CA alone, to trust the emulator (and a fault proxy issued from the same CA). */
  caPem: string;
  account: { username: string; password: string };
  /** A directory with `username` and `password` files: what `ALERTFENCE_REDFISH_CREDENTIALS` names. */
  credentialsDir: string;
  systems: SushySystem[];
  /** The emulator's own state directory and certificates; removed by `stop()`. */
  dir: TempDir;
  /** Issues another server certificate from the emulator's CA (for a proxy in front of it). */
  issueServerCertificate(name: string): Promise<CertificateFiles>;
  /** `PowerState` of a system, read as the admin. */
  powerState(id: string): Promise<string>;
  /** The system ids in the order the systems collection lists them (not the order they were configured). */
  members(): Promise<string[]>;
  /** Sends a reset as the admin and waits (bounded) until the emulator shows `state`. */
  setPower(id: string, state: 'On' | 'Off'): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

/** sushy-tools' fake driver lands a power change 1–11 s after the reset (`fakedriver.py`). */
export const SUSHY_MAX_LANDING_MS = 12_000;

/**
 * Starts `sushy-emulator --fake` from the test venv on a free loopback port, served over TLS with a
 * certificate for 127.0.0.1 from a fresh CA, with one bcrypt account in an htpasswd file.
 *
 * @example
 * const sushy = await startSushy({ systems: [{ name: 'node-1' }, { name: 'node-2' }] });
 * const [first] = sushy.systems; // { id: '<uuid>', name: 'node-1' }
 */
export async function startSushy(options: SushyOptions = {}): Promise<SushyEmulator> {
  const command = requirePeer(process.env.ALERTFENCE_SUSHY_BIN || venvBin('sushy-emulator'), INSTALL_HINT);
  const python = join(dirname(command), 'python');
  const dir = await tempDir('alertfence-sushy');
  try {
    const ca = await createCertificateAuthority(dir.path, 'alertfence test BMC CA');
    const serving = await issueCertificate(ca, dir.path, {
      name: 'bmc',
      commonName: '127.0.0.1',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
      dnsNames: ['localhost'],
    });

    const account = { username: 'alertfence', password: `pw-${randomUUID()}` };
    // sushy accepts bcrypt digests only; 4 rounds, since every basic-auth request pays for one check.
    const { stdout: digest } = await runCommand(python, [
      '-c',
      'import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=4)).decode())',
      account.password,
    ]);
    const htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, `${account.username}:${digest.trim()}\n`, { mode: 0o600 });
    const credentialsDir = join(dir.path, 'credentials');
    await mkdir(credentialsDir);
    await writeFile(join(credentialsDir, 'username'), `${account.username}\n`, { mode: 0o600 });
    await writeFile(join(credentialsDir, 'password'), `${account.password}\n`, { mode: 0o600 });

    const systems = (options.systems ?? [{ name: 'node-1' }]).map((system) => ({
      id: randomUUID(),
      name: system.name,
      powerState: system.powerState ?? 'On',
    }));
    const configFile = join(dir.path, 'sushy.conf');
    await writeFile(
      configFile,
      [
        'SUSHY_EMULATOR_FAKE_DRIVER = True',
        `SUSHY_EMULATOR_AUTH_FILE = ${JSON.stringify(htpasswd)}`,
        // Its own state: by default every emulator of the machine shares /tmp/sushy-emulator.
        `SUSHY_EMULATOR_STATE_DIR = ${JSON.stringify(join(dir.path, 'state'))}`,
        'SUSHY_EMULATOR_FAKE_SYSTEMS = [',
        ...systems.map(
          (s) =>
            `  {'uuid': ${JSON.stringify(s.id)}, 'name': ${JSON.stringify(s.name)}, 'power_state': ${JSON.stringify(s.powerState)}, 'nics': []},`,
        ),
        ']',
        ...(options.fixedDelaySeconds === undefined
          ? []
          : ['import random as _random', `_random.randint = lambda low, high: ${options.fixedDelaySeconds}`]),
        '',
      ].join('\n'),
    );

    const port = await freePort();
    const address = `https://127.0.0.1:${port}`;
    const admin = (method: 'GET' | 'POST', path: string, body?: unknown) =>
      adminRequest({ port, ca: ca.certPem, account, method, path, body });
    const peer: PeerProcess = await startProcess({
      name: 'sushy-emulator',
      command,
      args: [
        '--fake',
        '--config',
        configFile,
        '-i',
        '127.0.0.1',
        '-p',
        String(port),
        '--ssl-certificate',
        serving.certPath,
        '--ssl-key',
        serving.keyPath,
      ],
      env: { SUSHY_EMULATOR_CONFIG: undefined },
      // The service root needs no account; the systems collection proves the htpasswd file was read.
      ready: async () => (await admin('GET', '/redfish/v1/Systems')).status === 200,
      timeoutMs: 30_000,
    });

    const powerState = async (id: string) => {
      const answer = await admin('GET', `/redfish/v1/Systems/${id}`);
      if (answer.status !== 200) throw new Error(`sushy answered ${answer.status} for system ${id}`);
      return String((JSON.parse(answer.text) as { PowerState?: unknown }).PowerState);
    };
    return {
      address,
      port,
      ca,
      caPem: ca.certPem,
      account,
      credentialsDir,
      systems: systems.map(({ id, name }) => ({ id, name })),
      dir,
      issueServerCertificate: (name) =>
        issueCertificate(ca, dir.path, {
          name,
          commonName: '127.0.0.1',
          usage: 'server',
          ipAddresses: ['127.0.0.1'],
        }),
      powerState,
      async members() {
        const answer = await admin('GET', '/redfish/v1/Systems');
        const body = JSON.parse(answer.text) as { Members: Array<{ '@odata.id': string }> };
        return body.Members.map((member) => member['@odata.id'].split('/').pop() ?? '');
      },
      async setPower(id, state) {
        if ((await powerState(id)) === state) return;
        const answer = await admin('POST', `/redfish/v1/Systems/${id}/Actions/ComputerSystem.Reset`, {
          ResetType: state === 'On' ? 'On' : 'ForceOff',
        });
        if (answer.status >= 300) throw new Error(`sushy answered ${answer.status} to the reset of ${id}`);
        await waitUntil(async () => (await powerState(id)) === state, {
          timeoutMs: SUSHY_MAX_LANDING_MS + 3000,
          intervalMs: 250,
          what: `sushy to show system ${id} ${state}`,
        });
      },
      async stop() {
        await peer.stop();
        await dir.remove();
      },
      logs: () => peer.logs(),
    };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

/** One HTTPS request to the emulator as its admin, trusting only its CA. */
function adminRequest(input: {
  port: number;
  ca: string;
  account: { username: string; password: string };
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}): Promise<{ status: number; text: string }> {
  const body = input.body === undefined ? undefined : JSON.stringify(input.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: input.port,
        method: input.method,
        path: input.path,
        ca: input.ca,
        auth: `${input.account.username}:${input.account.password}`,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('sushy did not answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}
