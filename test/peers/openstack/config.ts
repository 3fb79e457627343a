/**
 * The oslo.config files of the test OpenStack: one small file per service, written from the ports and
 * passwords the starter chose. Only the settings a loopback cloud without a hypervisor needs are set; every
 * other option keeps its upstream default.
 */

import { join } from 'node:path';

/** A user a service authenticates as (Keystone middleware, service tokens, calls to other services). */
export interface ServiceUser {
  username: string;
  password: string;
}

/** Everything the configuration files are made from. */
export interface CloudLayout {
  /** Root of the cloud's state: databases, locks, images, logs. */
  dir: string;
  /** Keystone, without `/v3`. */
  authUrl: string;
  region: string;
  /** `rabbit://…` of the cloud's rabbitmq. */
  transportUrl: string;
  ports: { nova: number; cinder: number; glance: number; placement: number };
  users: { nova: ServiceUser; cinder: ServiceUser; glance: ServiceUser; placement: ServiceUser };
  /** Where install.sh put the `api-paste.ini` files of the Debian `*-common` packages. */
  pasteDir: string;
  /** Name of the one nova-compute host and of the one cinder-volume host. */
  host: string;
}

type Section = Record<string, string | number | boolean>;

/** Renders sections as an ini file; sections in insertion order, `DEFAULT` first when present. */
export function ini(sections: Record<string, Section>): string {
  return `${Object.entries(sections)
    .map(
      ([name, options]) =>
        `[${name}]\n${Object.entries(options)
          .map(([key, value]) => `${key} = ${String(value)}`)
          .join('\n')}\n`,
    )
    .join('\n')}`;
}

/**
 * A sqlite URL for a database file under the cloud's directory. sqlite has one writer at a time even in WAL
 * mode, and a dozen processes write (service heartbeats, periodic tasks, API calls): a writer waits up to
 * 30 s for its turn (pysqlite's `timeout`, 5 s by default) instead of failing with "database is locked".
 */
export function sqliteUrl(layout: CloudLayout, name: string): string {
  return `sqlite:///${join(layout.dir, `${name}.sqlite`)}?timeout=30`;
}

/**
 * A `[database]`-style section: sqlite without fsync (`PRAGMA synchronous = OFF`): a throwaway cloud needs
 * no durability, and a commit that waits for the disk holds sqlite's one write lock the whole time.
 */
function database(layout: CloudLayout, name: string): Section {
  return { connection: sqliteUrl(layout, name), sqlite_synchronous: false };
}

/** Password auth of a service user in project `service`, as keystoneauth's `password` plugin reads it. */
function passwordAuth(layout: CloudLayout, user: ServiceUser): Section {
  return {
    auth_type: 'password',
    auth_url: layout.authUrl,
    username: user.username,
    password: user.password,
    user_domain_name: 'Default',
    project_name: 'service',
    project_domain_name: 'Default',
  };
}

/**
 * Keystone middleware: validates the callers' tokens as `user`. `serviceType` is what access rules of an
 * application credential are matched against (keystonemiddleware enforces them only when it is set).
 */
function authtoken(layout: CloudLayout, user: ServiceUser, serviceType: string): Section {
  return {
    ...passwordAuth(layout, user),
    www_authenticate_uri: layout.authUrl,
    region_name: layout.region,
    service_type: serviceType,
    // No cache of validated tokens: a token revoked at Keystone is refused at once, as the tests need,
    // rather than up to 5 minutes later.
    token_cache_time: -1,
    // A service token is only honoured from a holder of the `service` role (OSSA-2023-003).
    service_token_roles_required: true,
    service_token_roles: 'service',
  };
}

/** Keystone session options for a call to another service, endpoint from the catalog. */
function client(layout: CloudLayout, user: ServiceUser): Section {
  return { ...passwordAuth(layout, user), region_name: layout.region, valid_interfaces: 'public' };
}

/**
 * Nova. `withDatabase` false gives nova-compute's file: a compute service must not hold database
 * settings (it reaches the database only through nova-conductor).
 */
export function novaConf(layout: CloudLayout, withDatabase: boolean): string {
  const nova = layout.users.nova;
  const sections: Record<string, Section> = {
    DEFAULT: {
      transport_url: layout.transportUrl,
      use_stderr: true,
      state_path: join(layout.dir, 'nova'),
      instances_path: join(layout.dir, 'nova', 'instances'),
      host: layout.host,
      my_ip: '127.0.0.1',
      // Servers live in nova-compute's memory; no hypervisor, no disks.
      compute_driver: 'fake.FakeDriver',
      enabled_apis: 'osapi_compute',
      osapi_compute_listen: '127.0.0.1',
      osapi_compute_listen_port: layout.ports.nova,
      osapi_compute_workers: 1,
      // Otherwise every periodic task waits a random 0–60 s first.
      periodic_fuzzy_delay: 0,
      heal_instance_info_cache_interval: 0,
    },
    api: { auth_strategy: 'keystone' },
    wsgi: { api_paste_config: join(layout.pasteDir, 'nova-api-paste.ini') },
    // Tests boot and delete many servers in one project.
    quota: { instances: -1, cores: -1, ram: -1 },
    conductor: { workers: 1 },
    scheduler: {
      workers: 1,
      // Maps a new nova-compute to the cell without `nova-manage cell_v2 discover_hosts`.
      discover_hosts_in_cells_interval: 2,
    },
    keystone_authtoken: authtoken(layout, nova, 'compute'),
    service_user: { send_service_user_token: true, ...passwordAuth(layout, nova) },
    placement: client(layout, nova),
    neutron: client(layout, nova),
    cinder: { ...client(layout, nova), os_region_name: layout.region, catalog_info: 'volumev3::publicURL' },
    glance: { region_name: layout.region, valid_interfaces: 'public' },
    oslo_concurrency: { lock_path: join(layout.dir, 'locks') },
    oslo_messaging_rabbit: { heartbeat_timeout_threshold: 0 },
    oslo_policy: { enforce_scope: false, enforce_new_defaults: false },
    vnc: { enabled: false },
  };
  if (withDatabase) {
    sections.database = database(layout, 'nova');
    sections.api_database = database(layout, 'nova_api');
  }
  return ini(sections);
}

/** Placement, served by the harness's threaded WSGI server. */
export function placementConf(layout: CloudLayout): string {
  return ini({
    DEFAULT: { use_stderr: true },
    api: { auth_strategy: 'keystone' },
    placement_database: database(layout, 'placement'),
    keystone_authtoken: authtoken(layout, layout.users.placement, 'placement'),
    oslo_policy: { enforce_scope: false, enforce_new_defaults: false },
  });
}

/** Glance with a file store. */
export function glanceConf(layout: CloudLayout): string {
  return ini({
    DEFAULT: {
      use_stderr: true,
      bind_host: '127.0.0.1',
      bind_port: layout.ports.glance,
      workers: 1,
      enabled_backends: 'local:file',
      // Image import stages files through a local directory; the task API needs a place for it.
      node_staging_uri: `file://${join(layout.dir, 'glance', 'staging')}`,
    },
    glance_store: { default_backend: 'local' },
    local: { filesystem_store_datadir: join(layout.dir, 'glance', 'images') },
    os_glance_staging_store: { filesystem_store_datadir: join(layout.dir, 'glance', 'staging') },
    os_glance_tasks_store: { filesystem_store_datadir: join(layout.dir, 'glance', 'tasks') },
    database: database(layout, 'glance'),
    keystone_authtoken: authtoken(layout, layout.users.glance, 'image'),
    paste_deploy: { flavor: 'keystone', config_file: join(layout.pasteDir, 'glance-api-paste.ini') },
    oslo_concurrency: { lock_path: join(layout.dir, 'locks') },
    oslo_policy: { enforce_scope: false, enforce_new_defaults: false },
  });
}

/**
 * Cinder with one backend of the fake driver Debian ships in cinder's test tree: real volume states and
 * attachment API, no block device.
 */
export function cinderConf(layout: CloudLayout): string {
  const cinder = layout.users.cinder;
  return ini({
    DEFAULT: {
      transport_url: layout.transportUrl,
      use_stderr: true,
      state_path: join(layout.dir, 'cinder'),
      host: layout.host,
      my_ip: '127.0.0.1',
      auth_strategy: 'keystone',
      api_paste_config: join(layout.pasteDir, 'cinder-api-paste.ini'),
      osapi_volume_listen: '127.0.0.1',
      osapi_volume_listen_port: layout.ports.cinder,
      osapi_volume_workers: 1,
      enabled_backends: 'fake',
      periodic_fuzzy_delay: 0,
      // Tests create many volumes in one project.
      quota_volumes: -1,
      quota_gigabytes: -1,
      quota_snapshots: -1,
      quota_backups: -1,
      per_volume_size_limit: -1,
    },
    fake: {
      volume_driver: 'cinder.tests.fake_driver.FakeLoggingVolumeDriver',
      volume_backend_name: 'fake',
    },
    database: database(layout, 'cinder'),
    keystone_authtoken: authtoken(layout, cinder, 'volumev3'),
    service_user: { send_service_user_token: true, ...passwordAuth(layout, cinder) },
    nova: { ...client(layout, cinder), interface: 'public' },
    oslo_concurrency: { lock_path: join(layout.dir, 'locks') },
    oslo_messaging_rabbit: { heartbeat_timeout_threshold: 0 },
    oslo_policy: { enforce_scope: false, enforce_new_defaults: false },
  });
}
