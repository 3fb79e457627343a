/** The aws section: the EC2 power driver (`ALERTFENCE_DRIVERS=aws`). Credentials come from the SDK's chain. */
import * as z from 'zod';
import { bool, url } from './fields.js';

/** What the EC2 driver is built from. */
export interface AwsSettings {
  /** `AWS_REGION`; unset, the SDK's own lookup (profile, instance metadata). */
  region: string | undefined;
  /** `ALERTFENCE_AWS_ENDPOINT`: an emulator or a VPC endpoint. */
  endpoint: string | undefined;
  /** `ALERTFENCE_AWS_ROLE_ARN`: a role assumed per cluster. */
  roleArn: string | undefined;
  /** `ALERTFENCE_AWS_CLUSTER_NAME`: instances must carry `kubernetes.io/cluster/<name>`. */
  clusterName: string | undefined;
  /** `ALERTFENCE_AWS_LOOKUP`: nodes without an `aws://` providerID are looked up. */
  lookup: boolean;
  /** `ALERTFENCE_AWS_LOOKUP_TAG`: the tag that names a node, for that lookup. */
  lookupTagKey: string | undefined;
}

export const awsSection = z
  .object({
    AWS_REGION: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be a region like eu-west-1')
      .optional(),
    ALERTFENCE_AWS_ENDPOINT: url().optional(),
    ALERTFENCE_AWS_ROLE_ARN: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN')
      .optional(),
    ALERTFENCE_AWS_CLUSTER_NAME: z.string().optional(),
    ALERTFENCE_AWS_LOOKUP: bool('ALERTFENCE_AWS_LOOKUP').default(false),
    ALERTFENCE_AWS_LOOKUP_TAG: z.string().optional(),
  })
  .transform(
    (c): AwsSettings => ({
      region: c.AWS_REGION,
      endpoint: c.ALERTFENCE_AWS_ENDPOINT,
      roleArn: c.ALERTFENCE_AWS_ROLE_ARN,
      clusterName: c.ALERTFENCE_AWS_CLUSTER_NAME,
      lookup: c.ALERTFENCE_AWS_LOOKUP,
      lookupTagKey: c.ALERTFENCE_AWS_LOOKUP_TAG,
    }),
  );
