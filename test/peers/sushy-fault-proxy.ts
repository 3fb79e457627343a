import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SushyEmulator } from './sushy.js';

/** What a matching request gets instead of the emulator's answer. */
export type ProxyFault =
  /** This status, with a Redfish error body unless one is given. */
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** The connection is cut before any answer. */
  | { drop: true }
  /** No answer at all, until the client gives up. */
  | { hang: true };

/** One request that reached the proxy, and the status it got (none when dropped or hung). */
export interface ProxiedRequest {
  method: string;
  path: string;
  status?: number;
  /** Whether the answer came from a fault rather than the emulator. */
  injected: boolean;
}

/**
 * A TLS proxy in front of sushy-emulator, with a certificate from the emulator's CA, that counts every
 * request and answers chosen ones with a fault: a BMC that says 403 or 503, cuts the connection, or hangs.
 * Requests it does not fault reach the emulator unchanged (headers, body, answer), but for session tokens.
 */
export interface SushyFaultProxy {
  /** `https://127.0.0.1:<port>`. */
  address: string;
  readonly requests: ProxiedRequest[];
  /** The next `times` requests matching `method` and `path` get `fault` (in the order the rules were added). */
  fail(fault: ProxyFault, match?: { method?: string; path?: RegExp; times?: number }): void;
  /** Forgets the rules and the request log. */
  reset(): void;
  /** Sessions the proxy's SessionService holds now. */
  readonly openSessions: number;
  /** Forgets every session, as a BMC does when they time out. */
  expireSessions(): void;
  stop(): Promise<void>;
}

/**
 * Starts the proxy on a free loopback port. sushy-tools 2.2.0 has no SessionService, so the proxy serves one
 * (DSP0266 §13.3.4: `POST /redfish/v1/SessionService/Sessions` → 201, `X-Auth-Token`, `Location`; `DELETE`
 * the session to log out) and passes a request with a valid token on to sushy with the account's basic auth.
 *
 * @example
 * const proxy = await startSushyFaultProxy(sushy);
 * proxy.fail({ status: 403 }, { method: 'POST', path: /ComputerSystem\.Reset$/ });
 */
export async function startSushyFaultProxy(sushy: SushyEmulator): Promise<SushyFaultProxy> {
  const certificate = await sushy.issueServerCertificate(`proxy-${Date.now()}`);
  const requests: ProxiedRequest[] = [];
  let rules: Array<{ method?: string; path?: RegExp; left: number; fault: ProxyFault }> = [];
  const sockets = new Set<Socket>();
  const sessions = new Map<string, string>();
  const basic = `Basic ${Buffer.from(`${sushy.account.username}:${sushy.account.password}`).toString('base64')}`;
  const redfishError = (message: string) => ({
    error: {
      code: 'Base.1.8.GeneralError',
      message,
      '@Message.ExtendedInfo': [{ MessageId: 'Base.1.8.GeneralError', Message: message }],
    },
  });

  /** Answers the SessionService itself; true when it did. Swaps a valid token for the account otherwise. */
  const sessionService = (
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    record: ProxiedRequest,
  ) => {
    const answer = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, {
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      });
      res.end(json === undefined ? undefined : JSON.stringify(json));
      return true;
    };
    if (req.url === '/redfish/v1/SessionService/Sessions' && req.method === 'POST') {
      let login: { UserName?: unknown; Password?: unknown } = {};
      try {
        login = JSON.parse(body.toString('utf8')) as typeof login;
      } catch {
        return answer(400, redfishError('the body is not JSON'));
      }
      if (login.UserName !== sushy.account.username || login.Password !== sushy.account.password) {
        return answer(401, redfishError('Invalid username or password'));
      }
      const id = randomUUID();
      const token = randomUUID();
      sessions.set(token, id);
      const location = `/redfish/v1/SessionService/Sessions/${id}`;
      return answer(
        201,
        { '@odata.id': location, Id: id, UserName: login.UserName },
        { 'x-auth-token': token, location },
      );
    }
    const token = req.headers['x-auth-token'];
    if (typeof token !== 'string') return false;
    const session = sessions.get(token);
    if (session === undefined) return answer(401, redfishError('There is no valid session established'));
    if (req.method === 'DELETE' && req.url === `/redfish/v1/SessionService/Sessions/${session}`) {
      sessions.delete(token);
      return answer(204);
    }
    delete req.headers['x-auth-token'];
    req.headers.authorization = basic;
    return false;
  };

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse, record: ProxiedRequest) => {
    const upstream = httpsRequest(
      {
        host: '127.0.0.1',
        port: sushy.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: `127.0.0.1:${sushy.port}` },
        ca: sushy.caPem,
        timeout: 30_000,
      },
      (answer) => {
        record.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('sushy did not answer')));
    upstream.on('error', () => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    upstream.end(body);
  };

  const server = createServer({ cert: certificate.certPem, key: certificate.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const record: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', injected: false };
      requests.push(record);
      const rule = rules.find(
        (r) =>
          r.left > 0 && (!r.method || r.method === req.method) && (!r.path || r.path.test(req.url ?? '')),
      );
      if (!rule) {
        const body = Buffer.concat(chunks);
        if (!sessionService(req, body, res, record)) forward(req, body, res, record);
        return;
      }
      rule.left--;
      record.injected = true;
      const fault = rule.fault;
      if ('drop' in fault) {
        req.socket.destroy();
        return;
      }
      if ('hang' in fault) return;
      record.status = fault.status;
      const body = fault.body ?? {
        error: {
          code: 'Base.1.8.GeneralError',
          message: `injected by the test: HTTP ${fault.status}`,
          '@Message.ExtendedInfo': [
            { MessageId: 'Base.1.8.GeneralError', Message: `injected ${fault.status}` },
          ],
        },
      };
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(JSON.stringify(body));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    address: `https://127.0.0.1:${port}`,
    requests,
    fail(fault, match = {}) {
      rules.push({
        ...(match.method ? { method: match.method } : {}),
        ...(match.path ? { path: match.path } : {}),
        left: match.times ?? 1,
        fault,
      });
    },
    reset() {
      rules = [];
      requests.length = 0;
    },
    get openSessions() {
      return sessions.size;
    },
    expireSessions() {
      sessions.clear();
    },
    async stop() {
      // Hung requests keep their sockets open: close them, or `close` waits for them forever.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
