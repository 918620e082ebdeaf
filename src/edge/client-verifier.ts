/**
 * Decides once per connection whether a client may be served, and computes its
 * identity. The TLS server never rejects during the handshake
 * (rejectUnauthorized: false) so that the reason can be logged precisely and,
 * in http mode, answered with a 4xx body.
 */
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { describeCertificate, sha256, type CertificateInfo } from '../pki/index.js';

export type ClientAuthMode = 'require' | 'optional' | 'any';

export type RefusalReason = 'no certificate' | 'unknown CA' | 'expired' | 'not yet valid' | 'revoked' | 'denied identity' | 'malformed certificate' | 'invalid certificate';

export type ClientVerdict =
  | { ok: true; client: CertificateInfo | undefined }
  | { ok: false; reason: RefusalReason; detail: string; client?: CertificateInfo };

export interface ClientVerifierOptions {
  mode: ClientAuthMode;
  /** identities (hex SPKI SHA-256) never served */
  deny?: Iterable<string>;
  /** parsed certificates kept by DER hash, so a returning client is not re-parsed; default 10 000 */
  cacheSize?: number;
}

const OPENSSL_REASONS: Record<string, RefusalReason> = {
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not yet valid',
  CERT_REVOKED: 'revoked',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown CA',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown CA',
};

export class ClientVerifier {
  private readonly deny: Set<string>;
  private readonly cache: LRUCache<string, CertificateInfo>;
  constructor(private readonly opts: ClientVerifierOptions) {
    this.deny = new Set(opts.deny ?? []);
    this.cache = new LRUCache({ max: opts.cacheSize ?? 10_000 });
  }

  get mode(): ClientAuthMode { return this.opts.mode; }

  verify(socket: TLSSocket, now = Date.now()): ClientVerdict {
    const x = socket.getPeerX509Certificate();
    if (!x) {
      if (this.opts.mode === 'require') return { ok: false, reason: 'no certificate', detail: 'the client presented no certificate' };
      return { ok: true, client: undefined };
    }
    const der = x.raw;
    const key = sha256(der).toString('hex');
    let client = this.cache.get(key);
    if (!client) {
      try {
        client = describeCertificate(x);
      } catch (err) {
        return { ok: false, reason: 'malformed certificate', detail: (err as Error).message };
      }
      this.cache.set(key, client);
    }
    if (this.opts.mode === 'any') {
      if (now > client.notAfter.getTime()) return { ok: false, reason: 'expired', detail: `expired at ${client.notAfter.toISOString()}`, client };
      if (now < client.notBefore.getTime()) return { ok: false, reason: 'not yet valid', detail: `valid from ${client.notBefore.toISOString()}`, client };
    } else if (!socket.authorized) {
      const code = String(socket.authorizationError ?? 'UNKNOWN');
      return { ok: false, reason: OPENSSL_REASONS[code] ?? 'invalid certificate', detail: code, client };
    }
    if (this.deny.has(client.identity)) return { ok: false, reason: 'denied identity', detail: 'identity is on edge.deny', client };
    return { ok: true, client };
  }
}
