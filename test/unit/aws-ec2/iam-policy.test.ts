import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EC2_DRIVER_ACTIONS } from '../../../drivers/aws-ec2/index.js';

interface Statement {
  Sid: string;
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

const policy = JSON.parse(
  readFileSync(new URL('../../../infra/aws/iam-policy.json', import.meta.url), 'utf8'),
) as {
  Version: string;
  Statement: Statement[];
};
const list = (value: string | string[]) => (Array.isArray(value) ? value : [value]);

describe('infra/aws/iam-policy.json', () => {
  it('should grant exactly the EC2 actions the driver calls, and only Allow', () => {
    // Act
    const actions = new Set(policy.Statement.flatMap((statement) => list(statement.Action)));

    // Assess
    expect(policy.Version).toBe('2012-10-17');
    expect([...actions].sort()).toEqual([...EC2_DRIVER_ACTIONS].sort());
    expect(policy.Statement.every((statement) => statement.Effect === 'Allow')).toBe(true);
  });

  it('should allow stop, start and detach only on instances tagged for the cluster', () => {
    // Prepare
    const mutating = ['ec2:StopInstances', 'ec2:StartInstances', 'ec2:DetachVolume'];

    // Act
    const onInstances = policy.Statement.filter((statement) =>
      list(statement.Resource).some((resource) => resource.includes(':instance/') || resource === '*'),
    ).filter((statement) => list(statement.Action).some((action) => mutating.includes(action)));

    // Assess
    expect(onInstances).toHaveLength(1);
    expect(onInstances[0]?.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/kubernetes.io/cluster/CLUSTER_NAME': ['owned', 'shared'] },
    });
  });

  it('should leave DetachVolume unconditioned on volumes only, so PV volumes need no cluster tag', () => {
    // Act
    const unconditioned = policy.Statement.filter(
      (statement) => !statement.Condition && list(statement.Action).includes('ec2:DetachVolume'),
    );

    // Assess
    expect(unconditioned.flatMap((statement) => list(statement.Resource))).toEqual([
      'arn:aws:ec2:*:*:volume/*',
    ]);
  });
});
