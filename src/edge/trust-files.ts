/**
 * The client-auth trust the edge reads from files: CA bundles and CRLs. Loaded and
 * validated as a unit so a half-written bundle never replaces a good one.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { CountersignError } from '../errors.js';
import { loadCertificates } from '../pki/key-material.js';
import { pemBlocks, toPem } from '../pki/pem.js';
import { digestOf } from './server-certificate.js';

export interface TrustFiles {
  /** PEM files with the CA certificates that client certificates must chain to */
  ca?: string[];
  /** PEM (or DER) CRL files checked against client certificates */
  crl?: string[];
}

export interface LoadedTrust {
  /** PEM text per CA file, as `SecureContextOptions.ca` takes it */
  ca: string[];
  /** PEM text per CRL file, as `SecureContextOptions.crl` takes it */
  crl: string[];
  caCertificates: number;
  digest: string;
}

export async function loadTrustFiles(files: TrustFiles): Promise<LoadedTrust> {
  const ca: string[] = [];
  const crl: string[] = [];
  const raw: Buffer[] = [];
  let caCertificates = 0;
  for (const path of files.ca ?? []) {
    const bytes = await readOrThrow(path, 'client CA bundle');
    raw.push(bytes);
    caCertificates += loadCertificates(bytes, path).length;
    ca.push(bytes.toString('latin1'));
  }
  for (const path of files.crl ?? []) {
    const bytes = await readOrThrow(path, 'CRL');
    raw.push(bytes);
    crl.push(crlPem(bytes, path));
  }
  return { ca, crl, caCertificates, digest: digestOf(...raw) };
}

function crlPem(bytes: Buffer, path: string): string {
  let pem: string;
  if (bytes[0] === 0x30) {
    pem = toPem(bytes, 'X509 CRL');
  } else {
    const blocks = pemBlocks(bytes).filter((b) => b.label === 'X509 CRL');
    if (blocks.length === 0) throw new CountersignError('ERR_CRL_INVALID', `${path}: no "-----BEGIN X509 CRL-----" block found; give a PEM or DER CRL`);
    pem = blocks.map((b) => toPem(b.der, 'X509 CRL')).join('');
  }
  try {
    createSecureContext({ crl: pem }); // OpenSSL is the parser that matters here
  } catch (err) {
    throw new CountersignError('ERR_CRL_INVALID', `${path}: CRL cannot be parsed (${(err as Error).message}); give a PEM or DER X.509 CRL`, { cause: err });
  }
  return pem;
}

export async function readOrThrow(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CountersignError('ERR_CONFIG_FILE', `${path}: cannot read ${what} (${code ?? (err as Error).message}); check the path and its permissions`, { cause: err });
  }
}
