/**
 * The client-auth trust the edge reads from files: CA bundles and CRLs. Loaded and
 * validated as a unit so a half-written bundle never replaces a good one.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { CountersignError } from '../errors.js';
import { der, loadCertificates, formatDerName, pemBlocks, toPem, parseCertificateFields } from '../pki/index.js';
import { digestOf } from './server-certificate.js';
import { buildClientTrust, type ClientTrust } from './client-trust.js';

const { TAG, content, decodeTime, raw, readChildren, readRoot } = der;

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
  /**
   * Problems that do not make the files unusable but will reject clients: with any
   * CRL configured OpenSSL checks revocation for every CA in a client's chain, so a
   * CA without a CRL, or a CRL past its nextUpdate, fails every client of that CA.
   */
  warnings: string[];
  /** revoked serials and CA certificates, for the checks OpenSSL skips on a resumed session */
  clientTrust: ClientTrust;
}

export async function loadTrustFiles(files: TrustFiles): Promise<LoadedTrust> {
  const ca: string[] = [];
  const crl: string[] = [];
  const contents: Buffer[] = [];
  const caSubjects: { der: Buffer; path: string }[] = [];
  const crlIssuers: { der: Buffer; nextUpdate?: Date; path: string }[] = [];
  const crlDers: Buffer[] = [];
  for (const path of files.ca ?? []) {
    const bytes = await readOrThrow(path, 'client CA bundle');
    contents.push(bytes);
    for (const c of loadCertificates(bytes, path)) caSubjects.push({ der: parseCertificateFields(c.raw).subject, path });
    ca.push(bytes.toString('latin1'));
  }
  for (const path of files.crl ?? []) {
    const bytes = await readOrThrow(path, 'CRL');
    contents.push(bytes);
    const { pem, ders } = crlPem(bytes, path);
    crl.push(pem);
    for (const der of ders) crlIssuers.push({ ...crlHeader(der, path), path });
    crlDers.push(...ders);
  }
  const warnings: string[] = [];
  const now = Date.now();
  for (const c of crlIssuers) {
    if (c.nextUpdate && c.nextUpdate.getTime() < now) {
      warnings.push(`${c.path}: CRL of "${formatDerName(c.der)}" is past its nextUpdate (${c.nextUpdate.toISOString()}); OpenSSL rejects clients of that CA until a fresh CRL is installed`);
    }
  }
  if (crlIssuers.length > 0) {
    for (const s of caSubjects) {
      if (!crlIssuers.some((c) => c.der.equals(s.der))) {
        warnings.push(`${s.path}: CA "${formatDerName(s.der)}" has no CRL among the configured CRL files; with CRL checking on, its clients are rejected ("unable to get certificate CRL")`);
      }
    }
  }
  const digest = digestOf(...contents);
  let clientTrust: ClientTrust;
  try {
    clientTrust = buildClientTrust({ digest, crlDers, caPems: ca });
  } catch (err) {
    throw new CountersignError('ERR_CRL_INVALID', `${(files.crl ?? []).join(', ')}: a CRL's revoked list is not valid DER (${(err as Error).message})`, { cause: err });
  }
  return { ca, crl, caCertificates: caSubjects.length, digest, warnings, clientTrust };
}

/** The issuer and nextUpdate of a DER CertificateList (RFC 5280 §5.1). */
function crlHeader(der: Buffer, path: string): { der: Buffer; nextUpdate?: Date } {
  try {
    const [tbs] = readChildren(der, readRoot(der, TAG.SEQUENCE));
    const f = readChildren(der, tbs);
    let i = f[0]?.tag === TAG.INTEGER ? 1 : 0; // version
    i++; // signature algorithm
    const issuer = raw(der, f[i++]);
    i++; // thisUpdate
    const next = f[i];
    const nextUpdate = next && (next.tag === TAG.UTC_TIME || next.tag === TAG.GENERALIZED_TIME) ? decodeTime(next.tag, content(der, next)) : undefined;
    return { der: issuer, nextUpdate };
  } catch (err) {
    throw new CountersignError('ERR_CRL_INVALID', `${path}: CRL is not valid DER (${(err as Error).message})`, { cause: err });
  }
}

function crlPem(bytes: Buffer, path: string): { pem: string; ders: Buffer[] } {
  let pem: string;
  let ders: Buffer[];
  if (bytes[0] === 0x30) {
    ders = [bytes];
    pem = toPem(bytes, 'X509 CRL');
  } else {
    // "CRL" is what some toolkits (e.g. @peculiar/x509) write; OpenSSL only reads "X509 CRL"
    const blocks = pemBlocks(bytes).filter((b) => b.label === 'X509 CRL' || b.label === 'CRL');
    if (blocks.length === 0) throw new CountersignError('ERR_CRL_INVALID', `${path}: no "-----BEGIN X509 CRL-----" block found; give a PEM or DER CRL`);
    ders = blocks.map((b) => b.der);
    pem = ders.map((d) => toPem(d, 'X509 CRL')).join('');
  }
  try {
    createSecureContext({ crl: pem }); // OpenSSL is the parser that matters here
  } catch (err) {
    throw new CountersignError('ERR_CRL_INVALID', `${path}: CRL cannot be parsed (${(err as Error).message}); give a PEM or DER X.509 CRL`, { cause: err });
  }
  return { pem, ders };
}

export async function readOrThrow(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CountersignError('ERR_CONFIG_FILE', `${path}: cannot read ${what} (${code ?? (err as Error).message}); check the path and its permissions`, { cause: err });
  }
}
