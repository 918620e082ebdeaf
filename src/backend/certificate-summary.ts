/**
 * What the backend reports about a certificate. Names are formatted from their
 * DER with pki/name-format, the same way whether the certificate arrived on the
 * socket, in a header, or only as the delegation extension's copy of its
 * subject and issuer — so one user reads the same in all three.
 */
import { sha1, sha256 } from '../pki/certificate-info.js';
import { formatDerName } from '../pki/name-format.js';
import { parseCertificateFields, type CertificateFields } from '../pki/x509-fields.js';

export interface CertificateSummary {
  /** lowercase hex SHA-256 of the DER SubjectPublicKeyInfo (what `kes tool identity of` prints) */
  identity: string;
  /** lowercase hex SHA-256 of the certificate DER */
  certSha256: string;
  /** uppercase hex SHA-1 of the certificate DER (RavenDB-style thumbprint) */
  certSha1: string;
  /** RFC 4514-style, in encoding order: "CN=alice, O=Example" */
  subject: string;
  issuer: string;
  /** uppercase hex, as OpenSSL and Node print it */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  der: Buffer;
  fields: CertificateFields;
}

/** Serial INTEGER content bytes → uppercase hex without leading zero bytes ("-" for a negative serial). */
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

export function summarizeCertificate(der: Buffer): CertificateSummary {
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
