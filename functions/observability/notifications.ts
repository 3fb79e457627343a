/**
 * Notifications: a fence observer that tells people, through outbound webhooks, that a fence started,
 * succeeded, failed or was aborted, that the storm guard or the per-node cap refused one, and that a fence waits
 * for an operator. `notice()` only queues (microseconds); each receiver has its own bounded queue, sent in the
 * background in order, so a receiver that is down never delays or fails a fence, nor the other receivers.
 * docs/notifications.md is the operator's side of this.
 */
import { randomUUID } from 'node:crypto';
import type { NotifyEvent, NotifyFormat, NotifySettings } from '../config.js';
import type { FenceEvent, FenceObserver } from '../fence/observer.js';
import { REASONS } from '../fence/vocabulary.js';
import type { Logger } from '../log.js';
import { type Notification, notificationOf, notifiedEvent } from './notification.js';
import { type DeliveryOptions, deliver } from './notification-delivery.js';

/** Notifications waiting per receiver; past it the oldest is dropped (and logged): memory stays bounded. */
export const QUEUE_LIMIT = 100;
/** Keys the duplicate filter remembers at most (a storm of a few thousand nodes fits). */
const SUPPRESSOR_LIMIT = 10_000;

/** What a notifier did since it was built. */
export interface NotifierStats {
  /** Notifications queued (one per receiver). */
  queued: number;
  sent: number;
  /** Given up after their attempts, or refused by the receiver (4xx). */
  failed: number;
  /** Dropped unsent because their receiver's queue was full. */
  dropped: number;
  /** Not queued: a repeated refusal within the repeat interval, or a wait already told as a failure. */
  suppressed: number;
  /** Queued or being sent now. */
  pending: number;
}

/** A fence observer that sends notifications; `flush` lets a runtime that freezes (Lambda) send them first. */
export interface Notifier extends FenceObserver {
  /**
   * Waits until every queued notification was sent or given up, or until `deadline` (epoch ms), whichever
   * comes first; resolves with how many are still pending. Never throws.
   */
  flush(deadline: number): Promise<{ pending: number }>;
  stats(): NotifierStats;
}

export interface NotifierOptions {
  settings: NotifySettings;
  /** `ALERTFENCE_CLUSTER_NAME`, shown in every notification. */
  clusterName?: string | undefined;
  log: Logger;
  fetch?: typeof fetch;
  now?: () => number;
  /** Ids of notifications; random UUIDs by default. */
  id?: () => string;
}

/** A notifier with nowhere to send: notifications are off. */
export const NO_NOTIFIER: Notifier = {
  notice: () => {},
  flush: async () => ({ pending: 0 }),
  stats: () => ({ queued: 0, sent: 0, failed: 0, dropped: 0, suppressed: 0, pending: 0 }),
};

/**
 * Remembers keys for a while: a key seen again within its window is a duplicate. Bounded: past
 * {@link SUPPRESSOR_LIMIT} keys the oldest is forgotten (its next repeat is sent).
 */
class Suppressor {
  private readonly until = new Map<string, number>();

  /** True when `key` was recorded less than `windowMs` ago; else records it now. */
  repeated(key: string, now: number, windowMs: number): boolean {
    const until = this.until.get(key);
    if (until !== undefined && until > now) return true;
    this.until.delete(key);
    this.until.set(key, now + windowMs);
    if (this.until.size > SUPPRESSOR_LIMIT) {
      const oldest = this.until.keys().next().value;
      if (oldest !== undefined) this.until.delete(oldest);
    }
    return false;
  }

  has(key: string, now: number): boolean {
    return (this.until.get(key) ?? 0) > now;
  }
}

/** One receiver: its own queue, sent one at a time so that a fence's notifications arrive in order. */
class Destination {
  private readonly queue: Notification[] = [];
  private running: Promise<void> | undefined;
  private sending = false;

  constructor(
    readonly index: number,
    private readonly url: string,
    readonly format: NotifyFormat,
    private readonly delivery: DeliveryOptions,
    private readonly log: Logger,
    private readonly stats: NotifierStats,
  ) {}

  enqueue(notification: Notification): void {
    if (this.queue.length >= QUEUE_LIMIT) {
      const dropped = this.queue.shift();
      this.stats.dropped += 1;
      this.log.warn('notification queue full: dropped the oldest', {
        destination: this.index,
        format: this.format,
        event: dropped?.event,
        node: dropped?.node,
        fence: dropped?.fence,
        queued: QUEUE_LIMIT,
      });
    }
    this.queue.push(notification);
    this.stats.queued += 1;
    this.start();
  }

  /** Starts the sender unless it runs; it sends until the queue is empty. */
  private start(): void {
    if (this.running) return;
    this.running = (async () => {
      // Sent on a later turn of the event loop: the fence that told us goes on before any byte is written.
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        await this.sendAll();
      } catch (error) {
        // Nothing here should throw; if something does, it must not become an unhandled rejection.
        this.log.error('notification sender failed', { destination: this.index, reason: String(error) });
      } finally {
        this.running = undefined;
        // A notification queued while the sender wound down (after its last look at the queue, before this
        // line) found it running and did not start it: start it again, or that one would wait for the next.
        if (this.queue.length > 0) this.start();
      }
    })();
  }

  /** Resolves when the queue is empty and nothing is being sent. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Queued notifications plus the one being sent. */
  get busy(): number {
    return this.queue.length + (this.sending ? 1 : 0);
  }

  private async sendAll(): Promise<void> {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      this.sending = true;
      try {
        const result = await deliver(this.url, this.format, next, this.delivery);
        const fields = {
          destination: this.index,
          format: this.format,
          event: next.event,
          node: next.node,
          fence: next.fence,
          attempts: result.attempts,
        };
        if (result.kind === 'sent') {
          this.stats.sent += 1;
          this.log.debug('notification sent', { ...fields, status: result.status });
        } else {
          this.stats.failed += 1;
          this.log.warn('notification not delivered', { ...fields, reason: result.reason });
        }
      } finally {
        this.sending = false;
      }
    }
  }
}

/**
 * Builds the notifier of `settings`; {@link NO_NOTIFIER} when there is no receiver.
 *
 * @example
 * const notifier = createNotifier({ settings: config.notify, clusterName: config.clusterName, log });
 * const service = createFenceService({ ...deps, observer: observers(notifier) });
 * // Lambda, before the invocation returns and the environment freezes:
 * await notifier.flush(Date.now() + 2000);
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const { settings, log } = options;
  if (settings.destinations.length === 0) return NO_NOTIFIER;
  const now = options.now ?? Date.now;
  const id = options.id ?? randomUUID;
  const events = new Set(settings.events);
  const counters: NotifierStats = { queued: 0, sent: 0, failed: 0, dropped: 0, suppressed: 0, pending: 0 };
  const delivery: DeliveryOptions = {
    fetch: options.fetch ?? fetch,
    now,
    timeoutMs: settings.timeoutMs,
    secret: settings.secret,
  };
  const destinations = settings.destinations.map(
    ({ url, format }, index) => new Destination(index, url, format, delivery, log, counters),
  );
  const seen = new Suppressor();

  /**
   * Whether this event repeats one already sent (or told another way) and is better left out; decided before
   * anything is built, so that a repeat costs little.
   */
  const duplicate = (name: NotifyEvent, event: FenceEvent, at: number): boolean => {
    switch (name) {
      // Alertmanager repeats the alert (and the tick finds the node again) for as long as the node is down:
      // one refusal per node and reason per repeat interval is news, the rest is noise.
      case 'fence.refused.storm-guard':
      case 'fence.refused.cap':
        return (
          event.kind === 'decided' &&
          seen.repeated(`refused|${event.node}|${event.reason}`, at, settings.repeatIntervalMs)
        );
      case 'fence.failed':
        if (event.kind === 'finished')
          seen.repeated(`failed|${event.journal.id}`, at, settings.repeatIntervalMs);
        return false;
      // A fence that failed for good waits for an operator: `fence.failed` said so already.
      case 'fence.waiting-for-operator':
        return (
          event.kind === 'waiting-for-operator' &&
          event.reason === REASONS.needsOperator &&
          seen.has(`failed|${event.fence}`, at)
        );
      default:
        return false;
    }
  };

  const notice = (event: FenceEvent): void => {
    try {
      const name = notifiedEvent(event);
      if (!name || !events.has(name)) return;
      const at = now();
      if (duplicate(name, event, at)) {
        counters.suppressed += 1;
        return;
      }
      const notification = notificationOf(event, {
        id: id(),
        at: new Date(at).toISOString(),
        cluster: options.clusterName,
      });
      if (!notification) return;
      for (const destination of destinations) destination.enqueue(notification);
    } catch (error) {
      // Told, never asked: whatever goes wrong here stays here (the fence goes on).
      log.warn('notification not queued', { event: event.kind, reason: String(error) });
    }
  };

  const pending = () => destinations.reduce((sum, destination) => sum + destination.busy, 0);

  return {
    notice,
    async flush(deadline) {
      const waitMs = deadline - now();
      if (pending() > 0 && waitMs > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(destinations.map((destination) => destination.idle())),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, waitMs);
          }),
        ]).finally(() => clearTimeout(timer));
      }
      return { pending: pending() };
    },
    stats: () => ({ ...counters, pending: pending() }),
  };
}
