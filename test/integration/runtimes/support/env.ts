import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createCertificateAuthority } from '../../../peers/certs.js';
import { freePort } from '../../../peers/process.js';

/** A token the runtimes under test accept. */
export const TOKEN = 'runtime-test-token-0123456789';
/** The key that seals the journals of an armed runtime under test (ALERTFENCE_JOURNAL_KEY). */
export const JOURNAL_KEY = 'runtime-test-journal-key-0123456789abcdef';
export const WRONG_TOKEN = 'wrong-token-not-configured-000';

/**
 * Unsets what a developer's shell may carry into a spawned function (alertfence settings, Kubernetes and
 * AWS access), so each test passes exactly the environment it means. `spawn` drops undefined values.
 */
export function isolatedEnv(env: Record<string, string>): Record<string, string | undefined> {
  const cleared: Record<string, string | undefined> = {};
  for (const key of Object.keys(process.env)) {
    if (/^(ALERTFENCE_|AWS_|KUBE|OS_)/.test(key) || key === 'PORT' || key === 'HOST')
      cleared[key] = undefined;
  }
  return { ...cleared, ...env };
}

/**
 * Writes a kubeconfig for `server` (any token; the server is not expected to accept it). It names a CA of its
 * own, never `insecure-skip-tls-verify`, which alertfence refuses: the server is unreachable or never answers,
 * so no certificate is ever checked against it.
 */
export async function writeKubeconfig(dir: string, server: string, name = 'kubeconfig'): Promise<string> {
  const path = join(dir, name);
  const caDir = join(dir, `${name}-ca`);
  await mkdir(caDir, { recursive: true });
  const ca = await createCertificateAuthority(caDir, 'alertfence-unused-test-ca');
  await writeFile(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'c',
          cluster: { server, 'certificate-authority-data': Buffer.from(ca.certPem).toString('base64') },
        },
      ],
      users: [{ name: 'u', user: { token: 'not-a-real-token' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
}

/** A loopback address where nothing listens: connections are refused at once. */
export async function refusedAddress(): Promise<string> {
  return `https://127.0.0.1:${await freePort()}`;
}

/**
 * A TCP server that accepts connections and never answers: a peer that hangs, to make a request outlive a
 * runtime's time limit.
 */
export async function startTarpit(): Promise<{ url: string; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tarpit has no port');
  return {
    url: `https://127.0.0.1:${address.port}`,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves once a TCP connection to 127.0.0.1:port succeeds. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
