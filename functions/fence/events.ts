/**
 * Kubernetes Events of a fence: on the Node while it exists, then on the journal Lease. Best effort: an Event
 * that cannot be recorded never fails a fence.
 */
import type { Config } from '../config.js';
import type { KubePort } from '../kube/port.js';
import type { Logger } from '../log.js';
import { type FenceJournal, hasCompleted } from './journal.js';

export interface EventDeps {
  kube: KubePort;
  config: Pick<Config, 'namespace'>;
  log: Logger;
}

/** What an Event is about when there is no trusted journal to say it: a node, by name. */
export interface EventAbout {
  node: string;
  nodeUid?: string;
  /** The fence id to prefix the message with, when known. */
  fence?: string;
  /** Put the Event on the journal Lease rather than the Node (the Node is gone). */
  onLease?: boolean;
}

export async function recordEvent(
  deps: EventDeps,
  about: EventAbout,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  try {
    await deps.kube.createEvent(deps.config.namespace, {
      subject: about.onLease
        ? {
            kind: 'Lease',
            name: about.node,
            namespace: deps.config.namespace,
            apiVersion: 'coordination.k8s.io/v1',
          }
        : {
            kind: 'Node',
            name: about.node,
            apiVersion: 'v1',
            ...(about.nodeUid ? { uid: about.nodeUid } : {}),
          },
      type,
      reason,
      message: about.fence ? `fence ${about.fence}: ${message}` : message,
    });
  } catch (error) {
    deps.log.warn('could not record a Kubernetes Event', { node: about.node, reason: String(error) });
  }
}

/** An Event about a fence: on its Node until DeleteNode completed, then on its Lease. */
export function emitEvent(
  deps: EventDeps,
  journal: FenceJournal,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  return recordEvent(
    deps,
    {
      node: journal.node,
      nodeUid: journal.nodeUid,
      fence: journal.id,
      onLease: hasCompleted(journal, 'DeleteNode'),
    },
    type,
    reason,
    message,
  );
}
