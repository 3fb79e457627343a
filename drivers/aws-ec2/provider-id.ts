/**
 * The EC2 instance named by a Node's `spec.providerID`, and the region of an availability zone.
 */

/** The parts of an `aws://` providerID. */
export interface AwsProviderId {
  instanceId: string;
  /** Availability zone (`us-east-1a`); absent in the rare `aws:///i-…` form. */
  zone?: string;
}

// The EC2 API's own shape for instance ids: `i-` and 8 (old) or 17 hex digits.
const INSTANCE_ID = /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
// Regions are `<partition-ish prefix>-<direction>-<n>` (`us-east-1`, `us-gov-west-1`, `ap-southeast-4`,
// `us-isob-east-1`); zones add a letter (`us-east-1a`) or a Local/Wavelength Zone suffix
// (`us-west-2-lax-1a`, `us-east-1-wl1-bos-wlz-1`). The region is the part up to the first number.
const REGION_OF_ZONE = /^([a-z]{2}(?:-[a-z]+)+-\d+)(?:[a-z]|-[a-z0-9-]+)$/;

/** True when the providerID has the `aws://` scheme the cloud provider and the EBS CSI driver write. */
export function isAwsProviderId(providerID: string | undefined): providerID is string {
  return providerID?.startsWith('aws://') ?? false;
}

/**
 * Parses `aws:///<zone>/<instance-id>` (what the AWS cloud provider writes). Returns `undefined` when the
 * providerID is not `aws://` or does not name an EC2 instance (e.g. EKS Fargate's
 * `aws:///<zone>/<hash>/fargate-…`), so the caller refuses rather than guesses.
 *
 * @example parseAwsProviderId('aws:///eu-west-1b/i-0123456789abcdef0')
 *   // → { zone: 'eu-west-1b', instanceId: 'i-0123456789abcdef0' }
 */
export function parseAwsProviderId(providerID: string | undefined): AwsProviderId | undefined {
  if (!isAwsProviderId(providerID)) return undefined;
  const parts = providerID.slice('aws://'.length).split('/').filter(Boolean);
  if (parts.length === 0 || parts.length > 2) return undefined;
  const instanceId = parts[parts.length - 1] ?? '';
  if (!INSTANCE_ID.test(instanceId)) return undefined;
  const zone = parts.length === 2 ? parts[0] : undefined;
  if (zone !== undefined && regionOfZone(zone) === undefined) return undefined;
  return zone === undefined ? { instanceId } : { instanceId, zone };
}

/**
 * The region of an availability zone name, or `undefined` when the name is not one.
 *
 * @example regionOfZone('us-west-2-lax-1a') // → 'us-west-2'
 */
export function regionOfZone(zone: string): string | undefined {
  return REGION_OF_ZONE.exec(zone)?.[1];
}
