/**
 * The client trust of one moment, in the form the per-connection checks need:
 * the revoked serials of every CRL by issuer, and the CA certificates. OpenSSL
 * checks both during a full handshake, but a resumed TLS session skips them
 * (the verify result is restored from the ticket), and a connection opened
 * before a CRL changed was checked against the old one. So every connection is
 * checked here too, resumed or not, and open connections are checked again
 * when the trust changes.
 */
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { der as asn1 } from '../pki/index.js';
import type { CertificateFields } from '../pki/index.js';

export interface ClientTrust {
  /** changes whenever the CA or CRL files' content does */
  readonly digest: string;
  /** the certificate's serial is listed by a CRL of its issuer */
  isRevoked(fields: Pick<CertificateFields, 'issuer' | 'serial'>): boolean;
  /**
   * The leaf chains to one of the CAs now configured (signature checks only;
   * OpenSSL did the full path validation at the full handshake). Intermediates
   * the client sent are followed.
   */
  chainsToCa(leaf: X509Certificate, intermediates: X509Certificate[]): boolean;
  /** the leaf was issued by a configured self-signed CA itself (chain depth 1): no chain walk needed */
  issuedByCa(leaf: X509Certificate): boolean;
}

/** Builds the trust from DER CRLs and the PEM CA bundles (as `loadTrustFiles` reads them). */
export function buildClientTrust(o: { digest: string; crlDers: Buffer[]; caPems: string[] }): ClientTrust {
  const revoked = new Map<string, Set<string>>();
  for (const der of o.crlDers) {
    const { issuer, serials } = revokedSerials(der);
    const key = issuer.toString('hex');
    const set = revoked.get(key) ?? new Set<string>();
    for (const s of serials) set.add(s);
    revoked.set(key, set);
  }
  const cas: X509Certificate[] = [];
  for (const pem of o.caPems) {
    for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      try { cas.push(new X509Certificate(block)); } catch { /* loadTrustFiles already refused bad bundles */ }
    }
  }
  const roots = cas.filter((c) => isIssuer(c, c));
  return {
    digest: o.digest,
    issuedByCa: (leaf) => roots.some((ca) => isIssuer(ca, leaf)),
    isRevoked: (f) => revoked.get(f.issuer.toString('hex'))?.has(normalSerial(f.serial)) ?? false,
    chainsToCa: (leaf, intermediates) => {
      let cert = leaf;
      const seen = new Set<string>();
      for (let depth = 0; depth < 16; depth++) {
        if (cas.some((ca) => isIssuer(ca, cert))) return true;
        if (seen.has(cert.fingerprint256)) return false;
        seen.add(cert.fingerprint256);
        const next = intermediates.find((i) => isIssuer(i, cert));
        if (!next) return false;
        cert = next;
      }
      return false;
    },
  };
}

function isIssuer(ca: X509Certificate, cert: X509Certificate): boolean {
  try { return cert.checkIssued(ca) && cert.verify(ca.publicKey); } catch { return false; }
}

/** Serial INTEGER content bytes without leading 0x00 padding, hex: the same serial the same key. */
function normalSerial(bytes: Uint8Array): string {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && (bytes[i + 1] & 0x80) === 0) i++;
  return Buffer.from(bytes.subarray(i)).toString('hex');
}

/** The issuer Name and the revoked serials of a DER CertificateList (RFC 5280 §5.1). */
export function revokedSerials(der: Buffer): { issuer: Buffer; serials: string[] } {
  const [tbs] = asn1.readChildren(der, asn1.readRoot(der, asn1.TAG.SEQUENCE));
  const f = asn1.readChildren(der, tbs);
  let i = f[0]?.tag === asn1.TAG.INTEGER ? 1 : 0; // version
  i++; // signature algorithm
  const issuer = asn1.raw(der, f[i++]);
  i++; // thisUpdate
  if (f[i] && (f[i].tag === asn1.TAG.UTC_TIME || f[i].tag === asn1.TAG.GENERALIZED_TIME)) i++; // nextUpdate
  const serials: string[] = [];
  const list = f[i];
  if (list && list.tag === asn1.TAG.SEQUENCE) {
    for (const entry of asn1.readChildren(der, list)) {
      const [serial] = asn1.readChildren(der, entry);
      if (serial?.tag === asn1.TAG.INTEGER) serials.push(normalSerial(asn1.content(der, serial)));
    }
  }
  return { issuer, serials };
}

/** The certificates a client sent after its leaf, as DER, from the live socket. */
export function peerChainDer(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let c = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    if (seen.size > 1) out.push(c.raw);
    if (!c.issuerCertificate || c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  return out;
}

/** The intermediates a client sent after its leaf, from the live socket. */
export function peerIntermediates(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const der of peerChainDer(socket)) { try { out.push(new X509Certificate(der)); } catch { /* skip */ } }
  return out;
}
