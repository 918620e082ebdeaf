/**
 * Keeps one certificate per domain valid, whoever issues it (certmagic's
 * maintenance): serves what the storage holds, asks the issuer for a new one
 * when a fraction of the lifetime remains (renewal-policy.ts), stores it, and
 * retries a failure with jittered exponential backoff. A failed attempt is an
 * event, never fatal, and never removes the certificate being served.
 *
 * In a fleet sharing a storage (etcd), orders go through the storage's lock so
 * one instance orders a name; the others mirror what it writes (certificates
 * and challenge answers). `stop()` aborts in-flight work and resolves once the
 * loop has exited.
 *
 * The maintainer is a CertificateSource: the certificate store serves what
 * `certificates()` returns.
 */
import { generateKeyPair } from 'node:crypto';
import type { AcmeTiming } from '../../config/index.js';
import { CountersignError } from '../../errors.js';
import type { CertificateSource, SourceCertificate, StatusError } from '../certificate-source.js';
import { reasonOf, type EdgeLogger } from '../logger.js';
import { loadServerCertificate, normalizeName, type ServerCertificate } from '../server-certificate.js';
import type { AcmeEvents } from './acme-events.js';
import type { AcmeLock, AcmeStorage, SharedChallenge } from './acme-storage.js';
import type { CertificateIssuer } from './certificate-issuer.js';
import { renewalDueAt, retryDelayMs } from './renewal-policy.js';

export type CertificateKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048';

export interface CertificateMaintainerOptions {
  issuer: CertificateIssuer;
  /** read at start and on every change another instance makes; written after each issuance. Opened and closed by the caller. */
  storage: AcmeStorage;
  /** DNS names, one certificate each */
  domains: string[];
  /** key of issued certificates */
  keyType: CertificateKeyType;
  timing: Pick<AcmeTiming, 'renewalWindowRatio' | 'checkIntervalMs' | 'retryMinMs' | 'retryMaxMs'>;
  events: AcmeEvents;
  /** a challenge answer another instance of the fleet published (`undefined`: removed) */
  mirrorChallenge?: (id: string, type: SharedChallenge['type'], challenge: SharedChallenge | undefined) => Promise<void>;
  /** for the maintainer's own faults (a subscriber that throws, a lock not released) */
  logger: EdgeLogger;
}

export interface MaintainedCertificate {
  domain: string;
  /** `pending`: nothing issued yet; `valid`: served; `due`: served, renewal due or retrying */
  state: 'pending' | 'valid' | 'due';
  issuer?: string;
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** when the loop next works on this domain: renewal, or the next retry after a failure */
  nextRenewal: Date;
  failures: number;
  lastError?: StatusError;
  paths: { cert: string; key: string };
}

interface Issued { certPem: string; keyPem: string; cert: ServerCertificate }

interface DomainState {
  domain: string;
  current?: Issued;
  dueAt: number;
  failures: number;
  lastError?: StatusError;
  /** another instance holds the order lock (told once per wait) */
  waiting?: boolean;
}

export class CertificateMaintainer implements CertificateSource {
  readonly kind = 'acme' as const;

  private readonly opts: CertificateMaintainerOptions;
  private readonly domains: DomainState[];
  private readonly abort = new AbortController();
  private readonly changeListeners = new Set<() => void>();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private unwatch: (() => Promise<void>) | undefined;

  constructor(opts: CertificateMaintainerOptions) {
    this.opts = opts;
    this.domains = [...new Set(opts.domains.map(normalizeName))].map((domain) => ({ domain, dueAt: 0, failures: 0 }));
  }

  /** Serves what the storage holds, follows what others write to it, and starts the loop. Resolves before any issuance. */
  async start(): Promise<void> {
    if (this.loop || this.stopped) throw new CountersignError('ERR_USAGE', 'CertificateMaintainer.start() may be called once; create a new one after stop()');
    for (const state of this.domains) {
      const stored = await this.opts.storage.readCertificate(state.domain);
      if (stored) this.adopt(state, stored);
    }
    this.unwatch = await this.opts.storage.watch({
      onCertificate: (domain) => { void this.adoptStored(domain); },
      onChallenge: (id, type, challenge) => { void this.opts.mirrorChallenge?.(id, type, challenge); },
    });
    this.notifyChange();
    this.loop = this.run();
  }

  /** Aborts in-flight issuance, ends the loop and the storage watch; resolves when all of that is done. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    await this.unwatch?.();
  }

  certificates(): SourceCertificate[] {
    return this.domains.map((state) => ({
      id: `acme:${state.domain}`,
      names: [state.domain],
      certPem: state.current?.certPem,
      keyPem: state.current?.keyPem,
      nextRenewal: new Date(Math.max(state.dueAt, Date.now())),
      lastError: state.lastError,
    }));
  }

  subscribe(onChange: () => void): () => void {
    this.changeListeners.add(onChange);
    return () => this.changeListeners.delete(onChange);
  }

  status(): MaintainedCertificate[] {
    const now = Date.now();
    return this.domains.map((state) => {
      const cert = state.current?.cert;
      const paths = this.opts.storage.certificatePaths(state.domain);
      return {
        domain: state.domain,
        state: !cert ? 'pending' : state.dueAt <= now || state.failures > 0 ? 'due' : 'valid',
        issuer: cert?.issuer,
        serial: cert?.serial,
        notBefore: cert?.notBefore,
        notAfter: cert?.notAfter,
        nextRenewal: new Date(Math.max(state.dueAt, now)),
        failures: state.failures,
        lastError: state.lastError,
        paths: { cert: paths.cert, key: paths.key },
      };
    });
  }

  // ---- the loop ----

  private async run(): Promise<void> {
    while (!this.stopped) {
      for (const state of this.domains) {
        if (this.stopped) break;
        if (Date.now() >= state.dueAt) await this.maintain(state);
      }
      if (this.stopped) break;
      const next = Math.min(...this.domains.map((state) => state.dueAt));
      await this.idle(Math.max(0, Math.min(next - Date.now(), this.opts.timing.checkIntervalMs)));
    }
  }

  /** Sleeps `ms`, or less when stop() or a certificate from another instance wakes it. The timer does not keep the process alive. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      timer.unref();
      this.wake = () => { clearTimeout(timer); this.wake = undefined; resolve(); };
    });
  }

  private async maintain(state: DomainState): Promise<void> {
    const { storage, issuer, events } = this.opts;
    const started = Date.now();
    const renewal = state.current !== undefined;
    let lock: AcmeLock | undefined;
    try {
      // orders and renewals go through the storage's lock: in a fleet sharing etcd, one instance orders a name
      lock = await storage.tryLock(state.domain);
      if (!lock) {
        if (await this.adoptStored(state.domain)) return;
        state.dueAt = Date.now() + storage.lockRetryMs;
        if (!state.waiting) events.emit({ type: 'waiting', domain: state.domain, storage: storage.location });
        state.waiting = true;
        return;
      }
      state.waiting = false;
      if (await this.adoptStored(state.domain)) return; // written by another instance while this one waited
      const held = lock;
      const keyPem = await createKey(this.opts.keyType);
      const certPem = await issuer.issue({
        domain: state.domain,
        keyPem,
        renewal,
        signal: AbortSignal.any([this.abort.signal, held.signal]),
        shareChallenge: (c) => held.publishChallenge(c),
        onOrder: (order) => events.emit({ type: 'order', domain: state.domain, renewal, order }),
      });
      if (this.stopped) return;
      held.signal.throwIfAborted();
      const issued = validate(certPem, keyPem, state.domain);
      await storage.writeCertificate(state.domain, { certPem, keyPem }, { domain: state.domain, directory: issuer.location, issuedAt: new Date().toISOString() });
      Object.assign(state, { current: issued, failures: 0, lastError: undefined, dueAt: this.dueAt(issued) });
      this.notifyChange();
      events.emit({
        type: renewal ? 'renewed' : 'issued',
        domain: state.domain,
        issuer: issued.cert.issuer,
        notAfter: issued.cert.notAfter,
        expiresInSeconds: secondsUntil(issued.cert.notAfter),
        nextRenewal: new Date(state.dueAt),
        durationMs: Date.now() - started,
        certSha256: issued.cert.certSha256,
      });
    } catch (err) {
      if (this.stopped) return; // aborted by stop(): not a failure of the CA
      state.failures++;
      const retryInMs = retryDelayMs(state.failures, { minMs: this.opts.timing.retryMinMs, maxMs: this.opts.timing.retryMaxMs });
      state.dueAt = Date.now() + retryInMs;
      const cause = issuer.explain(err, state.domain);
      state.lastError = { code: cause.code, message: cause.message, at: new Date() };
      this.notifyChange();
      events.emit({
        type: 'failed', domain: state.domain, renewal, code: cause.code, reason: cause.message, failures: state.failures, retryInMs,
        ...(state.current ? { expiresInSeconds: secondsUntil(state.current.cert.notAfter) } : {}),
      });
    } finally {
      await lock?.release().catch((err: unknown) => this.opts.logger.warn({ domain: state.domain, ...reasonOf(err) }, 'ACME order lock not released'));
    }
  }

  // ---- the fleet mirror ----

  /**
   * Serves the stored certificate of `domain` when it is newer than the one
   * served (another instance of a fleet wrote it). True when the domain has a
   * certificate that is not due for renewal.
   */
  private async adoptStored(domain: string): Promise<boolean> {
    const state = this.domains.find((x) => x.domain === domain);
    if (!state || this.stopped) return false;
    let stored;
    try {
      stored = await this.opts.storage.readCertificate(domain);
    } catch (err) {
      this.emitUnusable(state.domain, err);
      return false;
    }
    if (stored && stored.certPem !== state.current?.certPem && this.adopt(state, stored)) {
      this.notifyChange();
      this.wake?.();
    }
    return state.current !== undefined && Date.now() < state.dueAt;
  }

  /** Serves `stored` for `state` unless it is unusable or older than what is served; true when it did. */
  private adopt(state: DomainState, stored: { certPem: string; keyPem: string }): boolean {
    let issued: Issued;
    try {
      issued = validate(stored.certPem, stored.keyPem, state.domain);
    } catch (err) {
      this.emitUnusable(state.domain, err);
      return false;
    }
    if (state.current && issued.cert.notAfter.getTime() < state.current.cert.notAfter.getTime()) return false;
    Object.assign(state, { current: issued, failures: 0, lastError: undefined, waiting: false, dueAt: this.dueAt(issued) });
    this.opts.events.emit({
      type: 'loaded', domain: state.domain, notAfter: issued.cert.notAfter, expiresInSeconds: secondsUntil(issued.cert.notAfter),
      nextRenewal: new Date(Math.max(state.dueAt, Date.now())), certSha256: issued.cert.certSha256, storage: this.opts.storage.location,
    });
    return true;
  }

  private emitUnusable(domain: string, err: unknown): void {
    this.opts.events.emit({ type: 'unusable', domain, path: this.opts.storage.certificatePaths(domain).cert, ...reasonOf(err) });
  }

  private dueAt(issued: Issued): number {
    return renewalDueAt(issued.cert, this.opts.timing.renewalWindowRatio).getTime();
  }

  private notifyChange(): void {
    for (const listener of this.changeListeners) {
      try { listener(); } catch (err) { this.opts.logger.error({ ...reasonOf(err) }, 'ACME change listener failed'); }
    }
  }
}

function validate(certPem: string, keyPem: string, domain: string): Issued {
  const cert = loadServerCertificate({ certPem, keyPem, what: `acme:${domain}` });
  if (!cert.dnsNames.includes(domain)) {
    throw new CountersignError('ERR_ACME', `certificate for ${domain} names ${cert.dnsNames.join(', ') || 'nothing'} instead`);
  }
  return { certPem, keyPem, cert };
}

/** A new private key, PEM (PKCS#8), made on libuv's thread pool. */
function createKey(type: CertificateKeyType): Promise<string> {
  const encoding = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: string, privateKey: string) => (err ? reject(err) : resolve(privateKey));
    switch (type) {
      case 'ec-p256': generateKeyPair('ec', { namedCurve: 'P-256', ...encoding }, done); return;
      case 'ec-p384': generateKeyPair('ec', { namedCurve: 'P-384', ...encoding }, done); return;
      case 'rsa-2048': generateKeyPair('rsa', { modulusLength: 2048, ...encoding }, done); return;
    }
  });
}

function secondsUntil(date: Date): number {
  return Math.round((date.getTime() - Date.now()) / 1000);
}
