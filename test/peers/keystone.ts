import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  INSTALL_HINT,
  peerCacheDir,
  requirePeer,
  runCommand,
  startProcess,
  tempDir,
} from './process.js';

/** The region `keystone-manage bootstrap` creates and every registered endpoint lands in by default. */
export const KEYSTONE_REGION = 'RegionOne';

/** A catalog entry to register once Keystone runs. */
export interface CatalogEntry {
  /** Service type, e.g. `compute`, `volumev3`, `block-storage`. */
  type: string;
  /** Service name; defaults to the type. */
  name?: string;
  url: string;
  /** Defaults to both `public` and `internal`. */
  interface?: 'public' | 'internal' | 'admin';
  /** Defaults to {@link KEYSTONE_REGION}; other regions are created on demand. */
  region?: string;
}

export interface KeystoneOptions {
  extraCatalog?: readonly CatalogEntry[];
  /** `[token] expiration` in seconds (Keystone's default is 3600); make it short to exercise re-auth. */
  tokenExpirationSeconds?: number;
}

/** The bootstrap admin: member of project `admin` in domain `Default`, with role `admin`. */
export interface KeystoneAdmin {
  username: string;
  password: string;
  project: string;
  /** Domain name of both the user and the project. */
  domain: string;
}

/** An issued token and the body Keystone returned with it. */
export interface KeystoneToken {
  token: string;
  userId: string;
  projectId: string;
  expiresAt: string;
  catalog: Array<{
    type: string;
    name: string;
    endpoints: Array<{ interface: string; region_id: string; url: string }>;
  }>;
}

/** A running Keystone on sqlite. */
export interface KeystoneServer {
  /** Base URL without `/v3`: tokens are `POST {authUrl}/v3/auth/tokens`. */
  authUrl: string;
  region: string;
  admin: KeystoneAdmin;
  /** A project-scoped password token for the admin. */
  issueToken(): Promise<KeystoneToken>;
  /** An application credential of the admin on project `admin`, with the admin's roles. */
  createApplicationCredential(options?: {
    name?: string;
  }): Promise<{ id: string; name: string; secret: string }>;
  /**
   * Adds a service of `type` (reusing one of that type) with endpoints at `url`: `public` and `internal`
   * in RegionOne unless the options say otherwise. Tokens issued afterwards list it in their catalog.
   */
  registerService(type: string, url: string, options?: Omit<CatalogEntry, 'type' | 'url'>): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

/** Error answered by the Keystone API while setting up a test. */
export class KeystoneSetupError extends Error {
  override name = 'KeystoneSetupError';
}

/**
 * The directory holding `keystone-manage` and the Python that owns it: `$ALERTFENCE_KEYSTONE_BIN_DIR` if set,
 * else Debian's `/usr/bin`, else the PyPI venv that install.sh falls back to.
 */
export function keystoneBinDir(): string {
  const override = process.env.ALERTFENCE_KEYSTONE_BIN_DIR;
  if (override) return override;
  if (existsSync('/usr/bin/keystone-manage')) return '/usr/bin';
  return join(peerCacheDir(), 'keystone-venv', 'bin');
}

/**
 * `keystone-wsgi-public --host 127.0.0.1 --port PORT`, or, where the package no longer ships that script
 * (recent PyPI releases), the same thing it did: serve keystone.server.wsgi with the standard library's
 * wsgiref server.
 */
function wsgiPublicCommand(bin: string, port: number): { command: string; args: string[] } {
  const script = join(bin, 'keystone-wsgi-public');
  if (existsSync(script)) return { command: script, args: ['--host', '127.0.0.1', '--port', String(port)] };
  return {
    command: join(bin, 'python3'),
    args: [
      '-c',
      [
        'import sys, wsgiref.simple_server as server',
        'from keystone.server.wsgi import initialize_public_application as app',
        // Keystone parses sys.argv as its own options.
        'host, port, sys.argv[1:] = sys.argv[1], int(sys.argv[2]), []',
        'server.make_server(host, port, app()).serve_forever()',
      ].join('\n'),
      '127.0.0.1',
      String(port),
    ],
  };
}

/**
 * Bootstraps Keystone on sqlite in a temporary directory (fernet tokens, credential keys, admin user,
 * identity endpoint) and serves it with `keystone-wsgi-public` on a free loopback port.
 *
 * @example
 * const keystone = await startKeystone({ tokenExpirationSeconds: 5 });
 * await keystone.registerService('compute', novaUrl);
 * const appCred = await keystone.createApplicationCredential();
 */
export async function startKeystone(options: KeystoneOptions = {}): Promise<KeystoneServer> {
  const bin = keystoneBinDir();
  const manage = requirePeer(join(bin, 'keystone-manage'), INSTALL_HINT);
  const python = requirePeer(join(bin, 'python3'), INSTALL_HINT);

  const dir = await tempDir('alertfence-keystone');
  try {
    const port = await freePort();
    const authUrl = `http://127.0.0.1:${port}`;
    const admin: KeystoneAdmin = {
      username: 'admin',
      password: randomBytes(12).toString('hex'),
      project: 'admin',
      domain: 'Default',
    };

    const configFile = join(dir.path, 'keystone.conf');
    await writeFile(configFile, keystoneConf(dir.path, options));
    const config = ['--config-file', configFile];
    const owner = [
      '--keystone-user',
      String(process.getuid?.() ?? 0),
      '--keystone-group',
      String(process.getgid?.() ?? 0),
    ];

    // Each keystone-manage call takes seconds to import Keystone; the key repositories do not depend on
    // the database, so set them up alongside the schema.
    await Promise.all([
      runCommand(manage, [...config, 'db_sync'], { cwd: dir.path }),
      runCommand(manage, [...config, 'fernet_setup', ...owner], { cwd: dir.path }),
      runCommand(manage, [...config, 'credential_setup', ...owner], { cwd: dir.path }),
    ]);
    // In sqlite's default rollback-journal mode Keystone 22 fails every other write after
    // POST /v3/endpoints with "database is locked" (a reader of the previous request still holds its
    // shared lock). In WAL mode readers never block a writer; the mode is stored in the database file.
    await runCommand(python, [
      '-c',
      'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("pragma journal_mode=wal").fetchone()',
      join(dir.path, 'keystone.db'),
    ]);
    await runCommand(
      manage,
      [
        ...config,
        'bootstrap',
        '--bootstrap-username',
        admin.username,
        '--bootstrap-password',
        admin.password,
        '--bootstrap-project-name',
        admin.project,
        '--bootstrap-role-name',
        'admin',
        '--bootstrap-service-name',
        'keystone',
        '--bootstrap-region-id',
        KEYSTONE_REGION,
        '--bootstrap-public-url',
        `${authUrl}/v3`,
        '--bootstrap-internal-url',
        `${authUrl}/v3`,
      ],
      { cwd: dir.path },
    );

    const peer = await startProcess({
      name: 'keystone',
      ...wsgiPublicCommand(bin, port),
      cwd: dir.path,
      env: { OS_KEYSTONE_CONFIG_DIR: dir.path, OS_KEYSTONE_CONFIG_FILES: 'keystone.conf' },
      ready: `${authUrl}/v3`,
    });

    const client = new KeystoneAdminClient(authUrl, admin);
    const server: KeystoneServer = {
      authUrl,
      region: KEYSTONE_REGION,
      admin,
      issueToken: () => client.issueToken(),
      createApplicationCredential: (credentialOptions) =>
        client.createApplicationCredential(credentialOptions),
      registerService: (type, url, entry) => client.registerService({ ...entry, type, url }),
      async stop() {
        await peer.stop();
        await dir.remove();
      },
      logs: () => peer.logs(),
    };
    try {
      for (const entry of options.extraCatalog ?? []) await client.registerService(entry);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

function keystoneConf(dir: string, options: KeystoneOptions): string {
  const lines = [
    '[DEFAULT]',
    'use_stderr = true',
    '',
    '[database]',
    `connection = sqlite:///${join(dir, 'keystone.db')}`,
    '',
    '[fernet_tokens]',
    `key_repository = ${join(dir, 'fernet-keys')}`,
    '',
    '[fernet_receipts]',
    `key_repository = ${join(dir, 'fernet-keys')}`,
    '',
    '[credential]',
    `key_repository = ${join(dir, 'credential-keys')}`,
    '',
    '[token]',
    'provider = fernet',
  ];
  if (options.tokenExpirationSeconds !== undefined) {
    lines.push(`expiration = ${Math.max(1, Math.floor(options.tokenExpirationSeconds))}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Just the admin calls the harness needs, over `fetch`. */
class KeystoneAdminClient {
  private readonly regions = new Set<string>([KEYSTONE_REGION]);

  constructor(
    private readonly authUrl: string,
    private readonly admin: KeystoneAdmin,
  ) {}

  async issueToken(): Promise<KeystoneToken> {
    const response = await fetch(`${this.authUrl}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: {
                name: this.admin.username,
                domain: { name: this.admin.domain },
                password: this.admin.password,
              },
            },
          },
          scope: { project: { name: this.admin.project, domain: { name: this.admin.domain } } },
        },
      }),
    });
    const body = await expectStatus(response, 201, 'issue a password token');
    const token = response.headers.get('x-subject-token');
    if (token === null) throw new KeystoneSetupError('Keystone issued a token without X-Subject-Token');
    const issued = (body as { token: TokenBody }).token;
    return {
      token,
      userId: issued.user.id,
      projectId: issued.project.id,
      expiresAt: issued.expires_at,
      catalog: issued.catalog ?? [],
    };
  }

  async createApplicationCredential(options: { name?: string } = {}) {
    const { token, userId } = await this.issueToken();
    const name = options.name ?? `alertfence-${randomBytes(4).toString('hex')}`;
    const body = (await this.call(token, 'POST', `/v3/users/${userId}/application_credentials`, 201, {
      application_credential: { name, description: 'alertfence integration test' },
    })) as { application_credential: { id: string; name: string; secret: string } };
    const { id, secret } = body.application_credential;
    return { id, name, secret };
  }

  async registerService(entry: CatalogEntry): Promise<void> {
    const { token } = await this.issueToken();
    const region = entry.region ?? KEYSTONE_REGION;
    if (!this.regions.has(region)) {
      await this.call(token, 'POST', '/v3/regions', [201, 409], { region: { id: region } });
      this.regions.add(region);
    }
    const services = (await this.call(
      token,
      'GET',
      `/v3/services?type=${encodeURIComponent(entry.type)}`,
      200,
    )) as {
      services: Array<{ id: string }>;
    };
    let serviceId = services.services[0]?.id;
    if (serviceId === undefined) {
      const created = (await this.call(token, 'POST', '/v3/services', 201, {
        service: { type: entry.type, name: entry.name ?? entry.type, enabled: true },
      })) as { service: { id: string } };
      serviceId = created.service.id;
    }
    for (const endpointInterface of entry.interface ? [entry.interface] : ['public', 'internal']) {
      await this.call(token, 'POST', '/v3/endpoints', 201, {
        endpoint: {
          service_id: serviceId,
          interface: endpointInterface,
          url: entry.url,
          region_id: region,
          enabled: true,
        },
      });
    }
  }

  private async call(
    token: string,
    method: string,
    path: string,
    expected: number | number[],
    body?: unknown,
  ): Promise<unknown> {
    const response = await fetch(`${this.authUrl}${path}`, {
      method,
      headers: {
        'x-auth-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return expectStatus(response, expected, `${method} ${path}`);
  }
}

interface TokenBody {
  user: { id: string };
  project: { id: string };
  expires_at: string;
  catalog?: KeystoneToken['catalog'];
}

async function expectStatus(response: Response, expected: number | number[], what: string): Promise<unknown> {
  const text = await response.text();
  if (!(Array.isArray(expected) ? expected : [expected]).includes(response.status)) {
    throw new KeystoneSetupError(`Keystone: ${what} answered ${response.status}: ${text.slice(0, 500)}`);
  }
  return text === '' ? {} : (JSON.parse(text) as unknown);
}
