/**
 * AWS credentials and EC2 clients for the driver: the default provider chain (the Lambda role), optionally
 * assuming a per-cluster role, one client per region.
 */
import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';

/** Static credentials or a provider of them, as the SDK clients accept. */
export type AwsCredentialsInput = NonNullable<EC2ClientConfig['credentials']>;

/** Where credentials come from. */
export interface AwsCredentialOptions {
  /** Base credentials; the SDK's default provider chain (environment, Lambda role, …) when absent. */
  credentials?: AwsCredentialsInput;
  /** A role to assume with the base credentials (e.g. one role per cluster, or in another account). */
  roleArn?: string;
  /** Session name of the assumed role, shown in CloudTrail. Default `alertfence`. */
  roleSessionName?: string;
  /** External id the role's trust policy may require. */
  externalId?: string;
  /** Region of the STS client that assumes the role; the SDK default when absent. */
  stsRegion?: string;
  /** STS endpoint override (tests, other partitions). */
  stsEndpoint?: string;
}

/**
 * The credentials to sign with: `roleArn` assumed through STS with the base credentials (cached and
 * refreshed by the SDK before they expire), else the base credentials, else `undefined` so the SDK uses
 * its default provider chain.
 */
function awsCredentials(options: AwsCredentialOptions): AwsCredentialsInput | undefined {
  if (!options.roleArn) return options.credentials;
  return fromTemporaryCredentials({
    params: {
      RoleArn: options.roleArn,
      RoleSessionName: options.roleSessionName ?? 'alertfence',
      ...(options.externalId ? { ExternalId: options.externalId } : {}),
    },
    ...(options.credentials ? { masterCredentials: options.credentials } : {}),
    clientConfig: {
      ...(options.stsRegion ? { region: options.stsRegion } : {}),
      ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}),
    },
  });
}

/** Makes the EC2 client of a region (`undefined`: the SDK's default region). */
export type Ec2ClientFactory = (region: string | undefined) => EC2Client;

/** Options of the clients the driver builds itself. */
export interface Ec2ClientOptions extends AwsCredentialOptions {
  /** EC2 endpoint override, e.g. a moto server or a VPC endpoint. */
  endpoint?: string;
}

/**
 * A factory that builds one `EC2Client` per region and reuses it. The clients make one attempt per call
 * (`maxAttempts: 1`): the driver retries itself, inside the invocation's deadline.
 */
export function cachedEc2ClientFactory(options: Ec2ClientOptions): Ec2ClientFactory {
  const credentials = awsCredentials(options);
  const clients = new Map<string, EC2Client>();
  return (region) => {
    const key = region ?? '';
    let client = clients.get(key);
    if (!client) {
      client = new EC2Client({
        maxAttempts: 1,
        ...(region ? { region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(credentials ? { credentials } : {}),
      });
      clients.set(key, client);
    }
    return client;
  };
}
