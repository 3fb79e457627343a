/**
 * The Nodes a long-running process follows (`followNodes`): what it holds after a list and a stream of changes,
 * and above all when it refuses to vouch for it — before its first watch, when a watch fails, and when a watch
 * outlives its time without ending (a connection that died without a word).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { followNodes, type NodeView, WATCH_SLACK_SECONDS } from '../../../functions/kube/node-view.js';
import type { Node } from '../../../functions/kube/objects.js';
import {
  KubeForbiddenError,
  KubeGoneError,
  KubeUnavailableError,
  type NodeWatchEvent,
  type NodeWatchHandlers,
  type NodeWatchPort,
} from '../../../functions/kube/port.js';
import { createLogger } from '../../../functions/log.js';

/** One watch the view opened: the test opens it, sends changes, ends it or breaks it. */
interface ScriptedWatch {
  resourceVersion: string;
  timeoutSeconds: number;
  open(): void;
  send(event: NodeWatchEvent): void;
  end(): void;
  fail(error: Error): void;
}

/** A Kubernetes port whose lists answer what the test set, and whose watches the test drives. */
class ScriptedPort implements NodeWatchPort {
  listed: Node[] = [];
  listResourceVersion = '100';
  lists = 0;
  readonly watches: ScriptedWatch[] = [];
  listError: Error | undefined;

  async listNodesToWatch() {
    this.lists += 1;
    if (this.listError) throw this.listError;
    return { nodes: structuredClone(this.listed), resourceVersion: this.listResourceVersion };
  }

  watchNodes(
    _labelSelector: string,
    resourceVersion: string,
    timeoutSeconds: number,
    handlers: NodeWatchHandlers,
    signal?: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      this.watches.push({
        resourceVersion,
        timeoutSeconds,
        open: () => handlers.onOpen(),
        send: (event) => handlers.onEvent(event),
        end: resolve,
        fail: reject,
      });
    });
  }

  /** The watch open now (the last one the view started). */
  get latest(): ScriptedWatch {
    const watch = this.watches.at(-1);
    if (!watch) throw new Error('no watch was started');
    return watch;
  }
}

const node = (name: string, ready: boolean, resourceVersion: string, labels = {}): Node => ({
  metadata: { name, uid: `uid-${name}`, resourceVersion, labels, annotations: { big: 'x'.repeat(100) } },
  spec: { providerID: `aws:///eu-west-1a/i-${name}`, taints: [] },
  status: {
    conditions: [
      { type: 'MemoryPressure', status: 'False' },
      { type: 'Ready', status: ready ? 'True' : 'Unknown' },
    ],
    images: [{ names: ['registry/app:1'], sizeBytes: 1 }],
  },
});

/** Waits for what the view does next (it runs on its own, on promises and timers). */
const until = (assertion: () => void) => vi.waitFor(assertion, { interval: 1, timeout: 2_000 });

const names = (nodes: Node[] | undefined) => nodes?.map((n) => n.metadata?.name).sort();

describe('followNodes', () => {
  let view: NodeView | undefined;
  let now = 0;
  const logs: string[] = [];
  const start = (port: ScriptedPort) => {
    view = followNodes(port, {
      labelSelector: '!alertfence.io/exclude',
      log: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
      clock: () => now,
      retryDelayMs: () => 1,
    });
    return view;
  };

  afterEach(() => {
    view?.close();
    now = 0;
    logs.length = 0;
  });

  it('should answer nothing until its first watch is open, then the listed Nodes stripped to what the guards read', async () => {
    // Prepare
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90'), node('b', false, '95')];

    // Act
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    const beforeOpen = following.current();
    port.latest.open();

    // Assess
    expect(beforeOpen).toBeUndefined();
    expect(port.latest.resourceVersion).toBe('100');
    expect(following.current()).toEqual([
      {
        metadata: { name: 'a', uid: 'uid-a', labels: {}, resourceVersion: '90' },
        spec: { taints: [] },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      },
      {
        metadata: { name: 'b', uid: 'uid-b', labels: {}, resourceVersion: '95' },
        spec: { taints: [] },
        status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
      },
    ]);
    expect(following.state()).toEqual({ status: 'current', nodes: 2 });
  });

  it('should apply every change and watch on from the last resourceVersion it saw, bookmarks included', async () => {
    // Prepare
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90'), node('b', true, '95')];
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.open();

    // Act
    port.latest.send({ type: 'MODIFIED', node: node('a', false, '101') });
    port.latest.send({ type: 'ADDED', node: node('c', true, '102') });
    port.latest.send({ type: 'DELETED', node: node('b', true, '103') });
    port.latest.send({ type: 'BOOKMARK', node: { metadata: { resourceVersion: '150' } } });
    now = port.latest.timeoutSeconds * 1000;
    port.latest.end();
    await until(() => expect(port.watches).toHaveLength(2));

    // Assess
    expect(names(following.current())).toEqual(['a', 'c']);
    expect(following.current()?.find((n) => n.metadata?.name === 'a')?.status?.conditions?.[0]?.status).toBe(
      'Unknown',
    );
    expect(port.latest.resourceVersion).toBe('150');
    expect(port.lists).toBe(1);
    // The list and three changes; the bookmark changed nothing.
    expect(following.version()).toBe(4);
  });

  it('should stop vouching when a watch outlives its time without ending: a connection dead without a word', async () => {
    // Prepare
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90')];
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.open();
    const limitMs = (port.latest.timeoutSeconds + WATCH_SLACK_SECONDS) * 1000;

    // Act
    now = limitMs - 1;
    const justBefore = following.current();
    now = limitMs;
    const after = following.current();

    // Assess: the API server should have ended the watch by now; nothing it says can be vouched for.
    expect(names(justBefore)).toEqual(['a']);
    expect(after).toBeUndefined();
    expect(following.state().status).toBe('syncing');
  });

  it('should stop vouching when the wall clock says a watch outlived its time, though the monotonic one stood still', async () => {
    // Prepare: a machine suspended with the watch open: its monotonic clock did not move, the wall clock did.
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90')];
    let wall = 1_000_000;
    view = followNodes(port, {
      labelSelector: '',
      log: createLogger({ level: 'error', write: () => {} }),
      clock: () => now,
      wallClock: () => wall,
    });
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.open();
    const fresh = view.current();

    // Act
    wall += (port.latest.timeoutSeconds + WATCH_SLACK_SECONDS) * 1000;

    // Assess
    expect(names(fresh)).toEqual(['a']);
    expect(view.current()).toBeUndefined();
  });

  it('should stop vouching at once when a watch fails, and again once a new watch is open', async () => {
    // Prepare
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90')];
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.open();

    // Act
    port.latest.fail(new KubeUnavailableError('watch nodes: API server unreachable (ECONNRESET)'));
    await until(() => expect(following.current()).toBeUndefined());
    const failing = following.state();
    await until(() => expect(port.watches).toHaveLength(2));
    port.latest.open();

    // Assess: the same version watched again, no new list; one warning.
    expect(failing).toMatchObject({ status: 'failing', reason: expect.stringContaining('ECONNRESET') });
    expect(names(following.current())).toEqual(['a']);
    expect(port.latest.resourceVersion).toBe('100');
    expect(port.lists).toBe(1);
    expect(logs.filter((line) => line.includes('cannot follow the Nodes'))).toHaveLength(1);
  });

  it('should list again when the API server no longer has its version (410 Gone)', async () => {
    // Prepare
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90'), node('b', true, '91')];
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.open();
    port.listed = [node('a', false, '300')];
    port.listResourceVersion = '300';

    // Act
    port.latest.fail(new KubeGoneError('watch nodes: HTTP 410 Expired'));
    await until(() => expect(port.watches).toHaveLength(2));
    const beforeOpen = following.current();
    port.latest.open();

    // Assess: what the new list says, not what the old one did; b is gone.
    expect(beforeOpen).toBeUndefined();
    expect(port.lists).toBe(2);
    expect(port.latest.resourceVersion).toBe('300');
    expect(names(following.current())).toEqual(['a']);
  });

  it('should say what RBAC lacks when the watch is forbidden, and vouch for nothing', async () => {
    // Prepare
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90')];

    // Act
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.fail(new KubeForbiddenError('watch nodes: HTTP 403 Forbidden', { status: 403 }));
    await until(() => expect(following.state().status).toBe('failing'));

    // Assess
    expect(following.current()).toBeUndefined();
    expect(logs.join('\n')).toContain('grant alertfence list and watch on nodes');
  });

  it('should try a forbidden watch again as soon as any failure: a restarted API server refuses until its RBAC is read', async () => {
    // Prepare: following; then the API server restarts and answers 403 for its first moments (its
    // authorizer has not read the RBAC objects yet), then allows the watch again.
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90')];
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.open();

    // Act
    port.latest.fail(new KubeForbiddenError('watch nodes: HTTP 403 Forbidden', { status: 403 }));
    await until(() => expect(port.watches).toHaveLength(2));
    port.latest.open();

    // Assess: a second watch after the ordinary pause (1 ms here), not minutes later; current again.
    expect(following.state().status).toBe('current');
    expect(following.current()).toBeDefined();
  });

  it('should answer nothing once closed', async () => {
    // Prepare
    const port = new ScriptedPort();
    port.listed = [node('a', true, '90')];
    const following = start(port);
    await until(() => expect(port.watches).toHaveLength(1));
    port.latest.open();

    // Act
    following.close();

    // Assess
    expect(following.current()).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(port.watches).toHaveLength(1);
  });

  it('should hold exactly the Nodes a list would show after any sequence of changes', async () => {
    const change = fc.record({
      type: fc.constantFrom('ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK') as fc.Arbitrary<
        NodeWatchEvent['type']
      >,
      name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      ready: fc.boolean(),
      zone: fc.constantFrom('z1', 'z2'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(change, { maxLength: 30 }), async (changes) => {
        // Prepare
        const port = new ScriptedPort();
        port.listed = [node('a', true, '1'), node('b', false, '2')];
        const truth = new Map(port.listed.map((n) => [n.metadata?.name ?? '', n]));
        const following = start(port);
        await until(() => expect(port.watches).toHaveLength(1));
        port.latest.open();

        // Act
        changes.forEach((c, i) => {
          const changed = node(c.name, c.ready, String(200 + i), { 'topology.kubernetes.io/zone': c.zone });
          if (c.type === 'ADDED' || c.type === 'MODIFIED') truth.set(c.name, changed);
          if (c.type === 'DELETED') truth.delete(c.name);
          port.latest.send({ type: c.type, node: changed });
        });

        // Assess: the same Nodes, with the same labels and readiness.
        const facts = (nodes: Iterable<Node>) =>
          [...nodes]
            .map((n) => ({
              name: n.metadata?.name,
              labels: n.metadata?.labels,
              ready: n.status?.conditions?.find((x) => x.type === 'Ready')?.status,
            }))
            .sort((x, y) => String(x.name).localeCompare(String(y.name)));
        expect(facts(following.current() ?? [])).toEqual(facts(truth.values()));
        following.close();
      }),
      { numRuns: 200 },
    );
  });
});
