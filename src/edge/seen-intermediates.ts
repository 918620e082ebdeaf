/**
 * Intermediate CA certificates seen in the verified paths of clients' full
 * handshakes. A resumed TLS session carries the client's leaf only (OpenSSL
 * keeps the peer certificate in the ticket, not the chain it sent), so the
 * path of a resumed client is built again from these. Outlives generations
 * and trust changes (a certificate here is only a candidate: every path is
 * checked by signature against the CAs configured now); bounded, least
 * recently used first out.
 */
import type { X509Certificate } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { pathCertificate, type ClientPath, type IssuerCandidates } from './client-trust.js';

/** Default bound: distinct intermediates are few (one or a handful per issuing CA). */
export const SEEN_INTERMEDIATES_MAX = 1_000;

export class SeenIntermediates {
  private readonly byFingerprint: LRUCache<string, X509Certificate>;
  /** subject Name (hex DER) → fingerprints, for lookups by the issuer a certificate names */
  private readonly bySubject = new Map<string, Set<string>>();

  constructor(max = SEEN_INTERMEDIATES_MAX) {
    this.byFingerprint = new LRUCache({
      max,
      dispose: (cert, fingerprint) => {
        const key = pathCertificate(cert).subjectKey;
        const set = this.bySubject.get(key);
        set?.delete(fingerprint);
        if (set?.size === 0) this.bySubject.delete(key);
      },
    });
  }

  get size(): number { return this.byFingerprint.size; }

  /** entries, bound and estimated memory (an X509Certificate each, ~ a parsed client certificate) */
  cacheStats(): { entries: number; maxEntries: number; estimatedBytes: number } {
    return { entries: this.byFingerprint.size, maxEntries: this.byFingerprint.max, estimatedBytes: this.byFingerprint.size * 12 * 1024 };
  }

  /** Keeps every certificate above the leaf of a path OpenSSL and the trust verified. */
  remember(path: ClientPath): void {
    for (const p of path.slice(1)) {
      if (p.selfIssued) continue; // a root: only a configured CA can anchor a path anyway
      const fp = p.x509.fingerprint256;
      if (this.byFingerprint.get(fp)) continue; // known (the get refreshes its recency)
      this.byFingerprint.set(fp, p.x509);
      const set = this.bySubject.get(p.subjectKey) ?? new Set<string>();
      set.add(fp);
      this.bySubject.set(p.subjectKey, set);
    }
  }

  /** Intermediates whose subject is `issuerKey`. */
  readonly named: IssuerCandidates = (issuerKey) => {
    const out: X509Certificate[] = [];
    for (const fp of this.bySubject.get(issuerKey) ?? []) {
      const c = this.byFingerprint.peek(fp);
      if (c) out.push(c);
    }
    return out;
  };

  /** Every intermediate kept, most recently used first. */
  all(): X509Certificate[] { return [...this.byFingerprint.values()]; }
}
