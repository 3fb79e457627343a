/**
 * In-process doubles for the OpenStack unit tests: a routed `fetch` that never touches the network and a
 * virtual clock whose `sleep` advances time instantly.
 */

export interface RecordedCall {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface Reply {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
}

type Handler = (call: RecordedCall, match: RegExpExecArray) => Reply | Promise<Reply> | 'hang';

/** A `fetch` answering from routes; unmatched requests are a 599 so a test notices them. */
export class RoutedFetch {
  readonly calls: RecordedCall[] = [];
  readonly #routes: Array<{ method: string; path: RegExp; handler: Handler }> = [];

  on(method: string, path: RegExp, handler: Handler | Reply): this {
    this.#routes.unshift({ method, path, handler: typeof handler === 'function' ? handler : () => handler });
    return this;
  }

  /** Answers the next matching requests from `replies` in order, then falls through to older routes. */
  sequence(method: string, path: RegExp, replies: Array<Reply | 'hang'>): this {
    const queue = [...replies];
    const route = {
      method,
      path,
      handler: (() => {
        const next = queue.shift();
        if (queue.length === 0) this.#routes.splice(this.#routes.indexOf(route), 1);
        return next ?? { status: 599 };
      }) as Handler,
    };
    this.#routes.unshift(route);
    return this;
  }

  count(method: string, path: RegExp): number {
    return this.calls.filter((c) => c.method === method && path.test(new URL(c.url).pathname)).length;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? 'GET';
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    const call: RecordedCall = { method, url, headers, body };
    this.calls.push(call);
    const path = new URL(url).pathname;
    for (const route of this.#routes) {
      if (route.method !== method) continue;
      const match = route.path.exec(path);
      if (!match) continue;
      const reply = await route.handler(call, match);
      if (reply === 'hang') return hang(init?.signal ?? undefined);
      if (reply.status === 0) throw new TypeError('fetch failed');
      return new Response(
        reply.json === undefined || reply.status === 204 ? null : JSON.stringify(reply.json),
        { status: reply.status, headers: { 'content-type': 'application/json', ...reply.headers } },
      );
    }
    return new Response(null, { status: 599 });
  };
}

function hang(signal: AbortSignal | undefined): Promise<Response> {
  return new Promise((_, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

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

export const PROJECT_ID = 'a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0';
export const AUTH_URL = 'https://keystone.test:5000/v3';
export const COMPUTE_URL = 'https://nova.test:8774/v2.1';
export const VOLUME_URL = `https://cinder.test:8776/v3/${PROJECT_ID}`;

/** A Keystone token body with a compute and a volumev3 endpoint, valid for `lifetimeMs` from `now`. */
export function tokenBody(now: number, lifetimeMs = 3_600_000, catalog = defaultCatalog()): unknown {
  return {
    token: {
      methods: ['application_credential'],
      issued_at: new Date(now).toISOString(),
      expires_at: new Date(now + lifetimeMs).toISOString(),
      user: { id: 'u1', name: 'alertfence' },
      project: { id: PROJECT_ID, name: 'k8s' },
      catalog,
    },
  };
}

export function defaultCatalog(): unknown[] {
  return [
    {
      type: 'compute',
      name: 'nova',
      endpoints: [
        { interface: 'public', region_id: 'RegionOne', region: 'RegionOne', url: COMPUTE_URL },
        {
          interface: 'internal',
          region_id: 'RegionOne',
          region: 'RegionOne',
          url: 'http://nova.internal:8774/v2.1',
        },
      ],
    },
    {
      type: 'volumev3',
      name: 'cinderv3',
      endpoints: [{ interface: 'public', region_id: 'RegionOne', region: 'RegionOne', url: VOLUME_URL }],
    },
    {
      type: 'identity',
      name: 'keystone',
      endpoints: [{ interface: 'public', region_id: 'RegionOne', url: AUTH_URL }],
    },
  ];
}

/** Routes Keystone's token endpoint, numbering tokens `tok-1`, `tok-2`, … */
export function routeKeystone(routed: RoutedFetch, clock: VirtualClock, lifetimeMs?: number): void {
  let issued = 0;
  routed.on('POST', /\/v3\/auth\/tokens$/, () => {
    issued++;
    return {
      status: 201,
      json: tokenBody(clock.now(), lifetimeMs),
      headers: { 'x-subject-token': `tok-${issued}`, 'x-openstack-request-id': `req-ks-${issued}` },
    };
  });
}
