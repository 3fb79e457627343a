import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ALERTS } from '../../../functions/http/alertmanager.js';
import { alertPayload, createWorld, TOKEN, type World } from '../../support/world.js';

/**
 * Hostile input never reaches a fence: whatever arrives, the answer is not a 5xx, the app does not throw,
 * and Kubernetes sees no write, the cloud no call, the runtime no continuation.
 *
 * The world is armed (`ALERTFENCE_DRY_RUN=false`) and worker-1 is dead for an hour, so a payload that slipped
 * through as a valid firing alert for worker-1 would fence it: every generated input is built to be invalid
 * for worker-1 (or to name another node, which the guards refuse), never merely unlikely to be valid.
 */

const RUNS = 1000;
/** Small enough that the largest generated bodies hit it, large enough for MAX_ALERTS + 50 alerts. */
const MAX_BODY_BYTES = 512 * 1024;
const NODES = ['worker-1', 'worker-2', 'worker-3'];
const FENCE_ALERTS = ['KubeNodeNotReady', 'KubeNodeUnreachable', 'AlertfenceNodeDown'];

type Body = { text: string; contentType?: string };

/** Copies `target` with `key` as an own enumerable property, `__proto__` included (JSON.parse does the same). */
function withKey(target: unknown, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = Object.create(Object.prototype);
  if (target && typeof target === 'object' && !Array.isArray(target)) {
    for (const [k, v] of Object.entries(target))
      Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function without(target: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = target;
  return rest;
}

const deepText = fc
  .tuple(
    fc.integer({ min: 50, max: 5_000 }),
    fc.constantFrom(['[', ']'], ['{"a":', '}'], ['{"__proto__":', '}']),
  )
  .map(([depth, [open, close]]) => `${(open as string).repeat(depth)}1${(close as string).repeat(depth)}`);

const trickyStrings = fc.constantFrom(
  '',
  '.',
  '..',
  '../../etc/passwd',
  '..%2F..%2Fworker-1',
  'worker-1/../worker-2',
  'worker-1/',
  '/worker-1',
  'WORKER-1',
  'Worker-1',
  'worker_1',
  'worker-1.',
  '-worker-1',
  'worker-1\u0000',
  'worker-1\n',
  'worker-1\r\nX-Injected: 1',
  '\u202eworker-1',
  'w\u043erker-1',
  'worker\u200b-1',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style string, meant literally
  '${jndi:ldap://x/a}',
  "'; DROP TABLE nodes; --",
  '%00',
  '%zz',
  '\ud800',
);

const hugeString = fc
  .tuple(fc.integer({ min: 254, max: 100_000 }), fc.constantFrom('a', 'worker-1.', '\u00e9', '\u0000'))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));

/** Strings nobody should trust: unicode (lone surrogates and control characters included), traps, giants. */
const hostileString = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 4 },
  { arbitrary: trickyStrings, weight: 4 },
  { arbitrary: hugeString, weight: 1 },
);

/** A node name that is anything but worker-1, the one dead node. */
const hostileNodeName = hostileString.filter((name) => name !== 'worker-1');

/**
 * Any JSON value, a hostile string, or a number where a string goes; never one that mentions worker-1, so
 * it cannot rebuild a valid alert for it (hostileNodeName covers the near misses of that name).
 */
const hostileValue: fc.Arbitrary<unknown> = fc
  .oneof(
    { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 3 },
    { arbitrary: hostileString, weight: 3 },
    { arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null)), weight: 2 },
    { arbitrary: fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }), weight: 1 },
  )
  .filter((value) => !(JSON.stringify(value) ?? '').includes('worker-1'));

const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'node\u0000', 'NODE', ''),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** Harmless alone: unknown fields and extra refused alerts. A spoiler always comes after them. */
const noise = fc.oneof(
  fc.tuple(hostileKey, hostileValue).map(
    ([key, value]) =>
      (p: Record<string, unknown>) =>
        ['version', 'status', 'receiver', 'alerts'].includes(key) ? p : withKey(p, key, value),
  ),
  fc.tuple(hostileKey, hostileValue).map(([key, value]) => (p: Record<string, unknown>) => {
    const alerts = p.alerts as unknown[];
    return { ...p, alerts: alerts.map((alert) => withKey(alert, key, value)) };
  }),
  fc
    .tuple(
      hostileKey.filter((key) => !['node', 'alertname'].includes(key)),
      hostileString,
    )
    .map(([key, value]) => (p: Record<string, unknown>) => {
      const alerts = p.alerts as Array<{ labels?: unknown } | null>;
      return {
        ...p,
        alerts: alerts.map((alert) =>
          alert && typeof alert === 'object'
            ? { ...alert, labels: withKey(alert.labels, key, value) }
            : alert,
        ),
      };
    }),
  fc
    .array(
      fc.oneof(
        hostileValue,
        hostileNodeName.map((node) => alertPayload([{ node }]).alerts[0]),
      ),
      { maxLength: 5 },
    )
    .map((extra) => (p: Record<string, unknown>) => ({
      ...p,
      alerts: [...(p.alerts as unknown[]), ...extra],
    })),
);

type Spoiler = (p: Record<string, unknown>) => unknown;
const setAlert0 = (p: Record<string, unknown>, change: (alert: Record<string, unknown>) => unknown) => {
  const [first, ...rest] = p.alerts as Array<Record<string, unknown>>;
  return { ...p, alerts: [change(first ?? {}), ...rest] };
};

/** One change that makes the payload, or its worker-1 alert, unable to start a fence. */
const spoiler: fc.Arbitrary<Spoiler> = fc.oneof(
  hostileValue
    .filter((v) => v !== '4')
    .map(
      (v): Spoiler =>
        (p) => ({ ...p, version: v }),
    ),
  hostileValue
    .filter((v) => v !== 'firing' && v !== 'resolved')
    .map(
      (v): Spoiler =>
        (p) => ({ ...p, status: v }),
    ),
  hostileValue
    .filter((v) => typeof v !== 'string')
    .map(
      (v): Spoiler =>
        (p) => ({ ...p, receiver: v }),
    ),
  hostileValue
    .filter((v) => !Array.isArray(v))
    .map(
      (v): Spoiler =>
        (p) => ({ ...p, alerts: v }),
    ),
  fc.constantFrom('version', 'status', 'receiver', 'alerts').map(
    (key): Spoiler =>
      (p) =>
        without(p, key),
  ),
  // The required fields hidden behind a __proto__ key: must not be read through the prototype.
  fc.constant<Spoiler>((p) => withKey(without(p, 'alerts'), '__proto__', { alerts: p.alerts })),
  fc.constant<Spoiler>((p) => withKey(without(p, 'version'), '__proto__', { version: '4' })),
  hostileValue
    .filter((v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 0) && v !== undefined)
    .map(
      (v): Spoiler =>
        (p) => ({ ...p, truncatedAlerts: v }),
    ),
  fc.integer({ min: MAX_ALERTS + 1, max: MAX_ALERTS + 50 }).map(
    (count): Spoiler =>
      (p) => ({
        ...p,
        alerts: Array.from({ length: count }, () => alertPayload([{ node: 'worker-1' }]).alerts[0]),
      }),
  ),
  hostileValue.map(
    (v): Spoiler =>
      (p) =>
        setAlert0(p, () => v),
  ),
  hostileValue
    .filter((v) => v !== 'firing')
    .map(
      (v): Spoiler =>
        (p) =>
          setAlert0(p, (alert) => ({ ...alert, status: v })),
    ),
  fc.constant<Spoiler>((p) => setAlert0(p, (alert) => ({ ...alert, status: 'resolved' }))),
  hostileValue.map(
    (v): Spoiler =>
      (p) =>
        setAlert0(p, (alert) => ({
          ...alert,
          labels:
            typeof v === 'object' && v !== null && !Array.isArray(v)
              ? without(v as Record<string, unknown>, 'node')
              : v,
        })),
  ),
  hostileNodeName.map(
    (node): Spoiler =>
      (p) =>
        setAlert0(p, (alert) => ({ ...alert, labels: { ...(alert.labels as object), node } })),
  ),
  fc
    .oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(['worker-1']),
      fc.constant({ name: 'worker-1' }),
    )
    .map(
      (v): Spoiler =>
        (p) =>
          setAlert0(p, (alert) => ({ ...alert, labels: { ...(alert.labels as object), node: v } })),
    ),
  hostileString
    .filter((name) => !FENCE_ALERTS.includes(name))
    .map(
      (name): Spoiler =>
        (p) =>
          setAlert0(p, (alert) => ({ ...alert, labels: { ...(alert.labels as object), alertname: name } })),
    ),
  // The node label only on the prototype.
  fc.constantFrom<unknown>({ node: 'worker-1' }, 'worker-1', [{ node: 'worker-1' }]).map(
    (proto): Spoiler =>
      (p) =>
        setAlert0(p, (alert) => ({
          ...alert,
          labels: withKey(without(alert.labels as Record<string, unknown>, 'node'), '__proto__', proto),
        })),
  ),
  fc.constant<Spoiler>((p) =>
    setAlert0(p, (alert) => ({
      ...alert,
      labels: withKey(without(alert.labels as Record<string, unknown>, 'node'), 'constructor', {
        prototype: { node: 'worker-1' },
      }),
    })),
  ),
);

/** A valid webhook for worker-1, with noise, then spoiled. */
const mutatedPayload: fc.Arbitrary<Body> = fc
  .tuple(fc.array(noise, { maxLength: 3 }), spoiler)
  .map(([changes, spoil]) => {
    let payload: Record<string, unknown> = alertPayload([{ node: 'worker-1' }]);
    for (const change of changes) payload = change(payload);
    return { text: JSON.stringify(spoil(payload)) ?? 'null' };
  });

/** Text that is not JSON, or JSON that is not an object, or broken JSON. */
const rawBody: fc.Arbitrary<Body> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ text })),
  fc.json({ maxDepth: 4 }).map((text) => ({ text })),
  fc
    .tuple(fc.json({ maxDepth: 4 }), fc.nat())
    .map(([text, cut]) => ({ text: text.slice(0, cut % Math.max(1, text.length)) })),
  deepText.map((text) => ({ text })),
  fc
    .integer({ min: MAX_BODY_BYTES + 1, max: 2 * MAX_BODY_BYTES })
    .map((size) => ({ text: JSON.stringify({ ...alertPayload([]), receiver: 'x'.repeat(size) }) })),
  fc.tuple(deepText, fc.constantFrom('alerts', 'labels', 'version')).map(([deep, where]) => ({
    text: JSON.stringify(alertPayload([{ node: 'worker-1' }])).replace(
      `"${where}":`,
      `"${where}":${deep},"x":`,
    ),
  })),
);

/** Now and then a content type or an Authorization header an attacker would try. */
const headersArb = fc.oneof(
  { arbitrary: fc.constant<Record<string, string>>({}), weight: 12 },
  {
    arbitrary: fc
      .constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json-patch+json',
        '',
        'application/json; charset=utf-16',
      )
      .map((type) => ({ 'content-type': type })),
    weight: 1,
  },
  {
    arbitrary: fc
      .constantFrom(
        `Bearer ${TOKEN} x`,
        `Bearer  ${TOKEN}x`,
        `Basic ${TOKEN}`,
        'Bearer',
        `Bearer ${TOKEN.toUpperCase()}`,
      )
      .map((authorization) => ({ authorization })),
    weight: 1,
  },
  {
    arbitrary: hostileString.filter((s) => /^[\x20-\x7e]*$/.test(s)).map((id) => ({ 'x-request-id': id })),
    weight: 1,
  },
);

function expectNoFence(world: World): void {
  expect(world.kube.calls.filter((call) => call.mutating)).toEqual([]);
  expect(world.driver.calls).toEqual([]);
  expect(world.continuation.handoffs).toEqual([]);
  expect(world.logs.filter((line) => line.includes('unhandled error'))).toEqual([]);
}

/** Checks the answer is safe and returns how it ended: the status, plus the outcomes of per-node results. */
async function expectSafeAnswer(response: Response): Promise<string[]> {
  expect(response.status).toBeLessThan(500);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const text = await response.text();
  const body = JSON.parse(text) as {
    error?: { code?: unknown; message?: unknown };
    outcome?: string;
    results?: Array<{ outcome: string }>;
  };
  if ([400, 401, 413, 415].includes(response.status)) {
    expect(typeof body.error?.code).toBe('string');
    expect(typeof body.error?.message).toBe('string');
  }
  const outcomes = body.results?.map((result) => result.outcome) ?? (body.outcome ? [body.outcome] : []);
  return [String(response.status), ...outcomes];
}

function post(world: World, path: string, body: Body, headers: Record<string, string>) {
  return Promise.resolve(
    world.app.request(path, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': body.contentType ?? 'application/json',
        ...headers,
      },
      body: body.text,
    }),
  );
}

/** A URL path segment from a hostile name: percent-encoded, or raw where the URL parser leaves it alone. */
const nodeSegment = fc
  .oneof(
    hostileNodeName.filter(isWellFormed).map((name) => ({ name, segment: encodeURIComponent(name) })),
    fc
      .constantFrom(
        '%zz',
        '%',
        '%E0%A4%A',
        '%2e%2e',
        '..%2f..%2fworker-1',
        'worker-1%2F..',
        'worker-1%00',
        'a;b',
        'a,b',
        '%F0%9F%92%A3',
        'a%20b',
      )
      .map((segment) => ({ name: segment, segment })),
  )
  .filter(({ segment }) => !NODES.includes(decodeSafely(segment)));

/** Whether a string has no lone surrogate (encodeURIComponent throws on one; a URL cannot carry it). */
function isWellFormed(text: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

function decodeSafely(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A manual fence body that cannot be valid: unknown keys, wrong types, not an object, not JSON. */
const badManualBody: fc.Arbitrary<Body> = fc.oneof(
  fc
    .tuple(
      hostileKey.filter((key) => !['dryRun', 'force', 'reason', 'wait'].includes(key)),
      hostileValue,
    )
    .map(([key, value]) => ({ text: JSON.stringify(withKey({ dryRun: false }, key, value)) })),
  fc
    .tuple(
      fc.constantFrom('dryRun', 'force', 'wait'),
      hostileValue.filter((v) => typeof v !== 'boolean' && v !== undefined),
    )
    .map(([key, value]) => ({ text: JSON.stringify({ [key]: value }) })),
  hostileValue
    .filter((v) => typeof v !== 'string' || v.length > 1000)
    .filter((v) => v !== undefined)
    .map((value) => ({ text: JSON.stringify({ reason: value }) })),
  hostileValue
    .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))
    .map((value) => ({ text: JSON.stringify(value) ?? 'null' })),
  fc
    .string({ unit: 'binary', minLength: 1, maxLength: 100 })
    .filter((text) => text.trim() !== '' && !parsesToObject(text))
    .map((text) => ({ text })),
  deepText.map((text) => ({ text })),
);

function parsesToObject(text: string): boolean {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** Any body, valid ones included: for node names that must be refused before the body matters. */
const anyManualBody: fc.Arbitrary<Body> = fc.oneof(
  badManualBody,
  fc
    .record(
      { dryRun: fc.boolean(), force: fc.boolean(), wait: fc.boolean(), reason: fc.string({ maxLength: 50 }) },
      { requiredKeys: [] },
    )
    .map((body) => ({ text: JSON.stringify(body) })),
  fc.constant({ text: '' }),
);

describe('fuzz: hostile input', () => {
  it(`should survive ${RUNS} hostile webhooks without a 5xx, a throw or a fence`, async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ arbitrary: mutatedPayload, weight: 3 }, { arbitrary: rawBody, weight: 1 }),
        headersArb,
        async (body, headers) => {
          // Prepare
          const world = createWorld({ env: { ALERTFENCE_MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });

          // Act
          const response = await post(world, '/v1/alerts', body, headers);

          // Assess
          for (const ending of await expectSafeAnswer(response)) seen.add(ending);
          expectNoFence(world);
        },
      ),
      { numRuns: RUNS },
    );
    // The generators reach every layer: auth, media type, body limit, payload schema, and single alerts.
    expect([...seen]).toEqual(
      expect.arrayContaining(['202', '400', '401', '413', '415', 'refused', 'skipped', 'not-found']),
    );
  }, 60_000);

  it(`should survive ${RUNS} hostile manual fences without a 5xx, a throw or a fence`, async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ node: nodeSegment.map((n) => n.segment), body: anyManualBody }),
          fc.record({ node: fc.constantFrom(...NODES), body: badManualBody }),
        ),
        headersArb,
        async ({ node, body }, headers) => {
          // Prepare
          const world = createWorld();

          // Act
          const fence = await post(world, `/v1/nodes/${node}/fence`, body, headers);
          const journal = await world.app.request(`/v1/nodes/${node}/fence`, {
            headers: { authorization: `Bearer ${TOKEN}`, ...headers },
          });

          // Assess
          for (const ending of await expectSafeAnswer(fence)) seen.add(ending);
          await expectSafeAnswer(journal);
          expectNoFence(world);
        },
      ),
      { numRuns: RUNS },
    );
    expect([...seen]).toEqual(expect.arrayContaining(['400', '401', '404', '415']));
  }, 60_000);

  it('should survive hostile continuations without a 5xx or a fence', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          rawBody,
          fc
            .record(
              {
                node: fc.oneof(hostileValue, fc.constantFrom(...NODES)),
                fenceId: hostileValue,
                holder: hostileValue,
              },
              { requiredKeys: [] },
            )
            .map((handoff) => ({ text: JSON.stringify(handoff) })),
        ),
        async (body) => {
          // Prepare
          const world = createWorld();

          // Act
          const response = await post(world, '/v1/fences/continue', body, {});

          // Assess
          await expectSafeAnswer(response);
          expectNoFence(world);
        },
      ),
      { numRuns: 200 },
    );
  }, 60_000);
});
