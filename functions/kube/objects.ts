/**
 * The Kubernetes objects alertfence reads and writes: the models of `@kubernetes/client-node`, as they travel
 * as JSON. The library's models are classes whose `metav1.Time` fields are `Date`s once its serializer has
 * walked them; alertfence never runs that serializer (see `README.md`), so here every `Date` of a model is the
 * RFC 3339 string the API server sent, `MicroTime` included, and nothing is a class.
 */
import type {
  CoreV1Event,
  V1Lease,
  V1Node,
  V1NodeCondition,
  V1ObjectMeta,
  V1PersistentVolume,
  V1Pod,
  V1Taint,
  V1Toleration,
  V1VolumeAttachment,
} from '@kubernetes/client-node';

/** `metav1.Time` or `metav1.MicroTime` on the wire, e.g. `2026-11-22T13:00:00Z` or `…13:00:00.123456Z`. */
export type Timestamp = string;

/** A model of the library as JSON carries it: each `Date` (and `V1MicroTime`) is its RFC 3339 text. */
export type Wire<T> = T extends Date
  ? Timestamp
  : T extends ReadonlyArray<infer Item>
    ? Array<Wire<Item>>
    : T extends object
      ? { [Key in keyof T]: Wire<T[Key]> }
      : T;

export type ObjectMeta = Wire<V1ObjectMeta>;
export type Taint = Wire<V1Taint>;
export type Toleration = Wire<V1Toleration>;
export type NodeCondition = Wire<V1NodeCondition>;
export type Node = Wire<V1Node>;
export type Lease = Wire<V1Lease>;
export type Pod = Wire<V1Pod>;
export type VolumeAttachment = Wire<V1VolumeAttachment>;
export type PersistentVolume = Wire<V1PersistentVolume>;
export type KubeEvent = Wire<CoreV1Event>;

/** A list answer of the API server. */
export interface ObjectList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/**
 * `metav1.MicroTime` for a moment: RFC 3339 with six fractional digits, which is what the API server's
 * parser wants for a Lease's times (`Date#toISOString` gives three, and the whole Lease is refused).
 */
export function microTime(epochMs: number): Timestamp {
  return new Date(epochMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Epoch milliseconds of a timestamp, or `undefined` when absent or unparsable. */
export function timestampMillis(value: Timestamp | undefined): number | undefined {
  if (value === undefined) return undefined;
  const millis = Date.parse(value);
  return Number.isNaN(millis) ? undefined : millis;
}
