import { KUBE_NAMES } from './names.js';
import type { Lease } from './objects.js';

/** What tells one of alertfence's Leases apart: the journal of a node, the fence slots, the pause. */
export interface OwnedLeaseSpec {
  name: string;
  namespace: string;
  /** The `alertfence.io/kind` label. */
  kind: 'journal' | 'slots' | 'pause';
  /** The Lease as read before this write: its labels and annotations are kept, its version is the CAS guard. */
  previous: Lease | undefined;
  /** The whole annotations of the new Lease (start from `previous`'s to keep them). */
  annotations: Record<string, string>;
  labels?: Record<string, string>;
  spec?: Lease['spec'];
}

/**
 * A Lease alertfence owns in its namespace, written over `previous` with compare-and-swap on its
 * `resourceVersion`: labelled as alertfence's and as its kind, nobody holding it unless `spec` says so.
 */
export function ownedLease(lease: OwnedLeaseSpec): Lease {
  const { previous } = lease;
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: lease.name,
      namespace: lease.namespace,
      ...(previous?.metadata?.resourceVersion ? { resourceVersion: previous.metadata.resourceVersion } : {}),
      labels: {
        ...(previous?.metadata?.labels ?? {}),
        'app.kubernetes.io/managed-by': KUBE_NAMES.component,
        [KUBE_NAMES.kindLabel]: lease.kind,
        ...lease.labels,
      },
      annotations: lease.annotations,
    },
    spec: lease.spec ?? { holderIdentity: '' },
  };
}
