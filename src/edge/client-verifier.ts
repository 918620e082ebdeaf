/**
 * Decides once per connection whether a client may be served, and computes its
 * identity. The TLS server never rejects during the handshake
 * (rejectUnauthorized: false) so that the reason can be logged precisely and,
 * in http mode, answered with a 4xx body.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { describeCertificate, sha256, type CertificateInfo } from '../pki/index.js';
import { peerIntermediates, type ClientTrust } from './client-trust.js';

export type ClientAuthMode = 'require' | 'optional' | 'any';

export type RefusalReason = 'no certificate' | 'unknown CA' | 'expired' | 'not yet valid' | 'revoked' | 'denied identity' | 'malformed certificate' | 'invalid certificate' | 'chain too deep' | 'not allowed';

export type ClientVerdict =
  | {
    ok: true; client: CertificateInfo | undefined;
    /**
     * A configured client CA vouched for the certificate's names: its chain
     * passed the checks mode require makes. Always so in modes require and
     * optional; in mode any only for a client that chains to
     * edge.clientAuth.ca. False for an anonymous client. When false, no name of
     * the certificate may reach a backend or match a rule: only its identity.
     */
    namesVouched: boolean;
  }
  | { ok: false; reason: RefusalReason; detail: string; client?: CertificateInfo };

type Refusal = Extract<ClientVerdict, { ok: false }>;

export interface ClientVerifierOptions {
  mode: ClientAuthMode;
  /** identities (hex SPKI SHA-256) never served */
  deny?: Iterable<string>;
  /**
   * parsed certificates kept by DER hash, so a returning client is not re-parsed
   * (~4 KiB of heap each; a parse is ~20 µs, next to a ~2 ms handshake); default 2 000
   */
  cacheSize?: number;
  /** the client trust of now (CRLs, CAs): checked on every connection, resumed or not */
  trust?: () => ClientTrust;
  /** max certificates above the leaf in a client's chain (edge.clientAuth.maxChainDepth; its default is the schema's) */
  maxChainDepth: number;
}

const OPENSSL_REASONS = new Map<string, RefusalReason>([
  ['CERT_HAS_EXPIRED', 'expired'],
  ['CERT_NOT_YET_VALID', 'not yet valid'],
  ['CERT_REVOKED', 'revoked'],
  ['UNABLE_TO_GET_ISSUER_CERT', 'unknown CA'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown CA'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown CA'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown CA'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown CA'],
]);

export class ClientVerifier {
  private readonly deny: Set<string>;
  private readonly cache: LRUCache<string, CertificateInfo>;
  /**
   * The trust digest under which a cached client was found issued by a
   * configured CA: a returning client skips the signature check (≈90 µs) until
   * the CA or CRL files change. Weak, so it goes with the cache entry.
   */
  private readonly issuedUnder = new WeakMap<CertificateInfo, string>();
  constructor(private readonly opts: ClientVerifierOptions) {
    this.deny = new Set(opts.deny ?? []);
    this.cache = new LRUCache({ max: opts.cacheSize ?? 2_000 });
  }

  get mode(): ClientAuthMode { return this.opts.mode; }

  verify(socket: TLSSocket, now = Date.now()): ClientVerdict {
    const x = socket.getPeerX509Certificate();
    if (!x) {
      if (this.opts.mode === 'require') return { ok: false, reason: 'no certificate', detail: 'the client presented no certificate' };
      return { ok: true, client: undefined, namesVouched: false };
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
    const trust = this.opts.trust?.();
    // modes require and optional refuse a client no configured CA vouches for; mode any serves it
    // by its identity alone (what is minted for it then carries no name of its own)
    const unvouched = this.notVouched(socket, client, x, trust);
    if (unvouched && this.opts.mode !== 'any') return unvouched;
    const verdict = this.recheck(client, trust, now);
    return verdict.ok ? { ...verdict, namesVouched: !unvouched } : verdict;
  }

  /**
   * Why no configured CA vouches for the client's chain (the refusal modes
   * require and optional give), or undefined when one does. OpenSSL's verdict
   * first; then the chain must reach a CA configured now — on a resumed session
   * (OpenSSL restores its old verdict), and always in mode any, where the
   * handshake's verdict alone is not enough: without edge.clientAuth.ca
   * OpenSSL would verify against its default root store.
   */
  private notVouched(socket: TLSSocket, client: CertificateInfo, x: X509Certificate, trust: ClientTrust | undefined): Refusal | undefined {
    const any = this.opts.mode === 'any';
    if (!socket.authorized) {
      const code = String(socket.authorizationError ?? 'UNKNOWN');
      return { ok: false, reason: OPENSSL_REASONS.get(code) ?? 'invalid certificate', detail: code, client };
    }
    if (!trust) return any ? { ok: false, reason: 'unknown CA', detail: 'edge.clientAuth.ca is not configured', client } : undefined;
    if (this.issuedByCa(client, x, trust)) return undefined;
    // Issued by an intermediate: the chain is walked (a root's direct leaf costs no walk).
    // Node completes the peer's chain with the issuers from the CA store, root included.
    const above = peerIntermediates(socket);
    const depth = this.opts.maxChainDepth;
    if (above.length > depth) return { ok: false, reason: 'chain too deep', detail: `the chain has ${above.length} certificates above the leaf; edge.clientAuth.maxChainDepth is ${depth}`, client };
    if ((any || socket.isSessionReused()) && !trust.chainsToCa(x, above)) {
      return { ok: false, reason: 'unknown CA', detail: socket.isSessionReused() ? 'resumed session: the chain no longer verifies to edge.clientAuth.ca' : 'the chain does not verify to edge.clientAuth.ca', client };
    }
    return undefined;
  }

  private issuedByCa(client: CertificateInfo, x: X509Certificate, trust: ClientTrust): boolean {
    if (this.issuedUnder.get(client) === trust.digest) return true;
    if (!trust.issuedByCa(x)) return false;
    this.issuedUnder.set(client, trust.digest);
    return true;
  }

  /**
   * The checks that depend on time and on trust that can change, and so are made
   * for every connection (a resumed session skips OpenSSL's) and again for open
   * connections when the CRLs change: revocation, validity, the deny list.
   */
  recheck(client: CertificateInfo, trust = this.opts.trust?.(), now = Date.now()): Refusal | { ok: true; client: CertificateInfo } {
    if (trust?.isRevoked(client.fields)) return { ok: false, reason: 'revoked', detail: 'serial is listed by the CRL of its issuer', client };
    if (now > client.notAfter.getTime()) return { ok: false, reason: 'expired', detail: `expired at ${client.notAfter.toISOString()}`, client };
    if (now < client.notBefore.getTime()) return { ok: false, reason: 'not yet valid', detail: `valid from ${client.notBefore.toISOString()}`, client };
    if (this.deny.has(client.identity)) return { ok: false, reason: 'denied identity', detail: 'identity is on edge.deny', client };
    return { ok: true, client };
  }
}
