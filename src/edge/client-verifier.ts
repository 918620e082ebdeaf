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
import { pathCertificate, sentIntermediates, type ClientPath, type ClientTrust, type PathCertificate, type PathRevocation } from './client-trust.js';
import type { CrlSet } from './revocation/index.js';
import { SeenIntermediates } from './seen-intermediates.js';
import { noteNativeGarbage } from '../native-garbage.js';

export type ClientAuthMode = 'require' | 'optional' | 'any';

export type RefusalReason = 'no certificate' | 'unknown CA' | 'expired' | 'not yet valid' | 'revoked' | 'revocation unknown' | 'denied identity' | 'malformed certificate' | 'invalid certificate' | 'chain too deep' | 'not allowed';

export type ClientVerdict =
  | {
    ok: true; client: CertificateInfo | undefined; path?: ClientPath;
    /**
     * A configured client CA vouched for the certificate's names: its chain
     * passed the checks mode require makes. Always so in modes require and
     * optional; in mode any only for a client that chains to
     * edge.clientAuth.ca. False for an anonymous client. When false, no name of
     * the certificate may reach a backend or match a rule: only its identity.
     */
    namesVouched: boolean;
  }
  | Refusal;

type Refusal = { ok: false; reason: RefusalReason; detail: string; client?: CertificateInfo };

/** What an admitted connection keeps for its re-checks: the client, the path it was admitted by, whether a CA vouched for its names. */
export interface Admitted {
  client: CertificateInfo;
  /** leaf first, up to a configured CA (mode any, names not vouched for: the leaf alone); absent without a client trust */
  path?: ClientPath;
  /** the verdict's namesVouched: in mode any, such a connection is closed when its chain no longer reaches a configured CA */
  namesVouched: boolean;
}

export interface RevocationOptions {
  /** a CRL is still used this long past its nextUpdate (edge.clientAuth.revocation.grace) */
  graceMs: number;
  /** when no usable CRL says whether a certificate is revoked: refuse the client, or admit it */
  onUnavailable: 'refuse' | 'admit';
  /** CRLs from other sources than the files (distribution points), as of now */
  extra?: () => readonly CrlSet[];
  /** a CRL is expected for this certificate (it names a distribution point that is fetched) */
  expects?: (cert: PathCertificate) => boolean;
  /**
   * Asks for what is not known yet about a path (a distribution point's first
   * CRL, an OCSP answer): a promise to wait for before deciding, or undefined
   */
  prepare?: (path: ClientPath) => Promise<unknown> | undefined;
  /** what OCSP answers say about a path: revoked, or (ocsp: hard) unknown */
  ocsp?: (path: ClientPath) => PathRevocation | undefined;
}

/** Without edge.clientAuth.revocation (library use): no grace, refuse. */
const STRICT_REVOCATION: RevocationOptions = { graceMs: 0, onUnavailable: 'refuse' };

export interface ClientVerifierOptions {
  mode: ClientAuthMode;
  /** identities (hex SPKI SHA-256) never served */
  deny?: Iterable<string>;
  /**
   * parsed certificates kept by DER hash, so a returning client is not re-parsed
   * (~12 KiB each; a parse is ~20 µs, next to a ~2 ms handshake); default PARSED_CERTIFICATE_CACHE
   */
  cacheSize?: number;
  /** the client trust of now (CRLs, CAs): checked on every connection, resumed or not */
  trust?: () => ClientTrust;
  /**
   * intermediates seen in verified paths, shared across generations: a resumed
   * session carries only the leaf, so its path is built again from these
   */
  intermediates?: SeenIntermediates;
  /** what to do when a certificate's revocation status cannot be learned, and the CRLs besides the files' */
  revocation?: RevocationOptions;
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

/**
 * Memory of one parsed client certificate kept for returning clients (its
 * fields, DER, the X509Certificate and the path it chained by): measured on
 * Node 24, 2,000 dev-PKI client certificates, ~11.6 KiB each (3.9 of it V8 heap).
 */
export const PARSED_CERTIFICATE_BYTES = 12 * 1024;

/**
 * Parsed client certificates kept: 1,000 (12 MiB). It was 2,000, more than the
 * minted-credentials cache holds with its default budget (~1,450 identities):
 * a client that fell out of that cache pays a mint and a TLS context (~0.5 ms)
 * anyway, next to which a re-parse and path check (~0.1–0.2 ms) is small.
 */
export const PARSED_CERTIFICATE_CACHE = 1_000;

/** What a bounded cache holds and weighs, for /status. */
export interface CacheStats { entries: number; maxEntries: number; estimatedBytes: number }

export class ClientVerifier {
  private readonly deny: Set<string>;
  private readonly cache: LRUCache<string, CertificateInfo>;
  private readonly intermediates: SeenIntermediates;
  /**
   * The path a cached client was found to chain by, and the trust digest it was
   * built under: a returning client skips the signature checks (≈90 µs each)
   * until the CA or CRL files change. Weak, so it goes with the cache entry.
   */
  private readonly paths = new WeakMap<CertificateInfo, { digest: string; path: ClientPath }>();
  constructor(private readonly opts: ClientVerifierOptions) {
    this.deny = new Set(opts.deny ?? []);
    // the X509Certificate kept with an entry is native memory V8 does not see (native-garbage.ts):
    // counted toward a collection when the entry is let go of, the moment it becomes garbage
    this.cache = new LRUCache({ max: opts.cacheSize ?? PARSED_CERTIFICATE_CACHE, dispose: () => noteNativeGarbage(PARSED_CERTIFICATE_BYTES) });
    this.intermediates = opts.intermediates ?? new SeenIntermediates();
  }

  get mode(): ClientAuthMode { return this.opts.mode; }

  /** The parsed-certificate cache: entries, bound and estimated memory. */
  cacheStats(): CacheStats {
    return { entries: this.cache.size, maxEntries: this.cache.max, estimatedBytes: this.cache.size * PARSED_CERTIFICATE_BYTES };
  }

  /**
   * The verdict on a connection whose handshake is done: at once, or (when the
   * revocation status of a certificate must first be fetched) a promise,
   * settled within the revocation timeout. Never rejects.
   */
  verify(socket: TLSSocket, now = Date.now()): ClientVerdict | Promise<ClientVerdict> {
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
    const any = this.opts.mode === 'any';
    if (!any && !socket.authorized) {
      const code = String(socket.authorizationError ?? 'UNKNOWN');
      return { ok: false, reason: OPENSSL_REASONS.get(code) ?? 'invalid certificate', detail: code, client };
    }
    const trust = this.opts.trust?.();
    // mode any serves a client no configured CA vouches for by its identity alone (what is
    // minted for it then carries no name of its own); modes require and optional refuse it
    if (!trust) return this.checks(client, undefined, undefined, now, !any);
    if (any) {
      // vouched for: what mode require admits (OpenSSL's verdict, then a path to a CA
      // configured now: without edge.clientAuth.ca, OpenSSL verifies against its default roots)
      const vouched = socket.authorized && trust.hasCas ? this.caPath(socket, client, x, trust) : undefined;
      if (vouched && !('ok' in vouched)) return this.afterRevocationData(client, vouched, trust, now, true);
      return this.checks(client, [pathCertificate(x, client)], trust, now, false);
    }
    if (!trust.hasCas) return this.checks(client, [pathCertificate(x, client)], trust, now, true);
    const path = this.caPath(socket, client, x, trust);
    return 'ok' in path ? path : this.afterRevocationData(client, path, trust, now, true);
  }

  /** The checks, once what is not known yet about the path (a distribution point's first CRL, an OCSP answer) has been asked for. */
  private afterRevocationData(client: CertificateInfo, path: ClientPath, trust: ClientTrust, now: number, namesVouched: boolean): ClientVerdict | Promise<ClientVerdict> {
    const pending = this.opts.revocation?.prepare?.(path);
    if (!pending) return this.checks(client, path, trust, now, namesVouched);
    return pending.then(() => undefined, () => undefined).then(() => this.checks(client, path, this.opts.trust?.() ?? trust, Date.now(), namesVouched));
  }

  /** The client's path up to a CA configured now (memoised per trust digest), or why there is none. */
  private caPath(socket: TLSSocket, client: CertificateInfo, x: X509Certificate, trust: ClientTrust): ClientPath | Refusal {
    const memo = this.paths.get(client);
    let path = memo?.digest === trust.digest ? memo.path : undefined;
    if (!path) {
      // the leaf's path entry from the fields parsed to describe it (no second parse)
      pathCertificate(x, client);
      // A resumed session restores OpenSSL's old verdict and carries the leaf only: the
      // path is built again, under the CAs configured now, from intermediates seen before.
      const reused = socket.isSessionReused();
      const sent = reused ? [] : sentIntermediates(x);
      path = trust.pathOf(x, (issuerKey) => [...sent, ...this.intermediates.named(issuerKey)]);
      if (!path) {
        return {
          ok: false, reason: 'unknown CA', client,
          detail: reused
            ? 'resumed session: the chain does not verify to edge.clientAuth.ca now (or its intermediates are not known to this process: add them to edge.clientAuth.ca)'
            : 'the chain does not verify to edge.clientAuth.ca',
        };
      }
      if (!reused) this.intermediates.remember(path);
      this.paths.set(client, { digest: trust.digest, path });
    }
    const depth = this.opts.maxChainDepth;
    if (path.length - 1 > depth) return { ok: false, reason: 'chain too deep', detail: `the chain has ${path.length - 1} certificates above the leaf; edge.clientAuth.maxChainDepth is ${depth}`, client };
    return path;
  }

  /**
   * An open connection checked again (the CRLs, the CAs or the deny list
   * changed): its path is built again under `trust` from the certificates it
   * was admitted by, then every check that depends on time and trust is made.
   */
  recheck(admitted: Admitted, trust = this.opts.trust?.(), now = Date.now()): ClientVerdict {
    const { client, namesVouched } = admitted;
    if (!trust || !admitted.path) return this.checks(client, admitted.path, trust, now, namesVouched);
    let path = admitted.path;
    // in mode any, a connection whose names were vouched for loses that with its CA: it is closed
    // (it reconnects as a client no CA vouches for, minted without its names)
    if ((this.opts.mode !== 'any' || namesVouched) && trust.hasCas) {
      const above = path.slice(1).map((p) => p.x509);
      const rebuilt = trust.pathOf(path[0].x509, (issuerKey) => [...above, ...this.intermediates.named(issuerKey)]);
      if (!rebuilt) return { ok: false, reason: 'unknown CA', detail: 'no longer verifies to edge.clientAuth.ca', client };
      path = rebuilt;
    } else if (this.opts.mode === 'any' && namesVouched) {
      return { ok: false, reason: 'unknown CA', detail: 'edge.clientAuth.ca no longer lists a CA', client };
    }
    return this.checks(client, path, trust, now, namesVouched);
  }

  /**
   * The checks that depend on time and on trust that can change, and so are made
   * for every connection (a resumed session skips OpenSSL's) and again for open
   * connections when the CRLs change: revocation of every certificate of the
   * path, validity, the deny list.
   */
  private checks(client: CertificateInfo, path: ClientPath | undefined, trust: ClientTrust | undefined, now: number, namesVouched: boolean): ClientVerdict {
    const r = this.opts.revocation ?? STRICT_REVOCATION;
    const found = path && trust?.revocationOf(path, { now, graceMs: r.graceMs, extra: r.extra?.(), expects: r.expects });
    if (found?.status === 'revoked') {
      const detail = found.cert === path![0]
        ? `serial is listed by the CRL of its issuer (${found.source})`
        : `the CA certificate "${found.cert.subject}" above the leaf (serial ${found.cert.serial.toUpperCase()}) is listed by the CRL of its issuer (${found.source})`;
      return { ok: false, reason: 'revoked', detail, client };
    }
    if (found?.status === 'unavailable' && r.onUnavailable === 'refuse') {
      return { ok: false, reason: 'revocation unknown', detail: `${found.why} (edge.clientAuth.revocation.onUnavailable: refuse)`, client };
    }
    const answered = path && r.ocsp?.(path);
    if (answered?.status === 'revoked') return { ok: false, reason: 'revoked', detail: `"${answered.cert.subject}" is revoked, says ${answered.source}`, client };
    if (answered?.status === 'unavailable') return { ok: false, reason: 'revocation unknown', detail: answered.why, client };
    // the CAs above the leaf: OpenSSL checked their validity at the full handshake, not since
    for (const ca of path?.slice(1) ?? []) {
      if (now > ca.notAfter.getTime()) return { ok: false, reason: 'expired', detail: `the CA certificate "${ca.subject}" above the leaf expired at ${ca.notAfter.toISOString()}`, client };
      if (now < ca.notBefore.getTime()) return { ok: false, reason: 'not yet valid', detail: `the CA certificate "${ca.subject}" above the leaf is valid from ${ca.notBefore.toISOString()}`, client };
    }
    if (now > client.notAfter.getTime()) return { ok: false, reason: 'expired', detail: `expired at ${client.notAfter.toISOString()}`, client };
    if (now < client.notBefore.getTime()) return { ok: false, reason: 'not yet valid', detail: `valid from ${client.notBefore.toISOString()}`, client };
    if (this.deny.has(client.identity)) return { ok: false, reason: 'denied identity', detail: 'identity is on edge.deny', client };
    return { ok: true, client, path, namesVouched };
  }
}
