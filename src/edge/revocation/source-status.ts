/**
 * How each revocation source stands, for /status, `certs status`, /readyz and
 * the metrics: what it holds, how fresh, and whether its clients are served.
 */
import type { ParsedCrl } from './crl.js';

export type RevocationSourceKind = 'crl-file' | 'crl-dp' | 'ocsp';

export interface RevocationSourceStatus {
  kind: RevocationSourceKind;
  /** the file path, distribution point URL or OCSP responder URL */
  source: string;
  /** whose revocations it tells (the CRL's issuer) */
  issuer?: string;
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** revoked entries (OCSP: cached answers) */
  entries: number;
  /** last successful read, fetch or answer */
  lastSuccess?: Date;
  lastError?: string;
  failures: number;
  /**
   * `fresh`; `grace` (past nextUpdate, still used); `stale` (past nextUpdate
   * and the grace: onUnavailable applies to the clients it covers); `none`
   * (never obtained)
   */
  state: 'fresh' | 'grace' | 'stale' | 'none';
}

export function freshness(nextUpdate: Date | undefined, graceMs: number, now = Date.now()): 'fresh' | 'grace' | 'stale' {
  const next = nextUpdate?.getTime();
  if (next === undefined || now <= next) return 'fresh';
  return now <= next + graceMs ? 'grace' : 'stale';
}

export function crlSourceStatus(crl: ParsedCrl, o: { kind: RevocationSourceKind; source?: string; lastSuccess?: Date; lastError?: string; failures?: number; graceMs: number; now?: number }): RevocationSourceStatus {
  return {
    kind: o.kind, source: o.source ?? crl.source, issuer: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate,
    entries: crl.revoked.size, lastSuccess: o.lastSuccess, lastError: o.lastError, failures: o.failures ?? 0,
    state: freshness(crl.nextUpdate, o.graceMs, o.now),
  };
}
