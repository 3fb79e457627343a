/**
 * The EKS IAM bearer token: what `aws eks get-token` prints, made from the function's own credentials so
 * it can talk to an EKS API server with nothing but its role.
 *
 * The token is `k8s-aws-v1.` + base64url (no padding) of a presigned STS `GetCallerIdentity` URL whose
 * signature covers the header `x-k8s-aws-id: <cluster name>`; the API server's authenticator
 * (kubernetes-sigs/aws-iam-authenticator, `pkg/token`) replays the URL against STS to learn who signed it,
 * and accepts it for 15 minutes after `X-Amz-Date`.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialsInput } from './clients.js';

/** Prefix of every EKS IAM token (aws-iam-authenticator `v1Prefix`). */
export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
/** The header that binds a token to one cluster. */
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** `X-Amz-Expires` of the presigned URL, as `aws eks get-token` sets it. */
export const PRESIGN_EXPIRES_SECONDS = 60;
/** How long the authenticator accepts a token after it was signed. */
export const EKS_TOKEN_LIFETIME_MS = 15 * 60_000;

/** Options of `createEksToken`. */
export interface EksTokenOptions {
  /** The EKS cluster's name (not its ARN), as the authenticator's `--cluster-id`. */
  clusterName: string;
  /** Region of the STS endpoint and of the signature. */
  region: string;
  credentials: AwsCredentialsInput;
  /** Signing time, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** STS endpoint URL; default the regional one (`https://sts.<region>.amazonaws.com`). */
  stsEndpoint?: string;
}

/**
 * Creates one EKS bearer token.
 *
 * @example
 * const token = await createEksToken({ clusterName: 'prod', region: 'eu-west-1', credentials });
 * // Authorization: Bearer k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20v…
 */
export async function createEksToken(options: EksTokenOptions): Promise<string> {
  const credentials =
    typeof options.credentials === 'function' ? await options.credentials() : options.credentials;
  return tokenFor(options, credentials);
}

/** Resolved credentials (access key, secret, session token, expiry). */
type StaticCredentials = Exclude<AwsCredentialsInput, (...args: never[]) => unknown>;

async function tokenFor(options: EksTokenOptions, credentials: StaticCredentials): Promise<string> {
  const endpoint = new URL(options.stsEndpoint ?? defaultStsEndpoint(options.region));
  const signer = new SignatureV4({ service: 'sts', region: options.region, credentials, sha256: Sha256 });
  const request = new HttpRequest({
    method: 'GET',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: endpoint.host, [CLUSTER_ID_HEADER]: options.clusterName },
  });
  const presigned = await signer.presign(request, {
    expiresIn: PRESIGN_EXPIRES_SECONDS,
    signingDate: new Date((options.now ?? Date.now)()),
  });
  const query = Object.entries(presigned.query ?? {})
    .flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map((item) => `${uriEncode(key)}=${uriEncode(item ?? '')}`),
    )
    .join('&');
  const url = `${endpoint.protocol}//${endpoint.host}/?${query}`;
  return EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

function defaultStsEndpoint(region: string): string {
  // China regions live in their own DNS domain.
  return region.startsWith('cn-')
    ? `https://sts.${region}.amazonaws.com.cn`
    : `https://sts.${region}.amazonaws.com`;
}

// SigV4's URI encoding (RFC 3986 unreserved characters only); encodeURIComponent leaves !'()* alone.
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Options of `eksBearerTokenProvider`. */
export interface EksBearerTokenProviderOptions extends Omit<EksTokenOptions, 'credentials'> {
  /** Default: the SDK's default provider chain (the Lambda role). */
  credentials?: AwsCredentialsInput;
  /**
   * Age after which a new token is made. Default 10 minutes: tokens are accepted for 15, so a token handed
   * out just before the refresh still has 5 minutes for the requests in flight.
   */
  refreshAfterMs?: number;
}

/**
 * A cached token source for the Kubernetes client: returns the same token until it is `refreshAfterMs`
 * old, or until one minute before the credentials that signed it expire (a token dies with its session
 * credentials), then makes a new one. Concurrent callers share one refresh; a failed refresh is retried on
 * the next call.
 *
 * @example
 * const token = eksBearerTokenProvider({ clusterName: 'prod', region: 'eu-west-1' });
 * headers.Authorization = `Bearer ${await token()}`;
 */
export function eksBearerTokenProvider(options: EksBearerTokenProviderOptions): () => Promise<string> {
  const now = options.now ?? Date.now;
  const refreshAfterMs = options.refreshAfterMs ?? 10 * 60_000;
  const credentialSource = options.credentials ?? fromNodeProviderChain();
  let cached: { token: string; refreshAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  const refresh = async (): Promise<string> => {
    const credentials = typeof credentialSource === 'function' ? await credentialSource() : credentialSource;
    const signedAt = now();
    const token = await tokenFor({ ...options, credentials, now: () => signedAt }, credentials);
    const credentialsEnd = credentials.expiration
      ? credentials.expiration.getTime() - 60_000
      : Number.POSITIVE_INFINITY;
    cached = { token, refreshAt: Math.min(signedAt + refreshAfterMs, credentialsEnd) };
    return token;
  };

  return () => {
    if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
    inFlight ??= refresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
