import { hash, X509Certificate } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { formatDerName } from './name-format.js';
import { parseCertificateFields, type CertificateFields } from './x509-fields.js';

/** What countersign knows about a certificate; computed once per connection. */
export interface CertificateInfo {
  /** lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: what `kes tool identity of` prints */
  identity: string;
  /** lowercase hex SHA-256 of the certificate DER */
  certSha256: string;
  /** uppercase hex SHA-1 of the certificate DER (RavenDB-style thumbprint) */
  certSha1: string;
  /** RFC 4514-style, in encoding order: "CN=alice, O=Example" */
  subject: string;
  issuer: string;
  /** serial number, uppercase hex as OpenSSL prints it */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  der: Buffer;
  fields: CertificateFields;
}

// crypto.hash (Node 21.7+): one call, no Hash object; measured ~0.3 µs less per certificate
export const sha256 = (b: Uint8Array): Buffer => hash('sha256', b, 'buffer');
export const sha1 = (b: Uint8Array): Buffer => hash('sha1', b, 'buffer');

/** The identity (hex SHA-256 of the SPKI) of a DER certificate. */
export function identityOf(der: Uint8Array): string {
  return sha256(parseCertificateFields(der).spki).toString('hex');
}

/** Serial INTEGER content bytes → uppercase hex without leading zero bytes ("-" for a negative serial), as OpenSSL prints it. */
export function serialHex(bytes: Uint8Array): string {
  if (bytes.length === 0) return '00';
  if (bytes[0] & 0x80) {
    // two's complement: negate to print the magnitude, as OpenSSL does
    let v = BigInt('0x' + Buffer.from(bytes).toString('hex'));
    v = (1n << BigInt(bytes.length * 8)) - v;
    const h = v.toString(16).toUpperCase();
    return '-' + (h.length % 2 ? '0' + h : h);
  }
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return Buffer.from(bytes.subarray(i)).toString('hex').toUpperCase();
}

/**
 * Everything countersign reports about a certificate, from its DER alone. Names
 * are formatted from their DER (pki/name-format), so a subject reads the same in
 * the proxy's logs, `inspect`, and the backend library, whether it came from the
 * socket, a header, or the delegation extension's copy.
 */
export function describeCertificate(input: Uint8Array | X509Certificate): CertificateInfo {
  const der = input instanceof X509Certificate ? input.raw : Buffer.from(input);
  const fields = parseCertificateFields(der);
  return {
    identity: sha256(fields.spki).toString('hex'),
    certSha256: sha256(der).toString('hex'),
    certSha1: sha1(der).toString('hex').toUpperCase(),
    subject: formatDerName(fields.subject),
    issuer: formatDerName(fields.issuer),
    serial: serialHex(fields.serial),
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    der,
    fields,
  };
}

/** Throws ERR_CERT_EXPIRED / ERR_CERT_NOT_YET_VALID when `now` is outside the validity window. */
export function assertCurrentlyValid(info: Pick<CertificateInfo, 'notBefore' | 'notAfter' | 'subject'>, now = Date.now(), what = 'certificate'): void {
  if (now > info.notAfter.getTime()) {
    throw new CountersignError('ERR_CERT_EXPIRED', `${what} "${info.subject}" expired at ${info.notAfter.toISOString()}; renew it`);
  }
  if (now < info.notBefore.getTime()) {
    throw new CountersignError('ERR_CERT_NOT_YET_VALID', `${what} "${info.subject}" is not valid before ${info.notBefore.toISOString()}; check the clock`);
  }
}
