/**
 * The Kubernetes objects alertfence reads and writes, as the API server sends them: only the fields it uses,
 * every field optional as in the API. Timestamps are the RFC 3339 strings of the wire; nothing here is a class.
 */

/** `metav1.Time` or `metav1.MicroTime` on the wire, e.g. `2026-11-22T13:00:00Z` or `…13:00:00.123456Z`. */
export type Timestamp = string;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: Timestamp;
  deletionTimestamp?: Timestamp;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
  }>;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | (string & {});
}

export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: Timestamp;
  lastTransitionTime?: Timestamp;
}

export interface Node {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: { providerID?: string; taints?: Taint[]; unschedulable?: boolean };
  status?: {
    conditions?: NodeCondition[];
    addresses?: Array<{ type: string; address: string }>;
  };
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    /** `metav1.MicroTime`: the API server refuses these with fewer than six fractional digits. */
    acquireTime?: Timestamp;
    renewTime?: Timestamp;
    leaseTransitions?: number;
  };
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal' | (string & {});
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    nodeName?: string;
    containers?: Array<{ name: string; image?: string }>;
    tolerations?: Toleration[];
    volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>;
  };
  status?: { phase?: string };
}

export interface VolumeAttachment {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    attacher?: string;
    nodeName?: string;
    source?: { persistentVolumeName?: string };
  };
  status?: { attached?: boolean };
}

export interface PersistentVolume {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    csi?: { driver: string; volumeHandle: string };
    awsElasticBlockStore?: { volumeID: string };
    cinder?: { volumeID: string };
    claimRef?: { namespace?: string; name?: string };
  };
}

export interface KubeEvent {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  involvedObject?: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
  type?: string;
  reason?: string;
  message?: string;
  source?: { component?: string };
  reportingComponent?: string;
  reportingInstance?: string;
  firstTimestamp?: Timestamp;
  lastTimestamp?: Timestamp;
  count?: number;
}

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
