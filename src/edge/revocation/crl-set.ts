/**
 * CRLs by issuer, and what they say about one certificate of a client's
 * path. A set is built whole from the CRLs of one source (the CRL files, the
 * CRLs fetched from distribution points) and replaced whole; lookups read
 * several sets and go by the freshest CRL whose signature verifies with the
 * certificate's issuer — checked once per CRL and issuer, never per handshake.
 */
import type { X509Certificate } from 'node:crypto';
import type { ParsedCrl } from './crl.js';

export class CrlSet {
  private readonly byIssuer = new Map<string, ParsedCrl[]>();
  constructor(readonly crls: readonly ParsedCrl[]) {
    for (const c of crls) this.byIssuer.set(c.issuerKey, [...(this.byIssuer.get(c.issuerKey) ?? []), c]);
  }
  static readonly empty = new CrlSet([]);
  /** CRLs whose issuer Name is `issuerKey` (hex DER) */
  of(issuerKey: string): readonly ParsedCrl[] { return this.byIssuer.get(issuerKey) ?? []; }
  /** revoked entries over every CRL of the set */
  get entries(): number { return this.crls.reduce((n, c) => n + c.revoked.size, 0); }
}

/** What the CRLs say about one certificate. */
export type CrlStatus =
  | { status: 'good'; crl: ParsedCrl }
  | { status: 'revoked'; crl: ParsedCrl }
  /** a CRL is expected and none is usable: none verifies, or the freshest is past nextUpdate + grace */
  | { status: 'unavailable'; why: string }
  /** no CRL is expected for this certificate */
  | { status: 'unchecked' };

export interface CrlLookup {
  /** hex DER Name of the certificate's issuer, and its serial (normalised) */
  issuerKey: string;
  serial: string;
  /** the issuer's certificate (the next one in the path): CRLs must verify with its key */
  issuer: X509Certificate | undefined;
  /** RFC 4514 issuer name, for messages */
  issuerName: string;
  /** a CRL of this issuer is expected (missing is unavailable, not unchecked) */
  required: boolean;
  now: number;
  /** how long past its nextUpdate a CRL is still used */
  graceMs: number;
}

export function crlStatus(sets: readonly CrlSet[], q: CrlLookup): CrlStatus {
  let freshest: ParsedCrl | undefined;
  let unverified: ParsedCrl | undefined;
  for (const set of sets) {
    for (const crl of set.of(q.issuerKey)) {
      if (!q.issuer || !crl.signedBy(q.issuer)) { unverified ??= crl; continue; }
      if (!freshest || crl.thisUpdate > freshest.thisUpdate) freshest = crl;
    }
  }
  if (!freshest) {
    if (unverified) return { status: 'unavailable', why: `the CRL of "${q.issuerName}" from ${unverified.source} does not verify with the issuer's key` };
    return q.required ? { status: 'unavailable', why: `no CRL of "${q.issuerName}" is loaded` } : { status: 'unchecked' };
  }
  if (freshest.revoked.has(q.serial)) return { status: 'revoked', crl: freshest };
  const next = freshest.nextUpdate?.getTime();
  if (next !== undefined && q.now > next + q.graceMs) {
    return { status: 'unavailable', why: `the CRL of "${q.issuerName}" from ${freshest.source} is past its nextUpdate (${freshest.nextUpdate!.toISOString()}) and the grace of ${Math.round(q.graceMs / 1000)} s` };
  }
  return { status: 'good', crl: freshest };
}
