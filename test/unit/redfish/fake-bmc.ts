/**
 * An in-process BMC for the Redfish unit tests, written from DSP0266/DSP0268: systems with a `PowerState` that
 * changes some time after a reset, the reset action with its allowed values inline or in an ActionInfo, basic
 * and session authentication, and faults queued per request. It is a `WireSend`, so no socket is opened, and
 * it runs on a virtual clock.
 */
import type { CredentialSource, Credentials } from '../../../drivers/redfish/client/bmc-client.js';
import { WireError, type WireRequest, type WireResponse } from '../../../drivers/redfish/client/transport.js';

/** A clock that starts at a fixed instant; `sleep` moves it forward at once. */
export class VirtualClock {
  constructor(public time = Date.parse('2026-11-22T10:00:00Z')) {}
  readonly slept: number[] = [];
  readonly now = (): number => this.time;
  readonly sleep = async (ms: number): Promise<void> => {
    this.slept.push(ms);
    this.time += ms;
  };
}

export interface FakeSystem {
  powerState: string | null;
  /** When a reset lands, and what it lands on. */
  pending?: { state: string; at: number };
  /** Inline `ResetType@Redfish.AllowableValues`; `null` leaves it out. */
  allowable?: string[] | null;
  /** Lists the allowed values in an ActionInfo resource instead. */
  actionInfo?: string[];
  /** No `#ComputerSystem.Reset` action at all. */
  noResetAction?: boolean;
}

/** A queued answer for the next matching request: a status, a dropped connection, or no answer in time. */
export type Fault =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { drop: true; apply?: boolean }
  | { hang: true };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

const DEFAULT_ALLOWED = ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi'];

export class FakeBmc {
  readonly systems = new Map<string, FakeSystem>();
  readonly requests: RecordedRequest[] = [];
  readonly account: Credentials = { username: 'fencer', password: 'p4ss, word ' };
  /** How long a reset takes to land. */
  transitionMs = 3000;
  /** Answer 409 to a reset that changes nothing, as iDRAC does ("already powered off"). */
  conflictWhenAlready = false;
  /** Show `PoweringOff`/`PoweringOn` while a reset is landing (some BMCs do; sushy-tools shows the old state). */
  reportTransitions = false;
  readonly #faults: Array<{ method?: string; path?: RegExp; fault: Fault }> = [];
  readonly #sessions = new Set<string>();
  #sessionCount = 0;

  constructor(readonly clock: VirtualClock) {}

  addSystem(id: string, system: Partial<FakeSystem> = {}): this {
    this.systems.set(id, { powerState: 'On', ...system });
    return this;
  }

  /** The next request matching `method` and `path` gets `fault` (queued in order). */
  fail(fault: Fault, match: { method?: string; path?: RegExp } = {}): this {
    this.#faults.push({ ...match, fault });
    return this;
  }

  count(method: string, path?: RegExp): number {
    return this.requests.filter((r) => r.method === method && (!path || path.test(r.path))).length;
  }

  get openSessions(): number {
    return this.#sessions.size;
  }

  readonly send = async (request: WireRequest): Promise<WireResponse> => {
    const body = request.body === undefined ? undefined : (JSON.parse(request.body) as unknown);
    this.requests.push({ method: request.method, path: request.path, headers: request.headers, body });
    const index = this.#faults.findIndex(
      (f) => (!f.method || f.method === request.method) && (!f.path || f.path.test(request.path)),
    );
    if (index >= 0) {
      const [{ fault }] = this.#faults.splice(index, 1) as [{ fault: Fault }];
      if ('drop' in fault) {
        // The BMC acted on it, but the answer never came back.
        if (fault.apply) this.#route(request.method, request.path, request.headers, body);
        throw new Error('socket hang up');
      }
      if ('hang' in fault) {
        this.clock.time += request.timeoutMs;
        throw new WireError(`no answer within ${request.timeoutMs} ms`);
      }
      return reply(fault.status, fault.body, fault.headers);
    }
    return this.#route(request.method, request.path, request.headers, body);
  };

  /** The account as a credential source that counts its reloads. */
  credentials(): CredentialSource & { reloads: number; next?: Credentials } {
    const source = {
      reloads: 0,
      next: undefined as Credentials | undefined,
      current: () => current,
      reload: () => {
        source.reloads++;
        if (source.next) current = source.next;
        return current;
      },
    };
    let current: Credentials = { ...this.account };
    return source;
  }

  #route(method: string, path: string, headers: Record<string, string>, body: unknown): WireResponse {
    if (method === 'POST' && path === '/redfish/v1/SessionService/Sessions') return this.#login(body);
    if (!this.#authorised(headers)) {
      return reply(401, redfishError('Base.1.8.NoValidSession', 'There is no valid session established'));
    }
    const session = /^\/redfish\/v1\/SessionService\/Sessions\/(\d+)$/.exec(path);
    if (method === 'DELETE' && session) {
      this.#sessions.delete(`token-${session[1]}`);
      return reply(204);
    }
    if (method === 'GET' && path === '/redfish/v1/Systems') {
      const members = [...this.systems.keys()].map((id) => ({ '@odata.id': `/redfish/v1/Systems/${id}` }));
      return reply(200, {
        '@odata.id': '/redfish/v1/Systems',
        'Members@odata.count': members.length,
        Members: members,
      });
    }
    const info = /^\/redfish\/v1\/Systems\/([^/]+)\/ResetActionInfo$/.exec(path);
    if (method === 'GET' && info) {
      const system = this.systems.get(decodeURIComponent(info[1] as string));
      if (!system?.actionInfo) return reply(404, redfishError('Base.1.8.ResourceMissingAtURI', 'not found'));
      return reply(200, {
        '@odata.id': path,
        Id: 'ResetActionInfo',
        Parameters: [
          { Name: 'ResetType', Required: true, DataType: 'String', AllowableValues: system.actionInfo },
        ],
      });
    }
    const reset = /^\/redfish\/v1\/Systems\/([^/]+)\/Actions\/ComputerSystem\.Reset$/.exec(path);
    if (method === 'POST' && reset) return this.#reset(decodeURIComponent(reset[1] as string), body);
    const one = /^\/redfish\/v1\/Systems\/([^/]+)$/.exec(path);
    if (method === 'GET' && one) {
      const id = decodeURIComponent(one[1] as string);
      const system = this.#settle(id);
      if (!system) return reply(404, redfishError('Base.1.8.ResourceMissingAtURI', `${path} was not found`));
      return reply(200, this.systemBody(id, system));
    }
    return reply(404, redfishError('Base.1.8.ResourceMissingAtURI', `${path} was not found`));
  }

  #settle(id: string): FakeSystem | undefined {
    const system = this.systems.get(id);
    if (system?.pending && this.clock.now() >= system.pending.at) {
      system.powerState = system.pending.state;
      delete system.pending;
    }
    return system;
  }

  /** The ComputerSystem body of a system in a given state, for answers a test queues. */
  systemBody(id: string, system: FakeSystem): unknown {
    const uri = `/redfish/v1/Systems/${id}`;
    const action: Record<string, unknown> = { target: `${uri}/Actions/ComputerSystem.Reset` };
    if (system.actionInfo) action['@Redfish.ActionInfo'] = `${uri}/ResetActionInfo`;
    else if (system.allowable !== null)
      action['ResetType@Redfish.AllowableValues'] = system.allowable ?? DEFAULT_ALLOWED;
    return {
      '@odata.id': uri,
      '@odata.type': '#ComputerSystem.v1_20_0.ComputerSystem',
      Id: id,
      Name: `System ${id}`,
      PowerState:
        this.reportTransitions && system.pending
          ? system.pending.state === 'Off'
            ? 'PoweringOff'
            : 'PoweringOn'
          : system.powerState,
      Status: { State: 'Enabled', Health: 'OK' },
      ...(system.noResetAction ? {} : { Actions: { '#ComputerSystem.Reset': action } }),
    };
  }

  #reset(id: string, body: unknown): WireResponse {
    const system = this.#settle(id);
    if (!system) return reply(404, redfishError('Base.1.8.ResourceMissingAtURI', 'no such system'));
    const type = (body as { ResetType?: unknown } | undefined)?.ResetType;
    const allowed = system.actionInfo ?? system.allowable ?? DEFAULT_ALLOWED;
    if (typeof type !== 'string' || !allowed.includes(type)) {
      return reply(
        400,
        redfishError('Base.1.8.ActionParameterValueNotInList', `${String(type)} is not allowed`),
      );
    }
    const target =
      type === 'ForceOff' || type === 'GracefulShutdown' ? 'Off' : type.includes('On') ? 'On' : undefined;
    if (target === undefined) return reply(204);
    const already = system.powerState === target && !system.pending;
    if (already && this.conflictWhenAlready) {
      return reply(
        409,
        redfishError('Base.1.8.ActionNotSupported', `The server is already powered ${target}`),
      );
    }
    if (!already) system.pending = { state: target, at: this.clock.now() + this.transitionMs };
    return reply(204);
  }

  #login(body: unknown): WireResponse {
    const { UserName, Password } = (body ?? {}) as { UserName?: string; Password?: string };
    if (UserName !== this.account.username || Password !== this.account.password) {
      return reply(401, redfishError('Base.1.8.InsufficientPrivilege', 'Invalid username or password'));
    }
    this.#sessionCount++;
    const token = `token-${this.#sessionCount}`;
    this.#sessions.add(token);
    return reply(
      201,
      { '@odata.id': `/redfish/v1/SessionService/Sessions/${this.#sessionCount}`, UserName },
      {
        'x-auth-token': token,
        location: `/redfish/v1/SessionService/Sessions/${this.#sessionCount}`,
      },
    );
  }

  /** Forgets every session, as a BMC does when they time out or it restarts. */
  expireSessions(): void {
    this.#sessions.clear();
  }

  #authorised(headers: Record<string, string>): boolean {
    const token = headers['X-Auth-Token'];
    if (token !== undefined) return this.#sessions.has(token);
    const basic = headers.Authorization;
    if (!basic?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(basic.slice('Basic '.length), 'base64').toString('utf8');
    return decoded === `${this.account.username}:${this.account.password}`;
  }
}

export function redfishError(messageId: string, message: string): unknown {
  return {
    error: {
      code: messageId,
      message: 'A general error has occurred. See ExtendedInfo for more information.',
      '@Message.ExtendedInfo': [{ MessageId: messageId, Message: message, Severity: 'Warning' }],
    },
  };
}

function reply(status: number, body?: unknown, headers: Record<string, string> = {}): WireResponse {
  return {
    status,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    text: body === undefined ? '' : JSON.stringify(body),
  };
}
