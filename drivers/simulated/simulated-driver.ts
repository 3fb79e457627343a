import { pollUntil, sleep } from '../../functions/lib/wait.js';
import {
  type AttachedVolume,
  type CallOptions,
  type InstanceDescription,
  InstanceNotFoundError,
  type InstanceRef,
  type NodeIdentity,
  type PowerDriver,
  type PowerState,
  VolumeDetachRefusedError,
  type WaitOptions,
} from '../driver.js';

const SCHEME = 'simulated:///';

interface SimulatedInstance {
  id: string;
  state: 'running' | 'stopping' | 'stopped' | 'pending' | 'terminated';
  /** When the current transition completes (epoch ms). */
  settlesAt: number;
  volumes: Array<AttachedVolume & { detachingUntil?: number }>;
}

export interface SimulatedDriverOptions {
  /** How long power transitions take, in ms (a real cloud takes seconds to minutes). */
  transitionMs?: number;
  /** How long a detach takes, in ms. */
  detachMs?: number;
  /** Called at every driver call, before it acts: tests check the cloud's true state here. */
  onCall?: (call: { method: string; id: string; volumeId?: string }) => void;
  /** Create a running instance (with one data volume) on first sight of an unknown id: for the demo. */
  autoCreate?: boolean;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  pollSchedule?: readonly number[];
}

/**
 * An in-memory cloud with realistic transitions: power-off passes through `stopping`, volumes take time to
 * detach. For unit tests, benchmarks and the README demo (`ALERTFENCE_DRIVERS=simulated`); nodes use
 * `spec.providerID: simulated:///<instance-id>`.
 */
export class SimulatedDriver implements PowerDriver {
  readonly name = 'simulated';
  readonly instances = new Map<string, SimulatedInstance>();
  /**
   * Instances that exist but that this driver's credentials cannot see (another account, a wrong region): they
   * answer "not found", exactly like an instance that never existed.
   */
  readonly hidden = new Set<string>();
  /** Every call made, in order, for tests that check what was done and when. */
  readonly calls: Array<{ method: string; id: string; volumeId?: string }> = [];
  private readonly transitionMs: number;
  private readonly detachMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly pollSchedule: readonly number[] | undefined;
  private readonly autoCreate: boolean;
  private readonly onCall: SimulatedDriverOptions['onCall'];

  constructor(options: SimulatedDriverOptions = {}) {
    this.onCall = options.onCall;
    this.autoCreate = options.autoCreate ?? false;
    this.transitionMs = options.transitionMs ?? 2000;
    this.detachMs = options.detachMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
    this.pollSchedule = options.pollSchedule;
  }

  /** Adds a running instance with a root volume and the given data volumes. */
  addInstance(id: string, dataVolumes: string[] = []): void {
    this.instances.set(id, {
      id,
      state: 'running',
      settlesAt: 0,
      volumes: [
        { id: `${id}-root`, device: '/dev/sda1', root: true },
        ...dataVolumes.map((v) => ({ id: v })),
      ],
    });
  }

  static providerID(id: string): string {
    return `${SCHEME}${id}`;
  }

  handles(node: NodeIdentity): boolean {
    return node.providerID?.startsWith(SCHEME) ?? false;
  }

  async resolve(node: NodeIdentity, _options: CallOptions): Promise<InstanceRef> {
    const id = node.providerID?.slice(SCHEME.length) ?? '';
    if (this.autoCreate && id && !this.instances.has(id)) this.addInstance(id, [`vol-${id}`]);
    const instance = this.visible(id);
    if (!instance) {
      throw new InstanceNotFoundError(`no simulated instance "${id}" visible to these credentials`);
    }
    return { provider: this.name, id };
  }

  async describe(ref: InstanceRef, _options: CallOptions): Promise<InstanceDescription> {
    this.record({ method: 'describe', id: ref.id });
    const instance = this.visible(ref.id);
    // An id this cloud does not show: as unproven as a NotFound from a real cloud.
    if (!instance) {
      return { ref, power: 'unknown', cloudState: 'not-found', gone: false, missing: true, volumes: [] };
    }
    this.settle(instance);
    const power: PowerState =
      instance.state === 'running'
        ? 'on'
        : instance.state === 'stopped' || instance.state === 'terminated'
          ? 'off'
          : 'transitioning';
    return {
      ref,
      power,
      cloudState: instance.state,
      gone: instance.state === 'terminated',
      missing: false,
      ...(instance.state === 'stopping' ? { stopping: true } : {}),
      // Like EC2 and Nova: a terminated machine holds no volumes (the cloud detached or deleted them).
      volumes:
        instance.state === 'terminated'
          ? []
          : instance.volumes.map(({ id, device, root }) => ({ id, device, root })),
    };
  }

  async powerOff(ref: InstanceRef, _options: CallOptions): Promise<void> {
    this.record({ method: 'powerOff', id: ref.id });
    // Like EC2 and Nova: nothing to stop is not an error; the wait decides what "not found" means.
    const instance = this.visible(ref.id);
    if (!instance) return;
    this.settle(instance);
    if (instance.state === 'running' || instance.state === 'pending') {
      instance.state = 'stopping';
      instance.settlesAt = this.now() + this.transitionMs;
    }
  }

  async powerOn(ref: InstanceRef, _options: CallOptions): Promise<void> {
    this.record({ method: 'powerOn', id: ref.id });
    const instance = this.require(ref);
    this.settle(instance);
    if (instance.state === 'stopped') {
      instance.state = 'pending';
      instance.settlesAt = this.now() + this.transitionMs;
    }
  }

  async detachVolume(ref: InstanceRef, volumeId: string, _options: CallOptions): Promise<void> {
    this.record({ method: 'detachVolume', id: ref.id, volumeId });
    const instance = this.require(ref);
    this.settle(instance);
    const volume = instance.volumes.find((candidate) => candidate.id === volumeId);
    if (!volume || instance.state === 'terminated') return;
    // The same refusals as the cloud drivers, so tests on this driver catch a workflow that detaches early.
    if (volume.root) {
      throw new VolumeDetachRefusedError(
        `refusing to detach ${volumeId}: it is the root volume of ${ref.id}`,
        { volumeId },
      );
    }
    if (instance.state !== 'stopped') {
      throw new VolumeDetachRefusedError(
        `refusing to detach ${volumeId}: ${ref.id} is ${instance.state}, not off`,
        { volumeId },
      );
    }
    volume.detachingUntil ??= this.now() + this.detachMs;
  }

  async waitForPower(
    ref: InstanceRef,
    want: 'on' | 'off',
    options: WaitOptions,
  ): Promise<InstanceDescription> {
    return pollUntil({
      ...options,
      what: `instance ${ref.id} to be ${want}`,
      probe: () => this.describe(ref, options),
      done: (description) =>
        description.power === want ||
        (want === 'off' && description.missing && options.notFoundMeansOff === true),
      onPending: async (description) => {
        if (want === 'on' && (description.missing || description.gone)) {
          throw new InstanceNotFoundError(`cannot power on ${ref.id}: it is ${description.cloudState}`);
        }
      },
      describeState: (description) => description.cloudState,
      sleep: this.sleep,
      now: this.now,
      ...(this.pollSchedule ? { schedule: this.pollSchedule } : {}),
    });
  }

  async waitForDetached(ref: InstanceRef, volumeIds: readonly string[], options: CallOptions): Promise<void> {
    await pollUntil({
      ...options,
      what: `volumes ${volumeIds.join(', ')} to detach`,
      probe: async () => (await this.describe(ref, options)).volumes.filter((v) => volumeIds.includes(v.id)),
      done: (attached) => attached.length === 0,
      describeState: (attached) => `${attached.length} still attached`,
      sleep: this.sleep,
      now: this.now,
      ...(this.pollSchedule ? { schedule: this.pollSchedule } : {}),
    });
  }

  async preflight(): Promise<{ ok: boolean; problems: string[] }> {
    return { ok: true, problems: [] };
  }

  private require(ref: InstanceRef): SimulatedInstance {
    const instance = this.visible(ref.id);
    if (!instance) throw new InstanceNotFoundError(`no simulated instance "${ref.id}"`);
    return instance;
  }

  private visible(id: string): SimulatedInstance | undefined {
    return this.hidden.has(id) ? undefined : this.instances.get(id);
  }

  private record(call: { method: string; id: string; volumeId?: string }): void {
    this.onCall?.(call);
    this.calls.push(call);
  }

  /** Completes transitions whose time has come. */
  private settle(instance: SimulatedInstance): void {
    const now = this.now();
    if (instance.settlesAt <= now) {
      if (instance.state === 'stopping') instance.state = 'stopped';
      if (instance.state === 'pending') instance.state = 'running';
    }
    instance.volumes = instance.volumes.filter(
      (v) => v.detachingUntil === undefined || v.detachingUntil > now,
    );
  }
}
