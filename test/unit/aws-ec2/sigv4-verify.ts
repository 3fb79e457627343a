/**
 * An independent check of a SigV4 presigned GET URL, written from the AWS "Signature Version 4 signing
 * process" document with node:crypto, so the token tests do not grade `@smithy/signature-v4` with itself.
 */
import { createHash, createHmac } from 'node:crypto';

/** The parts of an EKS token, decoded. */
export interface DecodedEksToken {
  url: URL;
  params: Map<string, string>;
}

/** Decodes `k8s-aws-v1.<base64url>` back into the presigned URL. */
export function decodeEksToken(token: string): DecodedEksToken {
  const prefix = 'k8s-aws-v1.';
  if (!token.startsWith(prefix)) throw new Error(`not an EKS token: ${token.slice(0, 20)}`);
  const url = new URL(Buffer.from(token.slice(prefix.length), 'base64url').toString('utf8'));
  return { url, params: new Map(url.searchParams) };
}

const encode = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/**
 * True when the URL's `X-Amz-Signature` is the signature of the request with these headers (lower-case
 * names) under this secret key.
 */
export function verifyPresignedGet(
  url: URL,
  headers: Record<string, string>,
  secretAccessKey: string,
): boolean {
  const params = [...url.searchParams].filter(([key]) => key !== 'X-Amz-Signature');
  const canonicalQuery = params
    .map(([key, value]) => [encode(key), encode(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const signedHeaders = url.searchParams.get('X-Amz-SignedHeaders') ?? '';
  const canonicalHeaders = signedHeaders
    .split(';')
    .map((name) => `${name}:${(headers[name] ?? '').trim()}\n`)
    .join('');
  const canonicalRequest = [
    'GET',
    url.pathname || '/',
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    sha256Hex(''),
  ].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date') ?? '';
  const [, date, region, service] = (url.searchParams.get('X-Amz-Credential') ?? '').split('/');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${secretAccessKey}`, date ?? '');
  key = hmac(key, region ?? '');
  key = hmac(key, service ?? '');
  key = hmac(key, 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  return signature === url.searchParams.get('X-Amz-Signature');
}
