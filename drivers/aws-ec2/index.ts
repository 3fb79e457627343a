/**
 * The AWS EC2 power driver and the EKS IAM token.
 *
 * @example
 * const driver = createEc2Driver({ clusterName: 'prod' });
 * const ref = await driver.resolve(node, { deadline });
 */
import { Ec2Driver, type Ec2DriverOptions } from './ec2-driver.js';

/** Builds the EC2 driver; see `Ec2DriverOptions` for the defaults. */
export function createEc2Driver(options: Ec2DriverOptions = {}): Ec2Driver {
  return new Ec2Driver(options);
}

export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './call.js';
export type {
  AwsCredentialOptions,
  AwsCredentialsInput,
  Ec2ClientFactory,
} from './clients.js';
export { EC2_DRIVER_NAME, Ec2Driver, type Ec2DriverOptions } from './ec2-driver.js';
export {
  CLUSTER_ID_HEADER,
  createEksToken,
  EKS_TOKEN_LIFETIME_MS,
  EKS_TOKEN_PREFIX,
  type EksBearerTokenProviderOptions,
  type EksTokenOptions,
  eksBearerTokenProvider,
  PRESIGN_EXPIRES_SECONDS,
} from './eks-token.js';
export { classifyEc2Error, Ec2ApiError, type Ec2ErrorKind } from './errors.js';
export { EC2_DRIVER_ACTIONS } from './preflight.js';
export { isAwsProviderId, parseAwsProviderId, regionOfZone } from './provider-id.js';
