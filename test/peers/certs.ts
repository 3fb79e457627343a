import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { requirePeer, runCommand } from './process.js';

/** A certificate and its private key, as PEM files on disk and as text. */
export interface CertificateFiles {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

/** What a leaf certificate is for and whom it names. */
export interface CertificateRequest {
  /** Base name of the files written (`<name>.crt`, `<name>.key`). */
  name: string;
  commonName: string;
  /** Kubernetes reads `O=` as the client's groups (`system:masters` is the admin group). */
  organization?: string;
  usage: 'server' | 'client';
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

/** The key pair the API server signs and verifies service-account tokens with. */
export interface ServiceAccountKeys {
  publicKeyPath: string;
  privateKeyPath: string;
}

/** Certificates live one day: long enough for any test run, short enough to be useless afterwards. */
const VALID_DAYS = '1';

/** Finds `openssl` on the PATH; X.509 issuing is not in `node:crypto`, so the CLI does that one job. */
export function opensslPath(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      return requirePeer(join(dir, 'openssl'));
    } catch {
      // Not in this directory; look further.
    }
  }
  return requirePeer('/usr/bin/openssl', 'apt-get install openssl');
}

/** A fresh P-256 key as PKCS#8 PEM, from `node:crypto`. */
function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function subject(commonName: string, organization?: string): string {
  const quote = (value: string) => value.replace(/[/\\=+,]/g, (c) => `\\${c}`);
  return `${organization ? `/O=${quote(organization)}` : ''}/CN=${quote(commonName)}`;
}

/**
 * Creates a self-signed certificate authority in `dir` (`ca.crt`, `ca.key`): the root the API server trusts
 * for client certificates and that signs its own serving certificate.
 */
export async function createCertificateAuthority(dir: string, commonName: string): Promise<CertificateFiles> {
  const keyPath = join(dir, 'ca.key');
  const certPath = join(dir, 'ca.crt');
  const keyPem = newKeyPem();
  await writeFile(keyPath, keyPem, { mode: 0o600 });
  await runCommand(opensslPath(), [
    'req',
    '-x509',
    '-new',
    '-key',
    keyPath,
    '-subj',
    subject(commonName),
    '-days',
    VALID_DAYS,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out',
    certPath,
  ]);
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8'), keyPem };
}

/** Issues a server or client certificate signed by `ca`, into `dir`. */
export async function issueCertificate(
  ca: CertificateFiles,
  dir: string,
  request: CertificateRequest,
): Promise<CertificateFiles> {
  const keyPath = join(dir, `${request.name}.key`);
  const certPath = join(dir, `${request.name}.crt`);
  const keyPem = newKeyPem();
  await writeFile(keyPath, keyPem, { mode: 0o600 });
  const altNames = [
    ...(request.dnsNames ?? []).map((name) => `DNS:${name}`),
    ...(request.ipAddresses ?? []).map((ip) => `IP:${ip}`),
  ];
  await runCommand(opensslPath(), [
    'req',
    '-new',
    '-key',
    keyPath,
    '-subj',
    subject(request.commonName, request.organization),
    // OpenSSL 3: -CA signs the request at once (implies -x509), so no CSR file or CA database is needed.
    '-CA',
    ca.certPath,
    '-CAkey',
    ca.keyPath,
    '-days',
    VALID_DAYS,
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext',
    `extendedKeyUsage=${request.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(altNames.length > 0 ? ['-addext', `subjectAltName=${altNames.join(',')}`] : []),
    '-out',
    certPath,
  ]);
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8'), keyPem };
}

/** Writes a fresh RSA key pair for service-account tokens (`sa.key` PKCS#8, `sa.pub` SPKI) into `dir`. */
export async function createServiceAccountKeys(dir: string): Promise<ServiceAccountKeys> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPath = join(dir, 'sa.key');
  const publicKeyPath = join(dir, 'sa.pub');
  await writeFile(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));
  return { publicKeyPath, privateKeyPath };
}
