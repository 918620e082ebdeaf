import { createHash, X509Certificate } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { parseCertificateFields, type CertificateFields } from './x509-fields.js';

/** What countersign knows about a certificate; computed once per connection. */
export interface CertificateInfo {
  /** lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: what `kes tool identity of` prints */
  identity: string;
  /** lowercase hex SHA-256 of the certificate DER */
  certSha256: string;
  /** uppercase hex SHA-1 of the certificate DER (RavenDB-style thumbprint) */
  certSha1: string;
  subject: string;
  issuer: string;
  /** serial number, uppercase hex as OpenSSL prints it */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  der: Buffer;
  fields: CertificateFields;
}

export const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
export const sha1 = (b: Uint8Array): Buffer => createHash('sha1').update(b).digest();

/** The identity (hex SHA-256 of the SPKI) of a DER certificate. */
export function identityOf(der: Uint8Array): string {
  return sha256(parseCertificateFields(der).spki).toString('hex');
}

/** Comma-separated RFC 4514-like form; Node prints one attribute per line. */
export function formatName(x509Name: string): string {
  return x509Name.split('\n').filter(Boolean).join(', ');
}

export function describeCertificate(input: Uint8Array | X509Certificate): CertificateInfo {
  const der = input instanceof X509Certificate ? input.raw : Buffer.from(input);
  const fields = parseCertificateFields(der);
  let x: X509Certificate;
  try {
    x = input instanceof X509Certificate ? input : new X509Certificate(der);
  } catch (err) {
    throw new CountersignError('ERR_CERT_INVALID', `certificate cannot be parsed: ${(err as Error).message}`, { cause: err });
  }
  return {
    identity: sha256(fields.spki).toString('hex'),
    certSha256: sha256(der).toString('hex'),
    certSha1: sha1(der).toString('hex').toUpperCase(),
    subject: formatName(x.subject),
    issuer: formatName(x.issuer),
    serial: x.serialNumber.toUpperCase(),
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
