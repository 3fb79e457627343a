/**
 * rabbitmq for the test OpenStack's RPC, on loopback only: its own epmd on a free port (never the
 * machine's 4369, which another test or a system rabbitmq may hold), its own node name, Mnesia and logs in
 * the cloud's directory. Both are peer processes of the harness, stopped by their process groups.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, type PeerProcess, requirePeer, startProcess } from '../process.js';

const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const EPMD = '/usr/bin/epmd';

/** A running broker and its port mapper. */
export interface RabbitMq {
  /** oslo.messaging's `transport_url`. */
  transportUrl: string;
  processes: PeerProcess[];
  stop(): Promise<void>;
}

/**
 * Starts epmd and rabbitmq-server (Debian `rabbitmq-server`) in `dir`, ready once the broker answers the
 * AMQP protocol header.
 */
export async function startRabbitMq(dir: string, amqpPort: number, hint: string): Promise<RabbitMq> {
  const server = requirePeer(RABBITMQ_SERVER, hint);
  const epmdBin = requirePeer(EPMD, hint);
  const [epmdPort, distPort] = [await freePort(), await freePort()];
  const epmd = await startProcess({
    name: 'epmd',
    command: epmdBin,
    args: ['-address', '127.0.0.1', '-port', String(epmdPort)],
    env: { ERL_EPMD_ADDRESS: '127.0.0.1' },
    ready: () => answers(epmdPort),
    timeoutMs: 10_000,
  });
  try {
    await mkdir(dir, { recursive: true });
    const envFile = join(dir, 'rabbitmq-env.conf');
    await writeFile(envFile, '');
    await writeFile(join(dir, 'rabbitmq.conf'), 'loopback_users.guest = true\n');
    const rabbit = await startProcess({
      name: 'rabbitmq',
      command: server,
      cwd: dir,
      env: {
        // The Erlang cookie goes to $HOME.
        HOME: dir,
        ERL_EPMD_ADDRESS: '127.0.0.1',
        ERL_EPMD_PORT: String(epmdPort),
        RABBITMQ_CONF_ENV_FILE: envFile,
        RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
        RABBITMQ_NODENAME: `rabbit-${amqpPort}@localhost`,
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_NODE_PORT: String(amqpPort),
        RABBITMQ_DIST_PORT: String(distPort),
        RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
        RABBITMQ_LOG_BASE: join(dir, 'log'),
        RABBITMQ_LOGS: '-',
        RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
      },
      ready: () => speaksAmqp(amqpPort),
      timeoutMs: 60_000,
    });
    return {
      transportUrl: rabbitTransportUrl(amqpPort),
      processes: [epmd, rabbit],
      async stop() {
        await rabbit.stop();
        await epmd.stop();
      },
    };
  } catch (error) {
    await epmd.stop();
    throw error;
  }
}

/** oslo.messaging's URL of a broker on `port` (the guest user, allowed from loopback only). */
export function rabbitTransportUrl(port: number): string {
  return `rabbit://guest:guest@127.0.0.1:${port}/`;
}

/** A TCP listener accepts on `port`. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The broker answers the AMQP 0-9-1 protocol header with a method frame (Connection.Start). */
function speaksAmqp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])));
    socket.once('data', (data) => done(data[0] === 1));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}
