/**
 * A real OpenStack on loopback for the integration and end-to-end tests: Keystone, Placement, Glance, Nova
 * (fake virt driver: servers live in nova-compute's memory) and Cinder (fake volume driver: real volume
 * states and attachments, no block device), with rabbitmq for their RPC and a Neutron stand-in. Debian's
 * `python3-*` library packages, installed by `test/peers/install.sh`; no hypervisor, no system services.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEYSTONE_REGION, type KeystoneServer, startKeystone } from './keystone.js';
import { OpenStackAdmin, type ServiceUrls } from './openstack/admin.js';
import {
  type CloudLayout,
  cinderConf,
  glanceConf,
  novaConf,
  placementConf,
  type ServiceUser,
  sqliteUrl,
} from './openstack/config.js';
import { type NeutronStandIn, startNeutronStandIn } from './openstack/neutron-stand-in.js';
import { type RabbitMq, rabbitTransportUrl, startRabbitMq } from './openstack/rabbitmq.js';
import {
  freePort,
  INSTALL_HINT,
  PeerMissingError,
  type PeerProcess,
  peerCacheDir,
  runCommand,
  startProcess,
  type TempDir,
  tempDir,
  waitUntil,
} from './process.js';

export type { ServerView, VolumeView } from './openstack/admin.js';
export { OpenStackAdmin, OpenStackSetupError } from './openstack/admin.js';

/** Debian's interpreter: the `python3-nova`, `python3-cinder`, … packages live in its dist-packages. */
export const OPENSTACK_PYTHON = '/usr/bin/python3';
const DIST_PACKAGES = '/usr/lib/python3/dist-packages';

/** The cloud's own Python modules (`begin_immediate`, and the race that shows why it is needed). */
export const CLOUD_PYTHON_DIR = fileURLToPath(new URL('./openstack/python/', import.meta.url));

/** Opens every service's script: each sqlite transaction takes the write lock as it begins (`begin_immediate.py` says why). */
const PRELUDE = `import sys; sys.path.insert(0, ${JSON.stringify(CLOUD_PYTHON_DIR)}); import begin_immediate`;

/** How long the services may take to come up once their processes run (about 30 s on 2 idle cores). */
const READY_TIMEOUT_MS = 180_000;

/** Where install.sh puts the `api-paste.ini` files it takes from Debian's `nova-common`, `cinder-common`, `glance-common`. */
export function openStackPasteDir(): string {
  return join(peerCacheDir(), 'openstack', 'paste');
}

/** A running test OpenStack. */
export interface OpenStackCloud {
  keystone: KeystoneServer;
  /** Keystone, without `/v3`. */
  authUrl: string;
  region: string;
  /** The admin project: where the tests' servers and volumes live. */
  projectId: string;
  userId: string;
  /** Admin calls for arranging and inspecting the cloud. */
  admin: OpenStackAdmin;
  urls: ServiceUrls & { network: string };
  /** The stand-in registered as the `network` service (not Neutron: it answers empty lists). */
  neutron: NeutronStandIn;
  /** The flavor and image every server boots with. */
  flavorId: string;
  imageId: string;
  /** Boots a server (no networks) and waits until it is ACTIVE. */
  createServer(name: string, metadata?: Record<string, string>): Promise<string>;
  /** From the first process started to the cloud ready to boot servers and create volumes. */
  startedInMs: number;
  /** Resident memory of every process of the cloud, by service, in bytes. */
  rss(): Promise<Record<string, number>>;
  /** Combined output of one service's process (`nova-compute`, `cinder-volume`, …). */
  logs(service: string): string;
  stop(): Promise<void>;
}

/** What the tests may ask of the cloud. */
export interface OpenStackOptions {
  /** Keystone token lifetime; short to exercise re-authentication. */
  tokenExpirationSeconds?: number;
  /** Progress lines with the time since the start (which step took how long). */
  log?: (line: string) => void;
  /** On stop, each service's output is written to `<logDir>/openstack.<service>.log`. */
  logDir?: string;
}

/**
 * Starts the whole cloud in a temporary directory and answers once Nova can boot a server and Cinder can
 * create a volume. About a minute and 2 GiB: start it once per test file (`beforeAll`).
 *
 * @example
 * const cloud = await startOpenStack();
 * const serverId = await cloud.createServer('worker-1');
 * const volumeId = await cloud.admin.createVolume('pvc-data');
 * await cloud.admin.attachVolume(serverId, volumeId);
 */
export async function startOpenStack(options: OpenStackOptions = {}): Promise<OpenStackCloud> {
  requireOpenStack();
  const started = Date.now();
  const step = (what: string) =>
    options.log?.(`openstack: ${what} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const dir = await tempDir('alertfence-openstack');
  const processes = new Map<string, PeerProcess>();
  let keystone: KeystoneServer | undefined;
  let rabbit: RabbitMq | undefined;
  let neutron: NeutronStandIn | undefined;
  const stopAll = async () => {
    if (options.logDir) {
      const logDir = options.logDir;
      await mkdir(logDir, { recursive: true });
      await Promise.all(
        [...processes.values()].map((p) => writeFile(join(logDir, `openstack.${p.name}.log`), p.logs())),
      );
    }
    // Workers first, so none of them logs a storm of reconnects to services already gone.
    for (const process of [...processes.values()].reverse()) await process.stop();
    await rabbit?.stop();
    await neutron?.stop();
    await keystone?.stop();
    await dir.remove();
  };
  try {
    const layout = await planLayout(dir);
    for (const sub of [
      'locks',
      'nova/instances',
      'cinder',
      'glance/images',
      'glance/staging',
      'glance/tasks',
    ]) {
      await mkdir(join(layout.dir, sub), { recursive: true });
    }
    const files = {
      nova: join(layout.dir, 'nova.conf'),
      compute: join(layout.dir, 'nova-compute.conf'),
      placement: join(layout.dir, 'placement.conf'),
      glance: join(layout.dir, 'glance-api.conf'),
      cinder: join(layout.dir, 'cinder.conf'),
    };
    await writeConfigs(layout, files);

    // Keystone, rabbitmq and the schemas do not depend on each other; the schemas are the slow part
    // (every *-manage call imports its whole service first).
    const amqpPort = Number(new URL(layout.transportUrl).port);
    const [keystoneStart, rabbitStart, neutronStart, schemas] = await Promise.allSettled([
      startKeystone(
        options.tokenExpirationSeconds === undefined
          ? {}
          : { tokenExpirationSeconds: options.tokenExpirationSeconds },
      ),
      startRabbitMq(join(layout.dir, 'rabbitmq'), amqpPort, INSTALL_HINT),
      startNeutronStandIn(),
      syncSchemas(layout, files).then(() => step('schemas synced')),
    ]);
    step('keystone and rabbitmq up');
    if (keystoneStart.status === 'fulfilled') keystone = keystoneStart.value;
    if (rabbitStart.status === 'fulfilled') rabbit = rabbitStart.value;
    if (neutronStart.status === 'fulfilled') neutron = neutronStart.value;
    for (const outcome of [keystoneStart, rabbitStart, neutronStart, schemas]) {
      if (outcome.status === 'rejected') throw outcome.reason;
    }
    if (!keystone || !rabbit || !neutron) throw new Error('unreachable: every start was fulfilled');
    for (const process of rabbit.processes) processes.set(process.name, process);
    // Keystone picked its own port: the services' files name it from now on.
    layout.authUrl = keystone.authUrl;
    await writeConfigs(layout, files);

    const adminToken = await keystone.issueToken();
    const urls: OpenStackCloud['urls'] = {
      compute: `http://127.0.0.1:${layout.ports.nova}/v2.1`,
      volume: `http://127.0.0.1:${layout.ports.cinder}/v3/${adminToken.projectId}`,
      image: `http://127.0.0.1:${layout.ports.glance}`,
      placement: `http://127.0.0.1:${layout.ports.placement}`,
      network: neutron.url,
    };
    const ks = keystone;
    const admin = new OpenStackAdmin(keystone.authUrl, urls, async () => (await ks.issueToken()).token);
    // The APIs need their users only at their first authenticated call, so the users and the catalog are
    // registered while they import; the workers ask for the catalog as they start, so they wait for it.
    const registered = registerServices(admin, layout, urls).then(() =>
      step('service users and catalog registered'),
    );

    const start = async (name: string, module: string, config: string, ready: () => Promise<boolean>) => {
      const process = await startProcess({
        name,
        ...pythonMain(module, name, ['--config-file', config]),
        cwd: layout.dir,
        ready,
        timeoutMs: READY_TIMEOUT_MS,
      });
      processes.set(name, process);
    };
    const answers = (url: string) => async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      return response.status < 500;
    };
    const worker = async (name: string, module: string, config: string) => {
      await registered;
      await start(name, module, config, async () => true);
    };
    // Every service at once: each takes seconds to import, and they find each other over rabbitmq
    // whenever they get there.
    await Promise.all([
      (async () => {
        const process = await startProcess({
          name: 'placement-api',
          ...threadedWsgi('placement.wsgi', 'init_application', layout.ports.placement),
          cwd: layout.dir,
          env: { OS_PLACEMENT_CONFIG_DIR: layout.dir },
          ready: answers(urls.placement),
          timeoutMs: READY_TIMEOUT_MS,
        });
        processes.set('placement-api', process);
      })(),
      start('glance-api', 'glance.cmd.api', files.glance, answers(`${urls.image}/versions`)),
      start('nova-api', 'nova.cmd.api_os_compute', files.nova, answers(`${urls.compute}/`)),
      worker('nova-conductor', 'nova.cmd.conductor', files.nova),
      worker('nova-scheduler', 'nova.cmd.scheduler', files.nova),
      worker('nova-compute', 'nova.cmd.compute', files.compute),
      start(
        'cinder-api',
        'cinder.cmd.api',
        files.cinder,
        answers(`http://127.0.0.1:${layout.ports.cinder}/`),
      ),
      worker('cinder-scheduler', 'cinder.cmd.scheduler', files.cinder),
      worker('cinder-volume', 'cinder.cmd.volume', files.cinder),
    ]);

    step('service processes up');
    // Ready to boot: nova-compute is up, mapped to the cell (the scheduler's host discovery) and has
    // reported its inventory to Placement; Cinder's scheduler knows the fake backend's pool.
    await waitUntil(
      async () =>
        (await admin.serviceStates('compute', 'nova-compute')).includes('up/enabled') &&
        (await hostMapped(layout)) &&
        (await hasInventory(admin)),
      {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: 500,
        what: 'nova-compute to be up, mapped and in Placement',
      },
    );
    await waitUntil(
      async () => {
        const { body } = await admin.call('volume', 'GET', '/scheduler-stats/get_pools');
        return (body as { pools: unknown[] }).pools.length > 0;
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500, what: "Cinder's scheduler to know the fake backend" },
    );
    step('nova-compute and cinder-volume ready');
    const [flavorId, imageId] = await Promise.all([
      admin.createFlavor('alertfence.tiny'),
      admin.createImage('alertfence-image', randomBytes(1024)),
    ]);

    const cloud: OpenStackCloud = {
      keystone,
      authUrl: keystone.authUrl,
      region: keystone.region,
      projectId: adminToken.projectId,
      userId: adminToken.userId,
      admin,
      urls,
      neutron,
      flavorId,
      imageId,
      createServer: (name, metadata) =>
        admin.createServer({ name, imageId, flavorId, ...(metadata ? { metadata } : {}) }),
      startedInMs: Date.now() - started,
      rss: async () => {
        const byService: Record<string, number> = {};
        for (const [name, process] of processes) byService[name] = await processGroupRss(process.pid);
        return byService;
      },
      logs: (service) => processes.get(service)?.logs() ?? '',
      stop: stopAll,
    };
    return cloud;
  } catch (error) {
    // The services that died or complained, with their last lines: the other ones only waited for them.
    const logs = [...processes.values()]
      .filter((p) => p.exitStatus() !== undefined || / ERROR |Traceback/.test(p.logs()))
      .map(
        (p) =>
          `--- ${p.name} (${p.exitStatus() ?? 'running'}) ---\n${p.logs().trimEnd().split('\n').slice(-25).join('\n')}`,
      )
      .join('\n');
    await stopAll();
    if (logs && error instanceof Error) error.message += `\n${logs}`;
    throw error;
  }
}

async function writeConfigs(
  layout: CloudLayout,
  files: { nova: string; compute: string; placement: string; glance: string; cinder: string },
): Promise<void> {
  await Promise.all([
    writeFile(files.nova, novaConf(layout, true)),
    writeFile(files.compute, novaConf(layout, false)),
    writeFile(files.placement, placementConf(layout)),
    writeFile(files.glance, glanceConf(layout)),
    writeFile(files.cinder, cinderConf(layout)),
  ]);
}

/** Throws a {@link PeerMissingError} naming the install command when a package or paste file is missing. */
function requireOpenStack(): void {
  const needed = [
    OPENSTACK_PYTHON,
    ...['nova', 'cinder', 'glance', 'placement', 'keystone'].map((p) =>
      join(DIST_PACKAGES, p, '__init__.py'),
    ),
    join(DIST_PACKAGES, 'cinder', 'tests', 'fake_driver.py'),
    '/usr/lib/rabbitmq/bin/rabbitmq-server',
    ...['nova-api-paste.ini', 'cinder-api-paste.ini', 'glance-api-paste.ini'].map((f) =>
      join(openStackPasteDir(), f),
    ),
  ];
  const missing = needed.filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new PeerMissingError(
      `the test OpenStack is not installed (missing ${missing.join(', ')}); install the test peers with: ${INSTALL_HINT}`,
    );
  }
}

async function planLayout(dir: TempDir): Promise<CloudLayout> {
  const user = (name: string): ServiceUser => ({ username: name, password: randomBytes(12).toString('hex') });
  const [nova, cinder, glance, placement, amqp] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  return {
    dir: dir.path,
    // Keystone picks its own port: set once it runs, before any service starts.
    authUrl: 'http://127.0.0.1:0',
    region: KEYSTONE_REGION,
    transportUrl: rabbitTransportUrl(amqp),
    ports: { nova, cinder, glance, placement },
    users: {
      nova: user('nova'),
      cinder: user('cinder'),
      glance: user('glance'),
      placement: user('placement'),
    },
    pasteDir: openStackPasteDir(),
    host: 'alertfence-cloud',
  };
}

/** `python3 -c "… from <module> import main; main()" args`: a service's console script without the script. */
function pythonMain(
  module: string,
  argv0: string,
  args: readonly string[],
): { command: string; args: string[] } {
  return {
    command: OPENSTACK_PYTHON,
    args: [
      '-c',
      `${PRELUDE}\nsys.argv[0] = ${JSON.stringify(argv0)}; from ${module} import main; sys.exit(main())`,
      ...args,
    ],
  };
}

/**
 * A WSGI application served by the standard library's server with a thread per request: Placement has no
 * server of its own outside uwsgi/apache, and a single-threaded one would hold every nova service behind
 * the slowest request.
 */
function threadedWsgi(module: string, factory: string, port: number): { command: string; args: string[] } {
  return {
    command: OPENSTACK_PYTHON,
    args: [
      '-c',
      [
        PRELUDE,
        'import socketserver, wsgiref.simple_server as ws',
        'class Server(socketserver.ThreadingMixIn, ws.WSGIServer):',
        '    daemon_threads = True',
        `from ${module} import ${factory} as factory`,
        'port = int(sys.argv[1]); sys.argv[1:] = []',
        'ws.make_server("127.0.0.1", port, factory(), server_class=Server).serve_forever()',
      ].join('\n'),
      String(port),
    ],
  };
}

async function manage(module: string, config: string, args: readonly string[], cwd: string): Promise<void> {
  const { command, args: full } = pythonMain(module, module.split('.').at(-1) ?? module, [
    '--config-file',
    config,
    ...args,
  ]);
  await runCommand(command, full, { cwd, timeoutMs: 300_000 });
}

/** Creates every database and switches each to WAL (sqlite's default journal deadlocks the services). */
async function syncSchemas(
  layout: CloudLayout,
  files: { nova: string; placement: string; glance: string; cinder: string },
): Promise<void> {
  const cwd = layout.dir;
  await Promise.all([
    // nova-manage's four steps in one interpreter: importing Nova is most of each step's time.
    runCommand(
      OPENSTACK_PYTHON,
      [
        '-c',
        [
          'import sys',
          'from nova import config, objects',
          'config.parse_args(["nova-manage", "--config-file", sys.argv[1]])',
          'objects.register_all()',
          'from nova.cmd import manage',
          'manage.ApiDbCommands().sync()',
          'cells = manage.CellV2Commands()',
          'for code in (cells.map_cell0(database_connection=sys.argv[2]), cells.create_cell(name="cell1")):',
          '    if code not in (None, 0): sys.exit(code)',
          'manage.DbCommands().sync()',
        ].join('\n'),
        files.nova,
        sqliteUrl(layout, 'nova_cell0'),
      ],
      { cwd, timeoutMs: 300_000 },
    ),
    (async () => {
      // placement-manage reads its file from OS_PLACEMENT_CONFIG_DIR or --config-file alike.
      await manage('placement.cmd.manage', files.placement, ['db', 'sync'], cwd);
      await manage('glance.cmd.manage', files.glance, ['db_sync'], cwd);
    })(),
    manage('cinder.cmd.manage', files.cinder, ['db', 'sync'], cwd),
  ]);
  const databases = (await readdir(layout.dir))
    .filter((f) => f.endsWith('.sqlite'))
    .map((f) => join(layout.dir, f));
  await runCommand(OPENSTACK_PYTHON, [
    '-c',
    'import sqlite3, sys\nfor db in sys.argv[1:]: sqlite3.connect(db).execute("pragma journal_mode=wal").fetchone()',
    ...databases,
  ]);
}

/**
 * The service project, the `service` role and one user per service holding `admin` and `service` in it
 * (the `service` role makes their service tokens count, OSSA-2023-003); then the catalog.
 */
async function registerServices(
  admin: OpenStackAdmin,
  layout: CloudLayout,
  urls: OpenStackCloud['urls'],
): Promise<void> {
  const projectId = await admin.ensureIdentity('projects', { name: 'service', domain_id: 'default' });
  const adminRole = await admin.ensureIdentity('roles', { name: 'admin' });
  const serviceRole = await admin.ensureIdentity('roles', { name: 'service' });
  const catalog: Array<[type: string, name: string, url: string]> = [
    ['compute', 'nova', urls.compute],
    ['volumev3', 'cinderv3', `http://127.0.0.1:${layout.ports.cinder}/v3/$(project_id)s`],
    ['image', 'glance', urls.image],
    ['placement', 'placement', urls.placement],
    ['network', 'neutron-stand-in', urls.network],
  ];
  // One request at a time: Keystone here serves one request at a time anyway, and sqlite prefers it.
  for (const [type, name, url] of catalog) {
    const { body } = await admin.call('identity', 'POST', '/services', {
      body: { service: { type, name, enabled: true } },
      expected: [201],
    });
    const serviceId = (body as { service: { id: string } }).service.id;
    for (const endpointInterface of ['public', 'internal']) {
      await admin.call('identity', 'POST', '/endpoints', {
        body: {
          endpoint: {
            service_id: serviceId,
            interface: endpointInterface,
            url,
            region_id: layout.region,
            enabled: true,
          },
        },
        expected: [201],
      });
    }
  }
  for (const user of Object.values(layout.users)) {
    const userId = await admin.ensureIdentity('users', {
      name: user.username,
      password: user.password,
      domain_id: 'default',
      default_project_id: projectId,
    });
    await admin.grant(projectId, userId, adminRole);
    await admin.grant(projectId, userId, serviceRole);
  }
}

/** nova-compute's host has a host mapping in the API database (the scheduler's periodic discovery). */
async function hostMapped(layout: CloudLayout): Promise<boolean> {
  const { stdout } = await runCommand(OPENSTACK_PYTHON, [
    '-c',
    'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from host_mappings where host = ?", (sys.argv[2],)).fetchone()[0])',
    join(layout.dir, 'nova_api.sqlite'),
    layout.host,
  ]);
  return Number(stdout.trim()) > 0;
}

async function hasInventory(admin: OpenStackAdmin): Promise<boolean> {
  const { body } = await admin.call('placement', 'GET', '/resource_providers');
  const providers = (body as { resource_providers: Array<{ uuid: string }> }).resource_providers;
  for (const provider of providers) {
    const { body: inventories } = await admin.call(
      'placement',
      'GET',
      `/resource_providers/${provider.uuid}/inventories`,
    );
    if ('VCPU' in ((inventories as { inventories: Record<string, unknown> }).inventories ?? {})) return true;
  }
  return false;
}

/** Sum of VmRSS over every process in the process group `pgid` (the peer and what it forked). */
export async function processGroupRss(pgid: number): Promise<number> {
  let total = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command's closing parenthesis: state ppid pgrp …
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      const status = await readFile(`/proc/${entry}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      if (kb) total += Number(kb) * 1024;
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}
