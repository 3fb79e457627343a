/**
 * The driver's IAM policy, as a real IAM API (moto's, which validates policy documents) accepts it.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { awsQuery, xmlText } from '../../peers/moto.js';
import { useMoto } from './moto-ec2.js';

describe('infra/aws/iam-policy.json on moto IAM', () => {
  const suite = useMoto({ resetEachTest: false });

  it.each([
    [
      'with the cluster tag condition, CLUSTER_NAME set',
      (policy: string) => policy.replaceAll('CLUSTER_NAME', 'prod'),
    ],
    [
      'without the condition',
      (policy: string) => {
        const document = JSON.parse(policy) as { Statement: Array<{ Condition?: unknown }> };
        for (const statement of document.Statement) delete statement.Condition;
        return JSON.stringify(document);
      },
    ],
  ])('should be accepted by CreatePolicy %s', async (label, prepare) => {
    // Prepare
    const document = prepare(
      await readFile(new URL('../../../infra/aws/iam-policy.json', import.meta.url), 'utf8'),
    );

    // Act
    const xml = await awsQuery(suite.moto, {
      service: 'iam',
      version: '2010-05-08',
      action: 'CreatePolicy',
      params: { PolicyName: `alertfence-ec2-driver-${label.length}`, PolicyDocument: document },
    });

    // Assess
    expect(xmlText(xml, 'Arn')[0]).toMatch(/^arn:aws:iam::\d{12}:policy\/alertfence-ec2-driver-\d+$/);
  });
});
