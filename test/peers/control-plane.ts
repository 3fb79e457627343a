import { readdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
} from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { type KubeEndpoint, loadKubeconfigFile } from '../../functions/kube/kubeconfig.js';
import { createCertificateAuthority, createServiceAccountKeys, issueCertificate } from './certs.js';
import {
  freePort,
  type PeerProcess,
  peerCacheDir,
  requirePeer,
  startProcess,
  type TempDir,
  tempDir,
  waitUntil,
} from './process.js';

/** The command that builds the Go peers; error messages point here. */
export const GO_BUILD_HINT = 'bash test/peers/go/build.sh';

/** Where alertfence's RBAC lives; applied as is to every control plane. */
export const RBAC_DIR = new URL('../../infra/kubernetes/', import.meta.url);

/** The namespace and ServiceAccount of `infra/kubernetes/`. */
export const ALERTFENCE_NAMESPACE = 'alertfence';
export const ALERTFENCE_SERVICE_ACCOUNT = 'alertfence';

/**
 * kwok manages the Nodes that carry this label; removing it is the kubelet dying. A label, not an annotation:
 * kwok 0.7 matches its annotation selector client-side and drops the update that removes the annotation, so
 * it would keep renewing the Lease; a label selector is applied by the API server, whose watch then sends
 * DELETED and kwok lets the Node go (pkg/utils/informer/event.go, node_controller.go).
 */
export const KWOK_LABEL = 'kwok.x-k8s.io/node';
const KWOK_LABEL_VALUE = 'fake';

export interface ControlPlaneOptions {
  /** Run kube-controller-manager with every default controller (node-lifecycle, pod-gc, taint-eviction…). */
  controllers?: boolean;
  /** Run kube-scheduler. */
  scheduler?: boolean;
  /** Run kwok, the fake kubelets of `createNode`. */
  kwok?: boolean;
  /** How long the node-lifecycle controller waits for a heartbeat before `Ready=Unknown`. Default `10s`. */
  nodeMonitorGracePeriod?: string;
  /**
   * Duration of kwok's kubelet Leases; kwok renews them every quarter of it. Default 8 (renewed every 2 s):
   * kubelet's 40 s renews every 10 s, which a 10 s grace period would read as a missed heartbeat.
   */
  nodeLeaseDurationSeconds?: number;
  /**
   * kwok Stage documents (YAML, `---`-separated) added to kwok's configuration. kwok replaces its default
   * stages of a kind only when the configuration has stages of that kind, so pod stages leave the default
   * node stages (heartbeats) in place.
   */
  kwokStages?: string;
  /**
   * Flags added to a component's own, e.g. a controller-manager allowed more than its default 20 requests per
   * second when hundreds of Nodes change at once (`--kube-api-qps`).
   */
  extraArgs?: Partial<Record<'kube-apiserver' | 'kube-controller-manager', string[]>>;
}

/** How long each part of the start took, in ms. */
export interface StartTimes {
  certificates: number;
  etcd: number;
  apiserver: number;
  rbac: number;
  components: number;
  total: number;
}

export interface KwokNodeOptions {
  providerID?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The kwok of `startKubelets(group)` runs this Node's kubelet, not the control plane's own kwok. */
  group?: string;
}

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';

/** A running control plane; `stop()` ends every process and removes every file. */
export interface ControlPlane {
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** Path of a kubeconfig with a `system:masters` client certificate. */
  adminKubeconfig: string;
  /** Path of a kubeconfig with a token of the alertfence ServiceAccount, bound only to `infra/kubernetes/`. */
  alertfenceKubeconfig: string;
  /** The two kubeconfigs, loaded. */
  admin: KubeConfig;
  alertfence: KubeConfig;
  /** The same identity as alertfence's own client reads it. */
  alertfenceEndpoint: KubeEndpoint;
  startTimes: StartTimes;
  /** Creates a Node run by kwok and waits until it is Ready and its kubelet Lease exists. */
  createNode(name: string, options?: KwokNodeOptions): Promise<V1Node>;
  /** The node's kubelet dies: kwok stops renewing its Lease and its status. */
  stopHeartbeat(name: string): Promise<void>;
  /**
   * Starts a kwok of its own for the Nodes created with `{ group }`: stopping it kills all their kubelets at
   * once and for good (removing a Node's kwok label is no reliable kill: kwok was seen reviving the Node).
   * Stopped with the control plane at the latest.
   */
  startKubelets(group: string): Promise<PeerProcess>;
  /** Creates a namespace with its `default` ServiceAccount (no controller may be there to make it). */
  ensureNamespace(name: string): Promise<void>;
  logs(component: Component): string;
  /** The run's temporary directory (certificates, kubeconfigs, etcd data); removed by `stop()`. */
  dir: string;
  /** Process ids of the running components. */
  pids(): Partial<Record<Component, number>>;
  /**
   * Restarts kube-apiserver on the same port, with the same certificates and etcd data, as an upgrade or a
   * crash would: clients meanwhile find nothing listening. Resolves once it is ready again, with how long it
   * was away.
   */
  restartApiServer(options?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<{ downMs: number }>;
  stop(): Promise<void>;
}

/** Options of a one-off HTTPS probe of a component. */
interface ProbeTls {
  ca?: string;
  cert?: string;
  key?: string;
  /** Components that serve a self-signed certificate of their own (controller-manager, scheduler). */
  insecure?: boolean;
}

function httpsOk(url: string, tls: ProbeTls): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      {
        method: 'GET',
        timeout: 2_000,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        rejectUnauthorized: !tls.insecure,
      },
      (response) => {
        response.resume();
        resolve((response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
    request.end();
  });
}

function binary(name: string): string {
  return requirePeer(join(peerCacheDir(), 'bin', name), GO_BUILD_HINT);
}

/** Apply order: what others refer to first. */
const KIND_ORDER = [
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'Role',
  'ClusterRoleBinding',
  'RoleBinding',
];

/** Reads every manifest in `infra/kubernetes/`, in apply order. */
export async function readRbacManifests(): Promise<KubernetesObject[]> {
  const files = (await readdir(RBAC_DIR)).filter((file) => /\.ya?ml$/.test(file)).sort();
  const objects: KubernetesObject[] = [];
  for (const file of files) {
    const text = await readFile(new URL(file, RBAC_DIR), 'utf8');
    for (const document of parseAllDocuments(text)) {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
      const object = document.toJS() as KubernetesObject | null;
      if (object) objects.push(object);
    }
  }
  const rank = (object: KubernetesObject) => {
    const index = KIND_ORDER.indexOf(object.kind ?? '');
    return index < 0 ? KIND_ORDER.length : index;
  };
  return objects.sort((a, b) => rank(a) - rank(b));
}

function kubeconfigYaml(server: string, caPem: string, user: Record<string, string>): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: 'user', user }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'user' } }],
    'current-context': 'test',
  });
}

function loadKubeconfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

const isConflict = (error: unknown) => error instanceof ApiException && error.code === 409;

/**
 * Starts etcd and kube-apiserver (and, on request, kube-controller-manager, kube-scheduler and kwok) on free
 * loopback ports, with certificates and service-account keys made for this run, alertfence's RBAC applied,
 * and a kubeconfig for an admin and one for the alertfence ServiceAccount. On any failure everything started
 * so far is stopped and removed before the error is thrown.
 *
 * Takes about 4–5 s on a 2-core machine, most of it kube-apiserver's post-start hooks (`startTimes` has the
 * parts); the controller-manager, scheduler and kwok add under a second, started in parallel.
 *
 * @example
 * const cluster = await startControlPlane({ controllers: true, kwok: true });
 * try {
 *   await cluster.createNode('worker-1', { providerID: 'simulated:///i-1' });
 * } finally {
 *   await cluster.stop();
 * }
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  // Fail fast, before anything starts, when a peer is not built.
  const bin = {
    etcd: binary('etcd'),
    apiserver: binary('kube-apiserver'),
    controllerManager: options.controllers ? binary('kube-controller-manager') : '',
    scheduler: options.scheduler ? binary('kube-scheduler') : '',
    kwok: options.kwok ? binary('kwok') : '',
  };
  const processes = new Map<Component, PeerProcess>();
  /** The kwoks of `startKubelets`. */
  const groups = new Set<PeerProcess>();
  let dir: TempDir | undefined;
  const teardown = async () => {
    for (const kubelets of groups) await kubelets.stop();
    // Reverse order of start: clients of the API server first, etcd last.
    for (const name of [
      'kwok',
      'kube-scheduler',
      'kube-controller-manager',
      'kube-apiserver',
      'etcd',
    ] as const) {
      await processes.get(name)?.stop();
    }
    await dir?.remove();
  };

  try {
    dir = await tempDir('alertfence-kube');
    const root = dir.path;
    const times: Partial<StartTimes> = {};

    let mark = Date.now();
    const [ca, saKeys] = await Promise.all([
      createCertificateAuthority(root, 'alertfence-test-ca'),
      createServiceAccountKeys(root),
    ]);
    const [serving, adminCert] = await Promise.all([
      issueCertificate(ca, root, {
        name: 'apiserver',
        commonName: 'kube-apiserver',
        usage: 'server',
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
        ipAddresses: ['127.0.0.1'],
      }),
      issueCertificate(ca, root, {
        name: 'admin',
        commonName: 'alertfence-test-admin',
        organization: 'system:masters',
        usage: 'client',
      }),
    ]);
    times.certificates = Date.now() - mark;

    mark = Date.now();
    const [etcdClient, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeer}`;
    processes.set(
      'etcd',
      await startProcess({
        name: 'etcd',
        command: bin.etcd,
        args: [
          '--name=default',
          `--data-dir=${join(root, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${etcdPeerUrl}`,
          `--initial-advertise-peer-urls=${etcdPeerUrl}`,
          `--initial-cluster=default=${etcdPeerUrl}`,
          '--log-level=warn',
          // Throwaway data: durability costs seconds on a small disk and buys nothing here.
          '--unsafe-no-fsync',
        ],
        ready: `${etcdUrl}/health`,
      }),
    );
    times.etcd = Date.now() - mark;

    mark = Date.now();
    const server = `https://127.0.0.1:${apiPort}`;
    const adminTls = { ca: ca.certPem, cert: adminCert.certPem, key: adminCert.keyPem };
    const startApiServer = () =>
      startProcess({
        name: 'kube-apiserver',
        command: bin.apiserver,
        args: [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          `--cert-dir=${join(root, 'apiserver')}`,
          `--tls-cert-file=${serving.certPath}`,
          `--tls-private-key-file=${serving.keyPath}`,
          `--client-ca-file=${ca.certPath}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${saKeys.publicKeyPath}`,
          `--service-account-signing-key-file=${saKeys.privateKeyPath}`,
          '--service-cluster-ip-range=10.96.0.0/16',
          '--authorization-mode=Node,RBAC',
          // The `kubernetes` Service's endpoints would point at loopback, which Endpoints validation refuses.
          '--endpoint-reconciler-type=none',
          '--profiling=false',
          ...(options.extraArgs?.['kube-apiserver'] ?? []),
        ],
        // /readyz waits for the post-start hooks, bootstrap RBAC roles included.
        ready: () => httpsOk(`${server}/readyz`, adminTls),
        timeoutMs: 120_000,
      });
    processes.set('kube-apiserver', await startApiServer());
    times.apiserver = Date.now() - mark;

    const adminKubeconfig = join(root, 'admin.kubeconfig');
    await writeFile(
      adminKubeconfig,
      kubeconfigYaml(server, ca.certPem, {
        'client-certificate-data': Buffer.from(adminCert.certPem).toString('base64'),
        'client-key-data': Buffer.from(adminCert.keyPem).toString('base64'),
      }),
      { mode: 0o600 },
    );
    const admin = loadKubeconfig(adminKubeconfig);
    const core = admin.makeApiClient(CoreV1Api);
    const coordination = admin.makeApiClient(CoordinationV1Api);

    mark = Date.now();
    const objects = KubernetesObjectApi.makeApiClient(admin);
    for (const manifest of await readRbacManifests()) {
      await objects.create(manifest);
    }
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: ALERTFENCE_SERVICE_ACCOUNT,
      namespace: ALERTFENCE_NAMESPACE,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const token = tokenRequest.status?.token;
    if (!token) throw new Error('TokenRequest for the alertfence ServiceAccount returned no token');
    const alertfenceKubeconfig = join(root, 'alertfence.kubeconfig');
    await writeFile(alertfenceKubeconfig, kubeconfigYaml(server, ca.certPem, { token }), { mode: 0o600 });
    times.rbac = Date.now() - mark;

    mark = Date.now();
    const component = async (
      name: Component,
      command: string,
      args: string[],
      ready: () => Promise<boolean>,
    ) => {
      processes.set(name, await startProcess({ name, command, args, ready, timeoutMs: 120_000 }));
    };
    // The controller-manager and the scheduler serve /healthz with a self-signed certificate of their own.
    const healthz = (port: number) => () => httpsOk(`https://127.0.0.1:${port}/healthz`, { insecure: true });
    // Each component talks to the API server as admin: their own RBAC is not what these tests prove.
    const delegated = [
      `--kubeconfig=${adminKubeconfig}`,
      `--authentication-kubeconfig=${adminKubeconfig}`,
      `--authorization-kubeconfig=${adminKubeconfig}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
    ];
    const starts: Promise<void>[] = [];
    if (options.controllers) {
      const port = await freePort();
      starts.push(
        component(
          'kube-controller-manager',
          bin.controllerManager,
          [
            ...delegated,
            `--secure-port=${port}`,
            `--cert-dir=${join(root, 'controller-manager')}`,
            '--controllers=*',
            `--node-monitor-grace-period=${options.nodeMonitorGracePeriod ?? '10s'}`,
            '--node-monitor-period=1s',
            `--service-account-private-key-file=${saKeys.privateKeyPath}`,
            `--root-ca-file=${ca.certPath}`,
            `--cluster-signing-cert-file=${ca.certPath}`,
            `--cluster-signing-key-file=${ca.keyPath}`,
            ...(options.extraArgs?.['kube-controller-manager'] ?? []),
          ],
          healthz(port),
        ),
      );
    }
    if (options.scheduler) {
      const port = await freePort();
      starts.push(
        component(
          'kube-scheduler',
          bin.scheduler,
          [...delegated, `--secure-port=${port}`, `--cert-dir=${join(root, 'scheduler')}`],
          healthz(port),
        ),
      );
    }
    /** kwok for the Nodes labelled `KWOK_LABEL=<group>`, configured in a file of its own. */
    const kwokArgs = async (group: string) => {
      const port = await freePort();
      // An explicit (empty) configuration, so a ~/.kwok/kwok.yaml on the machine cannot change the test.
      const kwokConfig = join(root, `kwok-${group}.yaml`);
      const configuration =
        'apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions: {}\n';
      await writeFile(
        kwokConfig,
        options.kwokStages ? `${configuration}---\n${options.kwokStages}` : configuration,
      );
      const args = [
        `--kubeconfig=${adminKubeconfig}`,
        `--config=${kwokConfig}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-label-selector=${KWOK_LABEL}=${group}`,
        `--node-lease-duration-seconds=${options.nodeLeaseDurationSeconds ?? 8}`,
        `--server-address=127.0.0.1:${port}`,
      ];
      const ready = async () => {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        await response.body?.cancel();
        return response.ok;
      };
      return { args, ready };
    };
    if (options.kwok) {
      const { args, ready } = await kwokArgs(KWOK_LABEL_VALUE);
      starts.push(component('kwok', bin.kwok, args, ready));
    }
    const outcomes = await Promise.allSettled(starts);
    const failed = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    times.components = Date.now() - mark;
    times.total = Date.now() - started;

    const ensureNamespace = async (name: string) => {
      for (const create of [
        () => core.createNamespace({ body: { metadata: { name } } }),
        () =>
          core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'default' } } }),
      ]) {
        try {
          await create();
        } catch (error) {
          if (!isConflict(error)) throw error;
        }
      }
    };

    return {
      server,
      adminKubeconfig,
      alertfenceKubeconfig,
      admin,
      alertfence: loadKubeconfig(alertfenceKubeconfig),
      alertfenceEndpoint: loadKubeconfigFile(alertfenceKubeconfig),
      startTimes: times as StartTimes,
      ensureNamespace,
      async createNode(name, nodeOptions = {}) {
        if (!options.kwok && !nodeOptions.group) {
          throw new Error('createNode needs a control plane started with { kwok: true }, or a group');
        }
        await core.createNode({
          body: {
            metadata: {
              name,
              labels: {
                'kubernetes.io/hostname': name,
                ...nodeOptions.labels,
                [KWOK_LABEL]: nodeOptions.group ?? KWOK_LABEL_VALUE,
              },
              ...(nodeOptions.annotations ? { annotations: nodeOptions.annotations } : {}),
            },
            spec: nodeOptions.providerID ? { providerID: nodeOptions.providerID } : {},
          },
        });
        return waitUntil(
          async () => {
            const [node, lease] = await Promise.all([
              core.readNode({ name }),
              coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' }),
            ]);
            const ready = node.status?.conditions?.find((condition) => condition.type === 'Ready');
            return ready?.status === 'True' && lease.spec?.renewTime ? node : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 250, what: `kwok node ${name} to be Ready with a kubelet Lease` },
        );
      },
      async stopHeartbeat(name) {
        const escaped = KWOK_LABEL.replace(/~/g, '~0').replace(/\//g, '~1');
        await core.patchNode(
          { name, body: [{ op: 'remove', path: `/metadata/labels/${escaped}` }] },
          setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
        );
      },
      async startKubelets(group) {
        if (group === KWOK_LABEL_VALUE) throw new Error(`group ${group} is the control plane's own kwok`);
        const { args, ready } = await kwokArgs(group);
        const kubelets = await startProcess({
          name: `kwok-${group}`,
          command: binary('kwok'),
          args,
          ready,
          timeoutMs: 60_000,
        });
        groups.add(kubelets);
        return kubelets;
      },
      logs: (name) => processes.get(name)?.logs() ?? '',
      dir: root,
      pids: () => Object.fromEntries([...processes].map(([name, peer]) => [name, peer.pid])),
      async restartApiServer(restart = {}) {
        const running = processes.get('kube-apiserver');
        const down = Date.now();
        if (running && restart.signal === 'SIGKILL') process.kill(-running.pid, 'SIGKILL');
        await running?.stop();
        processes.set('kube-apiserver', await startApiServer());
        return { downMs: Date.now() - down };
      },
      stop: teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}
