/**
 * The delegation CAs a backend believes. A certificate's delegation extension
 * is only as trustworthy as its issuer: anyone with any CA the TLS server
 * trusts can put the same extension in a certificate. So the backend pins the
 * delegation CAs by their public key and checks the signature itself, rather
 * than trusting the TLS chain or comparing issuer names (a name is free to copy).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.js';
import { certificatesDer, describeCertificate, type CertificateInfo } from '../pki/index.js';

/** A certificate as PEM text (one or more blocks), DER bytes, or a parsed X509Certificate. */
export type CertificateInput = string | Buffer | X509Certificate;

export interface DelegationAnchor {
  cert: X509Certificate;
  /** extracted once: X509Certificate.publicKey builds a new KeyObject on every read */
  publicKey: KeyObject;
  summary: CertificateInfo;
}

function toCertificates(input: CertificateInput, what: string): X509Certificate[] {
  if (input instanceof X509Certificate) return [input];
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) {
    throw new CountersignError('ERR_CERT_INVALID', `${what}: expected PEM text, DER bytes or an X509Certificate`);
  }
  return certificatesDer(input, what).map((der, i) => {
    try {
      return new X509Certificate(der);
    } catch (err) {
      throw new CountersignError('ERR_CERT_INVALID', `${what}: certificate #${i + 1} cannot be parsed (${(err as Error).message})`, { cause: err });
    }
  });
}

/** Parses and checks the configured delegation CAs: each must be a CA certificate. */
export function loadDelegationAnchors(input: CertificateInput | CertificateInput[] | undefined): DelegationAnchor[] {
  if (input === undefined) return [];
  const list = Array.isArray(input) ? input : [input];
  const anchors: DelegationAnchor[] = [];
  list.forEach((item, i) => {
    const what = list.length > 1 ? `delegationCAs[${i}]` : 'delegationCAs';
    for (const cert of toCertificates(item, what)) {
      const summary = describeCertificate(Buffer.from(cert.raw));
      if (!cert.ca) {
        throw new CountersignError('ERR_CA_NOT_CA', `${what}: "${summary.subject}" is not a CA certificate (basicConstraints CA:TRUE is missing); give the delegation CA's certificate (delegation-ca.crt), not a leaf`);
      }
      anchors.push({ cert, publicKey: cert.publicKey, summary });
    }
  });
  return anchors;
}

/** The anchor whose key signed `cert`, if any. Only the signature counts; names are not compared. */
export function issuingAnchor(cert: X509Certificate, anchors: readonly DelegationAnchor[]): DelegationAnchor | undefined {
  for (const a of anchors) {
    let ok = false;
    try {
      ok = cert.verify(a.publicKey);
    } catch {
      ok = false; // a key of another type is simply not the issuer
    }
    if (ok) return a;
  }
  return undefined;
}
