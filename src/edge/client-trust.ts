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
import { formatDerName, parseCertificateFields, type CertificateFields } from '../pki/index.js';
import { CrlSet, crlStatus, normalSerial, type ParsedCrl } from './revocation/index.js';

export interface ClientTrust {
  /** changes whenever the CA or CRL files' content does */
  readonly digest: string;
  /** CA certificates are configured (mode any has none): a client's path can be built */
  readonly hasCas: boolean;
  /** the configured CA certificates */
  readonly cas: readonly X509Certificate[];
  /**
   * The client's certification path under the CAs configured now: the leaf
   * first, then each issuer whose key verifies the one before (taken from
   * `candidates` — what the client sent, or intermediates seen before — until
   * a configured CA is reached, then from the configured CAs up to a
   * self-signed one when they hold it). Undefined when no configured CA is
   * reached. Signature and name checks only: OpenSSL made the full path
   * validation at the full handshake.
   */
  pathOf(leaf: X509Certificate, candidates: IssuerCandidates): ClientPath | undefined;
  /** the CRL files, parsed (signatures checked once per issuer key) */
  readonly crls: CrlSet;
  /**
   * What the CRLs say about `path`: every certificate but a configured root
   * is looked up in its issuer's CRLs (these files' and `o.extra`, e.g. those
   * fetched from distribution points). The first revoked certificate, else
   * the first whose status cannot be learned, else undefined (all good, or
   * no CRL is expected for them).
   */
  revocationOf(path: ClientPath, o: RevocationQuery): PathRevocation | undefined;
}

export interface RevocationQuery {
  now: number;
  /** a CRL is used this long past its nextUpdate */
  graceMs: number;
  /** more CRLs than the files' (distribution points) */
  extra?: readonly CrlSet[];
  /** a CRL is expected for a certificate besides when CRL files are configured (e.g. it names a distribution point that is fetched) */
  expects?: (cert: PathCertificate) => boolean;
}

export type PathRevocation =
  | { status: 'revoked'; cert: PathCertificate; source: string }
  | { status: 'unavailable'; cert: PathCertificate; why: string };

/** One certificate of a client's path, with what a revocation lookup needs. */
export interface PathCertificate {
  readonly x509: X509Certificate;
  /** hex of the issuer's DER Name: the key of the revoked serials of its CRLs */
  readonly issuerKey: string;
  /** hex of the subject's DER Name */
  readonly subjectKey: string;
  /** the serial, normalised (see normalSerial) */
  readonly serial: string;
  /** RFC 4514-style subject, for log lines */
  readonly subject: string;
  /** issuer and subject names are equal */
  readonly selfIssued: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Certificates that may have issued a certificate whose issuer Name is `issuerKey` (hex DER). */
export type IssuerCandidates = (issuerKey: string) => Iterable<X509Certificate>;

/** Leaf first; the last is a configured CA (or, for a path of one, the leaf alone in mode any). */
export type ClientPath = readonly PathCertificate[];

/** Paths are never longer than this (edge.clientAuth.maxChainDepth is at most 16). */
const MAX_PATH = 18;

const described = new WeakMap<X509Certificate, PathCertificate>();

/**
 * The path entry of one certificate, computed once per X509Certificate object.
 * `parsed`: the certificate's fields and formatted subject when the caller has
 * them already (the verifier parsed the leaf to describe it), so a first-time
 * client's leaf is not parsed twice.
 */
export function pathCertificate(x509: X509Certificate, parsed?: { fields: CertificateFields; subject: string }): PathCertificate {
  let p = described.get(x509);
  if (!p) {
    const f = parsed?.fields ?? parseCertificateFields(x509.raw);
    const issuerKey = f.issuer.toString('hex');
    const subjectKey = f.subject.toString('hex');
    p = { x509, issuerKey, subjectKey, serial: normalSerial(f.serial), subject: parsed?.subject ?? formatDerName(f.subject), selfIssued: issuerKey === subjectKey, notBefore: f.notBefore, notAfter: f.notAfter };
    described.set(x509, p);
  }
  return p;
}

/** Builds the trust from DER CRLs and the PEM CA bundles (as `loadTrustFiles` reads them). */
export function buildClientTrust(o: { digest: string; crls: readonly ParsedCrl[]; caPems: string[] }): ClientTrust {
  const crls = new CrlSet(o.crls);
  const casBySubject = new Map<string, PathCertificate[]>();
  const caFingerprints = new Set<string>();
  for (const pem of o.caPems) {
    for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      let ca: PathCertificate;
      try { ca = pathCertificate(new X509Certificate(block)); } catch { continue; /* loadTrustFiles already refused bad bundles */ }
      if (caFingerprints.has(ca.x509.fingerprint256)) continue;
      caFingerprints.add(ca.x509.fingerprint256);
      casBySubject.set(ca.subjectKey, [...(casBySubject.get(ca.subjectKey) ?? []), ca]);
    }
  }
  const caIssuerOf = (cert: PathCertificate) => casBySubject.get(cert.issuerKey)?.find((ca) => isIssuer(ca.x509, cert.x509));
  return {
    digest: o.digest,
    hasCas: caFingerprints.size > 0,
    cas: [...casBySubject.values()].flat().map((c) => c.x509),
    crls,
    revocationOf: (path, q) => {
      // with CRL files configured, OpenSSL's rule stays: every CA of the path must have a CRL
      const filesRequire = o.crls.length > 0 && caFingerprints.size > 0;
      const sets = [crls, ...(q.extra ?? [])];
      let unavailable: PathRevocation | undefined;
      for (const [i, cert] of path.entries()) {
        if (cert.selfIssued && caFingerprints.has(cert.x509.fingerprint256)) continue; // a configured root is trusted, not looked up
        const issuer = path[i + 1];
        if (!issuer) {
          // no issuer certificate (mode any): the CRL files by name and serial, as the operator gave them
          const hit = crls.of(cert.issuerKey).find((c) => c.revoked.has(cert.serial));
          if (hit) return { status: 'revoked', cert, source: hit.source };
          continue;
        }
        const st = crlStatus(sets, {
          issuerKey: cert.issuerKey, serial: cert.serial, issuer: issuer.x509, issuerName: issuer.subject,
          required: filesRequire || (q.expects?.(cert) ?? false), now: q.now, graceMs: q.graceMs,
        });
        if (st.status === 'revoked') return { status: 'revoked', cert, source: st.crl.source };
        if (st.status === 'unavailable') unavailable ??= { status: 'unavailable', cert, why: st.why };
      }
      return unavailable;
    },
    pathOf: (leaf, candidates) => {
      let cert = pathCertificate(leaf);
      const path = [cert];
      let anchored = caFingerprints.has(leaf.fingerprint256);
      while (path.length < MAX_PATH && !(anchored && cert.selfIssued)) {
        const fromCas = caIssuerOf(cert);
        const next = fromCas ?? (anchored ? undefined : candidateIssuer(candidates(cert.issuerKey), cert));
        if (!next || path.includes(next) || path.some((p) => p.x509.fingerprint256 === next.x509.fingerprint256)) break;
        if (fromCas) anchored = true;
        path.push(next);
        cert = next;
      }
      return anchored ? path : undefined;
    },
  };
}

function candidateIssuer(pool: Iterable<X509Certificate>, cert: PathCertificate): PathCertificate | undefined {
  for (const c of pool) {
    const p = pathCertificate(c);
    if (p.subjectKey === cert.issuerKey && isIssuer(c, cert.x509)) return p;
  }
  return undefined;
}

function isIssuer(ca: X509Certificate, cert: X509Certificate): boolean {
  try { return cert.checkIssued(ca) && cert.verify(ca.publicKey); } catch { return false; }
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

/**
 * The certificates a client sent after its leaf, from the leaf of
 * `socket.getPeerX509Certificate()`: on a server socket it carries what the
 * client sent as its issuer chain (OpenSSL's peer chain), as X509Certificate
 * objects already. getPeerCertificate(true) gives the same certificates (and
 * the issuer from the trust store) but as JavaScript objects with every field
 * converted: ~90 µs for a leaf and its CA, ~170 with two intermediates, against
 * 1–50 µs here; a first-time client's path is built from these.
 */
export function sentIntermediates(leaf: X509Certificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (let c = leaf.issuerCertificate; c && out.length < MAX_PATH; c = c.issuerCertificate) out.push(c);
  return out;
}
