/**
 * Finding the instance of a node without a providerID: by tag, then private DNS name; the instance found must
 * also hold one of the node's InternalIPs, since names, tags and addresses all get reused. Several matches are
 * refused, never guessed between.
 */

import { DescribeInstancesCommand, type EC2Client, type Filter } from '@aws-sdk/client-ec2';
import { type CallOptions, InstanceNotFoundError, type NodeIdentity } from '../driver.js';
import { callWithin, type RetryPolicy } from './call.js';
import { toDriverError } from './errors.js';

/** Where and how to look. */
export interface LookupScope {
  /** The client of the configured region. */
  client: EC2Client;
  /** The configured region; the client's own when absent. */
  region: string | undefined;
  /** Only instances tagged `kubernetes.io/cluster/<name>`. */
  clusterName: string | undefined;
  /** Tag whose value is the Node name, tried first. */
  lookupTagKey: string | undefined;
  retry: RetryPolicy;
}

/** The node's instance and its region; `InstanceNotFoundError` on none or several. */
export async function lookUpInstance(
  node: NodeIdentity,
  scope: LookupScope,
  options: CallOptions,
): Promise<{ id: string; region: string }> {
  if (node.internalIPs.length === 0) {
    throw new InstanceNotFoundError(
      `node ${node.name} reports no InternalIP: an instance is looked up by name and address together, never by name alone`,
    );
  }
  const within: Filter[] = [
    ...(scope.clusterName
      ? [{ Name: 'tag-key', Values: [`kubernetes.io/cluster/${scope.clusterName}`] }]
      : []),
    { Name: 'private-ip-address', Values: [...node.internalIPs] },
  ];
  const attempts: Array<{ by: string; filter: Filter }> = [];
  if (scope.lookupTagKey) {
    attempts.push({
      by: `tag ${scope.lookupTagKey}=${node.name}`,
      filter: { Name: `tag:${scope.lookupTagKey}`, Values: [node.name] },
    });
  }
  attempts.push({
    by: `private DNS name ${node.name}`,
    filter: { Name: 'private-dns-name', Values: [node.name] },
  });
  const address = `and InternalIP ${node.internalIPs.join(' or ')}`;
  for (const attempt of attempts) {
    const ids = await instanceIds(scope, [...within, attempt.filter], options);
    // Several matches (a reused address, a copied tag) are refused, never guessed between; terminated
    // instances count too, since one of them may be the machine the Node belonged to.
    if (ids.length > 1) {
      throw new InstanceNotFoundError(
        `node ${node.name}: ${ids.length} instances match ${attempt.by} ${address}: ${ids.join(', ')}`,
      );
    }
    const [id] = ids;
    if (id) return { id, region: scope.region ?? (await scope.client.config.region()) };
  }
  throw new InstanceNotFoundError(
    `node ${node.name}: no instance matches ${attempts.map((attempt) => attempt.by).join(', or ')} ${address}`,
  );
}

/** The ids of every instance the filters match, page after page. */
async function instanceIds(scope: LookupScope, filters: Filter[], options: CallOptions): Promise<string[]> {
  const ids: string[] = [];
  let nextToken: string | undefined;
  do {
    const input = { Filters: filters, ...(nextToken ? { NextToken: nextToken } : {}) };
    try {
      const output = await callWithin(
        (abortSignal) => scope.client.send(new DescribeInstancesCommand(input), { abortSignal }),
        options,
        scope.retry,
        'ec2:DescribeInstances (lookup)',
      );
      for (const reservation of output.Reservations ?? []) {
        for (const instance of reservation.Instances ?? [])
          if (instance.InstanceId) ids.push(instance.InstanceId);
      }
      nextToken = output.NextToken;
    } catch (error) {
      throw toDriverError(error, 'ec2:DescribeInstances');
    }
  } while (nextToken);
  return ids;
}
