import { describe, expect, it } from 'vitest';
import { OpenStackError } from '../../../drivers/openstack/client/errors.js';
import { HttpClient } from '../../../drivers/openstack/client/http.js';
import {
  authRequestBody,
  type CatalogService,
  EndpointNotFoundError,
  identityV3Base,
  type KeystoneCredentials,
  KeystoneSession,
  selectEndpoint,
  tokensUrl,
} from '../../../drivers/openstack/client/keystone.js';
import { AUTH_URL, RoutedFetch, routeKeystone, VirtualClock } from './helpers.js';

describe('identity URLs', () => {
  it.each([
    ['https://ks.test:5000', 'https://ks.test:5000/v3'],
    ['https://ks.test:5000/', 'https://ks.test:5000/v3'],
    ['https://ks.test:5000/v3', 'https://ks.test:5000/v3'],
    ['https://ks.test:5000/v3/', 'https://ks.test:5000/v3'],
    ['https://cloud.test/identity', 'https://cloud.test/identity/v3'],
    ['https://cloud.test/identity/v3', 'https://cloud.test/identity/v3'],
  ])('should read auth_url %s as the v3 base %s', (authUrl, base) => {
    expect(identityV3Base(authUrl)).toBe(base);
    expect(tokensUrl(authUrl)).toBe(`${base}/auth/tokens`);
  });
});

describe('authRequestBody', () => {
  it('should scope a password request to the project, with user and project domains', () => {
    // Prepare
    const credentials: KeystoneCredentials = {
      method: 'password',
      user: { name: 'fencer', domain: { name: 'Default' } },
      password: 's3cret',
      project: { name: 'k8s', domain: { id: 'default' } },
    };

    // Act
    const body = authRequestBody(credentials);

    // Assess
    expect(body).toEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'fencer', domain: { name: 'Default' }, password: 's3cret' } },
        },
        scope: { project: { name: 'k8s', domain: { id: 'default' } } },
      },
    });
  });

  it('should name an application credential by id, with no scope', () => {
    // Act
    const body = authRequestBody({
      method: 'application_credential',
      credential: { id: 'ac1' },
      secret: 'x',
    });

    // Assess
    expect(body).toEqual({
      auth: {
        identity: { methods: ['application_credential'], application_credential: { id: 'ac1', secret: 'x' } },
      },
    });
  });

  it('should name an application credential by name together with its user', () => {
    // Act
    const body = authRequestBody({
      method: 'application_credential',
      credential: { name: 'alertfence', user: { name: 'fencer', domain: { name: 'Default' } } },
      secret: 'x',
    });

    // Assess
    expect(body).toEqual({
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: {
            name: 'alertfence',
            user: { name: 'fencer', domain: { name: 'Default' } },
            secret: 'x',
          },
        },
      },
    });
  });
});

describe('selectEndpoint', () => {
  const catalog: CatalogService[] = [
    {
      type: 'compute',
      endpoints: [
        { interface: 'public', region_id: 'RegionOne', url: 'https://nova-1.test/v2.1/' },
        { interface: 'internal', region_id: 'RegionOne', url: 'http://nova-1.internal/v2.1' },
        { interface: 'public', region_id: 'RegionTwo', url: 'https://nova-2.test/v2.1' },
      ],
    },
    {
      type: 'block-storage',
      endpoints: [{ interface: 'public', region_id: 'RegionOne', url: 'https://cinder.test/v3/p1' }],
    },
    {
      type: 'volumev3',
      endpoints: [{ interface: 'public', region: 'RegionOne', url: 'https://cinder-old.test/v3/p1' }],
    },
  ];

  it.each([
    [['compute'], 'public', 'RegionOne', 'https://nova-1.test/v2.1'],
    [['compute'], 'internal', 'RegionOne', 'http://nova-1.internal/v2.1'],
    [['compute'], 'public', 'RegionTwo', 'https://nova-2.test/v2.1'],
    [['volumev3', 'block-storage'], 'public', 'RegionOne', 'https://cinder-old.test/v3/p1'],
    [['block-storage', 'volumev3'], 'public', undefined, 'https://cinder.test/v3/p1'],
    [['volume', 'block-storage'], 'public', 'RegionOne', 'https://cinder.test/v3/p1'],
  ] as const)('should pick %j %s in %s', (types, iface, region, url) => {
    expect(selectEndpoint(catalog, { types, interface: iface, ...(region ? { region } : {}) })).toBe(url);
  });

  it('should refuse to guess between regions', () => {
    expect(() => selectEndpoint(catalog, { types: ['compute'], interface: 'public' })).toThrow(
      /2 public endpoints of type compute; set the region/,
    );
  });

  it('should say what the catalog offers when nothing matches', () => {
    // Act
    const error = (() => {
      try {
        selectEndpoint(catalog, { types: ['compute'], interface: 'admin', region: 'RegionOne' });
      } catch (e) {
        return e;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(EndpointNotFoundError);
    expect((error as Error).message).toBe(
      'the catalog has no admin endpoint of type compute in region RegionOne (it offers: compute, block-storage, volumev3)',
    );
  });
});

describe('KeystoneSession', () => {
  function setup(lifetimeMs?: number) {
    const routed = new RoutedFetch();
    const clock = new VirtualClock();
    routeKeystone(routed, clock, lifetimeMs);
    const http = new HttpClient({ fetch: routed.fetch, now: clock.now, sleep: clock.sleep });
    const session = new KeystoneSession({
      http,
      authUrl: AUTH_URL,
      credentials: { method: 'application_credential', credential: { id: 'ac1' }, secret: 'x' },
      now: clock.now,
    });
    return { routed, clock, session, options: { deadline: clock.now() + 86_400_000 } };
  }

  it('should issue one token and reuse it for later calls', async () => {
    // Prepare
    const { routed, session, options } = setup();

    // Act
    const tokens = [await session.token(options), await session.token(options), await session.token(options)];

    // Assess
    expect(tokens).toEqual(['tok-1', 'tok-1', 'tok-1']);
    expect(routed.count('POST', /\/v3\/auth\/tokens$/)).toBe(1);
    expect(session.tokensIssued).toBe(1);
  });

  it('should share one token request among concurrent callers', async () => {
    // Prepare
    const { routed, session, options } = setup();

    // Act
    const tokens = await Promise.all([
      session.token(options),
      session.token(options),
      session.token(options),
    ]);

    // Assess
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    expect(routed.count('POST', /\/v3\/auth\/tokens$/)).toBe(1);
  });

  it('should replace a token 60 s before it expires', async () => {
    // Prepare
    const { clock, session, options } = setup(3_600_000);
    await session.token(options);

    // Act
    clock.time += 3_600_000 - 60_001;
    const stillCached = await session.token(options);
    clock.time += 2;
    const replaced = await session.token(options);

    // Assess
    expect(stillCached).toBe('tok-1');
    expect(replaced).toBe('tok-2');
  });

  it('should keep the margin within a quarter of a short token lifetime', async () => {
    // Prepare
    const { clock, session, options } = setup(20_000);
    await session.token(options);

    // Act
    clock.time += 14_000;
    const reused = await session.token(options);
    clock.time += 1_001;
    const replaced = await session.token(options);

    // Assess
    expect(reused).toBe('tok-1');
    expect(replaced).toBe('tok-2');
  });

  it('should issue a new token once a service refused the cached one', async () => {
    // Prepare
    const { session, options } = setup();
    const first = await session.token(options);

    // Act
    session.invalidate(first);
    const second = await session.token(options);

    // Assess
    expect([first, second]).toEqual(['tok-1', 'tok-2']);
  });

  it('should carry Keystone refusal as an OpenStackError 401', async () => {
    // Prepare
    const { routed, session, options } = setup();
    routed.on('POST', /\/v3\/auth\/tokens$/, {
      status: 401,
      json: {
        error: {
          code: 401,
          title: 'Unauthorized',
          message: 'The request you have made requires authentication.',
        },
      },
    });

    // Act
    const error = await session.token(options).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(OpenStackError);
    expect((error as OpenStackError).status).toBe(401);
    expect(routed.calls).toHaveLength(1);
  });

  it('should reject a 201 without X-Subject-Token as not matching the API reference', async () => {
    // Prepare
    const { routed, session, options } = setup();
    routed.on('POST', /\/v3\/auth\/tokens$/, { status: 201, json: { token: {} } });

    // Act
    const error = await session.token(options).catch((e: unknown) => e);

    // Assess
    expect((error as OpenStackError).reason).toMatch(/does not match the API reference/);
    expect((error as OpenStackError).transient).toBe(false);
  });
});
