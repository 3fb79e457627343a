/**
 * The skeleton the OpenStack and Redfish drivers share: every public call runs under a guard that turns the
 * client's failures into driver errors (worded by each driver), named after what it was doing to which
 * machine. A subclass supplies the work of each call.
 */

import type * as driver from './driver.js';

/** Base of a driver whose calls go through one client. */
export abstract class GuardedDriver implements driver.PowerDriver {
  abstract readonly name: string;
  /** What the driver calls a machine in messages: `server`, `system`. */
  protected abstract readonly noun: string;

  abstract handles(node: driver.NodeIdentity): boolean;
  abstract detachVolume(
    ref: driver.InstanceRef,
    volumeId: string,
    options: driver.CallOptions,
  ): Promise<void>;
  abstract waitForDetached(
    ref: driver.InstanceRef,
    volumeIds: readonly string[],
    options: driver.CallOptions,
  ): Promise<void>;
  abstract preflight(options: driver.CallOptions): Promise<driver.PreflightResult>;

  resolve(node: driver.NodeIdentity, options: driver.CallOptions): Promise<driver.InstanceRef> {
    return this.guard(`resolve node ${node.name}`, options, () => this.findInstance(node, options));
  }

  describe(ref: driver.InstanceRef, options: driver.CallOptions): Promise<driver.InstanceDescription> {
    return this.guard(`describe ${this.noun} ${ref.id}`, options, () => this.readInstance(ref, options));
  }

  async powerOff(ref: driver.InstanceRef, options: driver.CallOptions): Promise<void> {
    await this.guard(`power off ${this.noun} ${ref.id}`, options, () => this.sendPower(ref, 'off', options));
  }

  async powerOn(ref: driver.InstanceRef, options: driver.CallOptions): Promise<void> {
    await this.guard(`power on ${this.noun} ${ref.id}`, options, () => this.sendPower(ref, 'on', options));
  }

  waitForPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.WaitOptions,
  ): Promise<driver.InstanceDescription> {
    const what = `wait for ${this.noun} ${ref.id} to be ${want}`;
    return this.guard(what, options, () => this.pollPower(ref, want, options));
  }

  /** The work of `resolve`: the node's machine, confirmed to exist for these credentials. */
  protected abstract findInstance(
    node: driver.NodeIdentity,
    options: driver.CallOptions,
  ): Promise<driver.InstanceRef>;
  /** The work of `describe`. */
  protected abstract readInstance(
    ref: driver.InstanceRef,
    options: driver.CallOptions,
  ): Promise<driver.InstanceDescription>;
  /** Starts powering the machine off or on; idempotent (already there, or on its way, is fine). */
  protected abstract sendPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.CallOptions,
  ): Promise<void>;
  /** The work of `waitForPower`. */
  protected abstract pollPower(
    ref: driver.InstanceRef,
    want: 'on' | 'off',
    options: driver.WaitOptions,
  ): Promise<driver.InstanceDescription>;

  /** The driver error a failure of `what` becomes (`httpDriverError` with the driver's wording). */
  protected abstract classify(what: string, error: unknown): unknown;

  /** Runs one driver call; a failure becomes what `classify` says, the caller's own abort passes untouched. */
  protected async guard<T>(what: string, options: driver.CallOptions, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (options.signal?.aborted && error === options.signal.reason) throw error;
      throw this.classify(what, error);
    }
  }
}
