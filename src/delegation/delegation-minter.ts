/**
 * Cached countersigned credentials, one entry per original certificate and
 * whether its names were vouched for (the two mint different certificates:
 * a vouched entry is never served for an unvouched connection, nor the
 * reverse, e.g. after the client CA changed). A cache
 * hit is a map lookup; a miss mints synchronously (~50 µs, most of it the ECDSA
 * signature), so concurrent misses for one certificate cannot mint twice. Each
 * entry keeps the TLS contexts built from it, so the forwarder never re-parses PEM.
 */
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { CertificateInfo, KeyMaterial } from '../pki/index.js';
import { createCaSigner, type CaSigner } from './ca-signer.js';
import { mintCertificate, type MintedCertificate } from './certificate-minter.js';
import { KeyPool } from './key-pool.js';
import { noteNativeGarbage } from '../native-garbage.js';

/**
 * What one upstream TLS context costs, measured on Node 24 / OpenSSL 3
 * (createSecureContext with a key, a certificate and a CA: ~42 KiB of RSS, 2,000
 * contexts measured with the dev PKI; ~30 KiB without the CA).
 * It is most of an entry's cost: the PEM text is ~1 KiB.
 */
export const CONTEXT_BYTES_ESTIMATE = 42 * 1024;
const ENTRY_OVERHEAD_BYTES = 2 * 1024;
/** Renew once this fraction of a minted certificate's lifetime has passed (certmagic-style). */
export const RENEW_AFTER_FRACTION = 2 / 3;

export const mintChannel = channel('countersign:delegation:mint');

/**
 * The three limits have no defaults here: they are config keys (`delegation.ttl`,
 * `cache`, `cacheMemoryMiB`) whose defaults live in the schema only; config's
 * `delegationLimits()` / `DEFAULT_DELEGATION_LIMITS` give them in these units.
 */
export interface DelegationMinterOptions {
  /** the delegation CA (loadSigningCa checks it may sign) */
  ca: KeyMaterial;
  /** lifetime cap of a minted certificate in ms */
  ttlMs: number;
  /** max cached certificates */
  cacheSize: number;
  /** max estimated memory of the cache in bytes (TLS contexts and sessions included) */
  cacheMemoryBytes: number;
  /** embed the whole original certificate in the extension; default false */
  embedOriginal?: boolean;
  /** delegation extension OID; default DELEGATION_OID */
  extensionOid?: string;
  /** pre-generated keys; default 32 */
  keyPoolSize?: number;
}

export interface MintEvent { identity: string; certSha256: string; namesVouched: boolean; durationMs: number; notAfter: Date }

/** What a connection asks credentials for: the verifier's verdict on the client's names, and the clock. */
export interface CredentialsRequest {
  /** a configured client CA vouched for the certificate's names (ClientVerdict.namesVouched) */
  namesVouched: boolean;
  /** ms since the epoch; default Date.now() */
  now?: number;
}

/** The cache key: an unvouched minting never shares an entry with a vouched one of the same certificate. */
const cacheKey = (certSha256: string, namesVouched: boolean) => (namesVouched ? certSha256 : `${certSha256}:unvouched`);

/** Which upstream a TLS context is for, and a digest of the settings it was built from (CA, servername, …). */
export interface UpstreamContextKey { upstream: string; digest: string }

export class DelegatedCredentials {
  readonly renewAt: number;
  /** one context per upstream, with the digest of the settings it was built from */
  private readonly contexts = new Map<string, { digest: string; context: SecureContext }>();
  /** upstream TLS sessions for resumption, by server address; never shared across credentials */
  readonly sessions = new Map<string, Buffer>();
  /** called when the entry grew (a context was built), so the cache re-weighs it */
  onGrow?: () => void;
  constructor(readonly minted: MintedCertificate, private readonly caChainPem = '') {
    const nb = minted.notBefore.getTime();
    this.renewAt = nb + (minted.notAfter.getTime() - nb) * RENEW_AFTER_FRACTION;
  }
  get certPem(): string { return this.minted.certPem; }
  /** the minted certificate followed by the delegation CA's chain (an intermediate), as presented upstream */
  get chainPem(): string { return this.caChainPem ? this.minted.certPem + this.caChainPem : this.minted.certPem; }
  get keyPem(): string { return this.minted.keyPem; }
  /** the minted certificate's serial, uppercase hex as OpenSSL prints it */
  get serial(): string { return this.minted.serial; }
  get notAfter(): Date { return this.minted.notAfter; }
  /**
   * The TLS context for one upstream, built once per (credentials, upstream
   * settings): a reload that changes the upstream's CA or servername gets a new
   * digest, so a context built under the old settings is never used again
   * (it is replaced, not kept beside the new one).
   */
  secureContext(key: UpstreamContextKey, build: (c: DelegatedCredentials) => SecureContext): SecureContext {
    const held = this.contexts.get(key.upstream);
    if (held?.digest === key.digest) return held.context;
    const context = build(this);
    // the context replaced is let go of (see letGo)
    if (held) noteNativeGarbage(CONTEXT_BYTES_ESTIMATE);
    this.contexts.set(key.upstream, { digest: key.digest, context });
    if (!held) this.onGrow?.();
    return context;
  }

  /**
   * The cache let go of this entry (evicted, renewed, forgotten): its contexts'
   * OpenSSL state is native memory V8 does not see, so it is counted toward a
   * collection (native-garbage.ts) now, when it becomes garbage. Counted when
   * built instead, a flood of first-time identities asked for a major
   * collection every ~300 of them while the cache was still filling and
   * nothing was garbage yet: ~8% of a first-time connection's CPU in this
   * bench (docs/performance.md).
   */
  letGo(): void {
    if (this.contexts.size) noteNativeGarbage(this.contexts.size * CONTEXT_BYTES_ESTIMATE);
  }

  /** Estimated memory of this entry, bytes: PEM text, one TLS context per upstream, a session per server. */
  get estimatedBytes(): number {
    let sessions = 0;
    for (const s of this.sessions.values()) sessions += s.length;
    return ENTRY_OVERHEAD_BYTES + this.minted.certPem.length + this.minted.keyPem.length
      + Math.max(1, this.contexts.size) * CONTEXT_BYTES_ESTIMATE + sessions + this.sessions.size * 2048;
  }
}

export interface MinterStats {
  hits: number; misses: number; renewals: number; size: number;
  /** estimated memory of the cache, bytes */
  estimatedBytes: number;
  /** the bounds: entries (delegation.cache) and bytes (delegation.cacheMemoryMiB) */
  maxEntries: number; budgetBytes: number;
  /** keys generated ahead and ready (a first-time identity takes one) */
  pooledKeys: number;
}

export class DelegationMinter {
  private readonly signer: CaSigner;
  private readonly cache: LRUCache<string, DelegatedCredentials>;
  private readonly pool: KeyPool;
  private readonly ttlMs: number;
  private readonly embedOriginal: boolean;
  private readonly extensionOid?: string;
  private counters = { hits: 0, misses: 0, renewals: 0 };
  /** an entry is being re-weighed: its removal is not a let-go */
  private reweighing = false;

  constructor(opts: DelegationMinterOptions) {
    this.signer = createCaSigner(opts.ca);
    this.ttlMs = opts.ttlMs;
    this.embedOriginal = opts.embedOriginal ?? false;
    this.extensionOid = opts.extensionOid;
    // bounded by count and by estimated memory (one TLS context is ~35 KiB: 10 000
    // identities with a context each would be ~350 MiB); the least recently used goes first
    this.cache = new LRUCache({
      max: opts.cacheSize,
      maxSize: opts.cacheMemoryBytes,
      sizeCalculation: (c) => c.estimatedBytes,
      // an entry re-weighed (taken out and put back) is not let go of
      dispose: (c) => { if (!this.reweighing) c.letGo(); },
    });
    this.pool = new KeyPool({ size: opts.keyPoolSize });
  }

  /** Credentials to present upstream for this (already verified) client certificate. */
  credentialsFor(original: CertificateInfo, request: CredentialsRequest): DelegatedCredentials {
    const { namesVouched, now = Date.now() } = request;
    const key = cacheKey(original.certSha256, namesVouched);
    const cached = this.cache.get(key);
    if (cached && now < cached.renewAt) {
      this.counters.hits++;
      return cached;
    }
    if (cached) this.counters.renewals++; else this.counters.misses++;
    const t0 = performance.now();
    const minted = mintCertificate(original, {
      ca: this.signer, key: this.pool.take(), ttlMs: this.ttlMs, namesVouched, embedOriginal: this.embedOriginal, extensionOid: this.extensionOid, now,
    });
    const creds = new DelegatedCredentials(minted, this.signer.chainPem);
    // a new context (another upstream) makes the entry heavier: weigh it again
    creds.onGrow = () => {
      if (this.cache.peek(key) !== creds) return;
      this.reweighing = true;
      try { this.cache.delete(key); } finally { this.reweighing = false; }
      this.cache.set(key, creds);
    };
    this.cache.set(key, creds);
    if (mintChannel.hasSubscribers) {
      mintChannel.publish({ identity: original.identity, certSha256: original.certSha256, namesVouched, durationMs: performance.now() - t0, notAfter: minted.notAfter } satisfies MintEvent);
    }
    return creds;
  }

  /** The delegation CA certificate (PEM), for chains and for backends to trust. */
  get caCertPem(): string { return this.signer.certPem; }

  /** Drops the cached credentials of an original certificate, vouched and unvouched (its client was revoked). */
  forget(certSha256: string): void {
    this.cache.delete(cacheKey(certSha256, true));
    this.cache.delete(cacheKey(certSha256, false));
  }

  stats(): MinterStats {
    return {
      ...this.counters, size: this.cache.size, estimatedBytes: this.cache.calculatedSize,
      maxEntries: this.cache.max, budgetBytes: this.cache.maxSize, pooledKeys: this.pool.available,
    };
  }

  /** Resolves when the key pool is full. */
  ready(): Promise<void> { return this.pool.ready(); }

  stop(): void { this.pool.stop(); this.cache.clear(); }
}
