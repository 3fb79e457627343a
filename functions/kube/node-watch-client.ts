/**
 * The calls that follow the Nodes (`NodeWatchPort`): a list from the watch cache, then watches streamed line by
 * line. Apart from the Kubernetes client, on a transport of their own (a watch holds its connection), so that
 * a runtime that follows nothing (Lambda) does not carry them.
 */
import { withAuthenticators } from './authenticators.js';
import { classify } from './classify.js';
import type { KubeClientOptions } from './client.js';
import { type KubeEndpoint, toKubeConfig } from './kubeconfig.js';
import type { Node, ObjectList } from './objects.js';
import { KubeError, KubeGoneError, type NodeWatchEvent, type NodeWatchPort } from './port.js';
import { createStream } from './stream.js';
import { createTransport, KubeStatusError } from './transport.js';

/** How long after its `timeoutSeconds` a watch the API server has not ended counts as a dead connection. */
const WATCH_END_SLACK_SECONDS = 3;
/** The longest a list of every Node may take to arrive (5,000 Nodes: 20 MB from the watch cache). */
const LIST_TIMEOUT_MS = 60_000;
const NODES = '/api/v1/nodes';

/**
 * One line of a watch. An `ERROR` line carries a `Status`: its code (410 when the `resourceVersion` asked
 * for is older than the API server keeps) is thrown as the status of the whole watch.
 */
function watchEvent(value: unknown): NodeWatchEvent {
  const event = value as {
    type?: string;
    object?: Node & { code?: number; reason?: string; message?: string };
  };
  const { type, object } = event;
  if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK') {
    return { type, node: object ?? {} };
  }
  if (type === 'ERROR') throw new KubeStatusError(object?.code ?? 500, object?.reason, object?.message);
  throw new KubeError(`a watch event of unknown type ${String(type)}`);
}

/**
 * The Node-following calls as alertfence's identity, from the same endpoint as its Kubernetes client.
 *
 * @example
 * const view = followNodes(createNodeWatchClient(endpoint), { labelSelector, log });
 */
export function createNodeWatchClient(
  endpoint: KubeEndpoint,
  options: KubeClientOptions = {},
): NodeWatchPort {
  const { config, forget } = withAuthenticators(toKubeConfig(endpoint), options.runExec);
  const transport = createTransport(config, {
    timeoutMs: options.requestTimeoutMs ?? LIST_TIMEOUT_MS,
    onUnauthorized: forget,
  });
  const stream = createStream(config, forget);
  return {
    async listNodesToWatch(labelSelector, callOptions) {
      try {
        // resourceVersion=0: from the watch cache, as client-go's reflector lists before it watches.
        const answer = await transport.request<ObjectList<Node>>({
          method: 'GET',
          path: NODES,
          query: { labelSelector, resourceVersion: '0' },
          ...(callOptions?.deadline === undefined ? {} : { deadline: callOptions.deadline }),
        });
        return { nodes: answer.items ?? [], resourceVersion: answer.metadata?.resourceVersion ?? '' };
      } catch (error) {
        throw classify(error, 'list nodes to watch');
      }
    },
    async watchNodes(labelSelector, resourceVersion, timeoutSeconds, handlers, signal) {
      const query = {
        watch: 'true',
        labelSelector,
        resourceVersion,
        timeoutSeconds,
        allowWatchBookmarks: 'true',
      };
      try {
        // The API server ends the watch after `timeoutSeconds`; a few seconds more and the connection is dead.
        await stream(
          { method: 'GET', path: NODES, query },
          (timeoutSeconds + WATCH_END_SLACK_SECONDS) * 1000,
          { onOpen: handlers.onOpen, onObject: (value) => handlers.onEvent(watchEvent(value)) },
          signal,
        );
      } catch (error) {
        if (error instanceof KubeStatusError && error.status === 410) {
          throw new KubeGoneError(`watch nodes: ${error.message}`, { status: 410, cause: error });
        }
        throw classify(error, 'watch nodes');
      }
    },
  };
}
