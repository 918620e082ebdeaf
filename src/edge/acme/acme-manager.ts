/**
 * Certificates from an ACME CA (Let's Encrypt, step-ca, Pebble …), one per
 * configured domain: account, order, challenge, finalize, download, store on
 * disk, hand to the CertificateStore (which swaps it in without touching open
 * connections), and renew when a third of the lifetime remains.
 *
 * A maintenance loop (certmagic's shape) does all of it. A failed attempt is
 * logged, reported as an event, and retried with jittered exponential backoff;
 * it is never fatal and never removes the certificate being served. `stop()`
 * aborts in-flight requests and resolves once the loop has exited.
 *
 * The manager is a CertificateSource: pass it to createCertificateStore({ sources }).
 * The edge wires `tlsAlpnResponder` into its listener for tls-alpn-01; for
 * http-01 the manager runs its own listener on `httpListen`.
 */
import { channel } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSecureContext } from 'node:tls';
import acme from 'acme-client';
import { acmeDirectoryUrl, acmeSettingsProblems, ACME_DIRECTORIES } from '../../config/index.js';
import { CountersignError } from '../../errors.js';
import type { CertificateSource, SourceCertificate, StatusError } from '../certificate-source.js';
import { silentLogger, reasonOf, type EdgeLogger } from '../logger.js';
import { loadServerCertificate, normalizeName, type ServerCertificate } from '../server-certificate.js';
import { withAcmeScope, createAcmeAgent, type AcmeAgent } from './acme-http.js';
import type { AcmeLock, AcmeStorage, SharedChallenge } from './acme-storage.js';
import { FileAcmeStorage } from './file-acme-storage.js';
import { ChallengeRegistry, type ChallengeChange } from './challenge-registry.js';
import { startHttpChallengeServer, type HttpChallengeServer } from './http-challenge-server.js';
import {
  DEFAULT_RENEWAL_WINDOW_RATIO, DEFAULT_RETRY_MAX_MS, DEFAULT_RETRY_MIN_MS, renewalDueAt, retryDelayMs,
} from './renewal-policy.js';
import { createTlsAlpnResponder, type TlsAlpnResponder } from './tls-alpn-responder.js';

export type AcmeChallengeType = 'http-01' | 'tls-alpn-01';
export type AcmeKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048';

/** Words accepted for `directory` besides a URL (declared with the config checks). */
export { ACME_DIRECTORIES };

/** How often the loop looks at certificates even when nothing is due (certmagic: 10 min). */
export const DEFAULT_ACME_CHECK_INTERVAL_MS = 600_000;
/** First and longest wait between polls of a pending challenge or order. */
export const DEFAULT_ACME_POLL_MIN_MS = 500;
export const DEFAULT_ACME_POLL_MAX_MS = 5_000;
/** How long a challenge or an order may stay pending before the attempt fails. */
export const DEFAULT_ACME_VALIDATION_TIMEOUT_MS = 120_000;
/** Per HTTP request to the ACME server. */
export const DEFAULT_ACME_REQUEST_TIMEOUT_MS = 30_000;

export const acmeChannel = channel('countersign:edge:acme');

export interface AcmeManagerOptions {
  /** ACME directory URL (https), or `letsencrypt` / `letsencrypt-staging` */
  directory: string;
  /** PEM CA certificate(s) to trust for the ACME server's own HTTPS (private ACME: step-ca, Pebble); default Node's bundled roots */
  ca?: string | Buffer | (string | Buffer)[];
  /** contact address for the account (expiry mail from the CA) */
  email?: string;
  /** DNS names, one certificate each; wildcards need dns-01 and are refused */
  domains: string[];
  challenge: AcmeChallengeType;
  /** where the http-01 listener binds, `host:port` or an object; required for http-01, optional (redirect only) for tls-alpn-01 */
  httpListen?: string | { host: string; port: number };
  /** port in the listener's https redirects; default 443 */
  httpsPort?: number;
  /**
   * directory for the account key and certificates (created 0700, keys 0600), or
   * a storage (etcd, see openAcmeStorage) that the manager then owns and closes
   */
  storage: string | AcmeStorage;
  /** external account binding, for CAs that require one (ZeroSSL, Google, step-ca with EAB) */
  eab?: { kid: string; hmacKey: string };
  /** key of issued certificates; default ec-p256 */
  keyType?: AcmeKeyType;
  /** renew when this fraction of the lifetime remains; default 1/3 */
  renewalWindowRatio?: number;
  /** longest sleep of the maintenance loop, in ms; default 600 000 */
  checkIntervalMs?: number;
  /** first retry delay after a failure, in ms (doubles, jittered); default 60 000 */
  retryMinMs?: number;
  /** cap of the retry delay, in ms; default 3 600 000 */
  retryMaxMs?: number;
  /** first and longest delay between polls of a pending challenge/order, in ms; default 500 / 5 000 */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** a challenge or order still pending after this many ms fails the attempt; default 120 000 */
  validationTimeoutMs?: number;
  /** per request to the ACME server, in ms; default 30 000 */
  requestTimeoutMs?: number;
  /**
   * Worker processes: each pending challenge is also handed here, and awaited
   * before the CA is told to validate, so that whichever worker takes the
   * validation connection can answer it (see acme-follower.ts).
   */
  publishChallenge?: (change: ChallengeChange) => Promise<void>;
  logger?: EdgeLogger;
}

export type AcmeEvent =
  | { type: 'loaded'; domain: string; notAfter: Date; expiresInSeconds: number; nextRenewal: Date }
  | { type: 'order'; domain: string; renewal: boolean }
  | { type: 'issued' | 'renewed'; domain: string; issuer: string; notAfter: Date; expiresInSeconds: number; nextRenewal: Date; durationMs: number }
  | { type: 'failed'; domain: string; code: string; reason: string; failures: number; retryInMs: number; expiresInSeconds?: number };

export interface AcmeCertificateStatus {
  domain: string;
  source: 'acme';
  /** `pending`: nothing issued yet; `valid`: served; `due`: served, renewal due or retrying */
  state: 'pending' | 'valid' | 'due';
  directory: string;
  challenge: AcmeChallengeType;
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
  /** another instance holds the order lock (logged once per wait) */
  waiting?: boolean;
}

const TERMINAL_AUTHZ = new Set(['invalid', 'deactivated', 'expired', 'revoked']);

export class AcmeManager implements CertificateSource {
  readonly kind = 'acme' as const;
  /** wire into the main TLS listener for tls-alpn-01 (see tls-alpn-responder.ts) */
  readonly tlsAlpnResponder: TlsAlpnResponder;
  readonly challenges = new ChallengeRegistry();
  readonly directoryUrl: string;

  private readonly opts: AcmeManagerOptions;
  private readonly logger: EdgeLogger;
  private readonly storage: AcmeStorage;
  private readonly domains: DomainState[];
  private readonly httpsAgent: AcmeAgent;
  private readonly abort = new AbortController();
  private readonly changeListeners = new Set<() => void>();
  private readonly eventListeners = new Set<(e: AcmeEvent) => void>();
  private client: acme.Client | undefined;
  private httpServer: HttpChallengeServer | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private unwatch: (() => Promise<void>) | undefined;

  constructor(opts: AcmeManagerOptions) {
    this.opts = opts;
    this.logger = opts.logger ?? silentLogger;
    this.directoryUrl = resolveDirectory(opts.directory);
    validateOptions(opts);
    this.domains = [...new Set(opts.domains.map(normalizeName))].map((domain) => ({ domain, dueAt: 0, failures: 0 }));
    this.storage = typeof opts.storage === 'string'
      ? new FileAcmeStorage({ root: opts.storage, directoryUrl: this.directoryUrl, logger: this.logger })
      : opts.storage;
    this.httpsAgent = createAcmeAgent(opts.ca);
    this.tlsAlpnResponder = createTlsAlpnResponder({ challenges: this.challenges, logger: this.logger });
    // in a fleet, the CA's http-01 request may reach this instance while another one orders
    this.challenges.setHttpFallback(async (token) => (await this.storage.readChallenge('http-01', token))?.keyAuthorization);
  }

  /**
   * Loads stored certificates (served at once if still valid), binds the http-01
   * listener, and starts the maintenance loop. Resolves before any issuance: the
   * edge can start serving right away; watch `on()` events for progress.
   * Throws ERR_ACME_STORAGE or ERR_LISTEN for problems that need an operator.
   */
  async start(): Promise<void> {
    if (this.loop || this.stopped) throw new CountersignError('ERR_USAGE', 'AcmeManager.start() may be called once; create a new manager after stop()');
    try {
      await this.storage.init();
    } catch (err) {
      await this.storage.close(); // an etcd client would keep the process alive
      throw err;
    }
    const now = Date.now();
    for (const d of this.domains) {
      const stored = await this.storage.readCertificate(d.domain);
      if (!stored) continue;
      try {
        d.current = this.validate(stored.certPem, stored.keyPem, d.domain);
        d.dueAt = renewalDueAt(d.current.cert, this.ratio).getTime();
        const e = { type: 'loaded' as const, domain: d.domain, notAfter: d.current.cert.notAfter, expiresInSeconds: secondsUntil(d.current.cert.notAfter), nextRenewal: new Date(Math.max(d.dueAt, now)) };
        this.logger.info({ domain: d.domain, notAfter: e.notAfter.toISOString(), expiresInSeconds: e.expiresInSeconds, nextRenewal: e.nextRenewal.toISOString() }, 'ACME certificate loaded from storage');
        this.emit(e);
      } catch (err) {
        this.logger.warn({ domain: d.domain, path: this.storage.certificatePaths(d.domain).cert, ...reasonOf(err) }, 'stored ACME certificate not usable; a new one will be ordered');
      }
    }
    this.unwatch = await this.storage.watch({
      onCertificate: (domain) => { void this.adoptStored(domain); },
      onChallenge: (id, type, c) => { void this.mirrorChallenge(id, type, c); },
    });
    if (this.opts.httpListen !== undefined) {
      this.httpServer = await startHttpChallengeServer({
        challenges: this.challenges,
        listen: parseListen(this.opts.httpListen),
        httpsPort: this.opts.httpsPort,
        logger: this.logger,
      });
    }
    this.notifyChange();
    this.loop = this.run();
  }

  /** Aborts in-flight requests, ends the loop, closes the http-01 listener; resolves when all of that is done. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    await this.unwatch?.();
    await this.httpServer?.close();
    this.httpsAgent.destroy();
    await this.storage.close();
  }

  /** The http-01 listener's bound address (useful with port 0). */
  httpAddress(): { address: string; port: number } | undefined {
    return this.httpServer?.address();
  }

  certificates(): SourceCertificate[] {
    return this.domains.map((d) => ({
      id: `acme:${d.domain}`,
      names: [d.domain],
      certPem: d.current?.certPem,
      keyPem: d.current?.keyPem,
      nextRenewal: new Date(Math.max(d.dueAt, Date.now())),
      lastError: d.lastError,
    }));
  }

  subscribe(onChange: () => void): () => void {
    this.changeListeners.add(onChange);
    return () => this.changeListeners.delete(onChange);
  }

  /** issued / renewed / failed / order / loaded, for logs and metrics (also on diagnostics channel `countersign:edge:acme`) */
  on(listener: (event: AcmeEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  status(): AcmeCertificateStatus[] {
    const now = Date.now();
    return this.domains.map((d) => {
      const c = d.current?.cert;
      const paths = this.storage.certificatePaths(d.domain);
      return {
        domain: d.domain,
        source: 'acme',
        state: !c ? 'pending' : d.dueAt <= now || d.failures > 0 ? 'due' : 'valid',
        directory: this.directoryUrl,
        challenge: this.opts.challenge,
        issuer: c?.issuer,
        serial: c?.serial,
        notBefore: c?.notBefore,
        notAfter: c?.notAfter,
        nextRenewal: new Date(Math.max(d.dueAt, now)),
        failures: d.failures,
        lastError: d.lastError,
        paths: { cert: paths.cert, key: paths.key },
      };
    });
  }

  // ---- the maintenance loop ----

  private get ratio(): number { return this.opts.renewalWindowRatio ?? DEFAULT_RENEWAL_WINDOW_RATIO; }

  private async run(): Promise<void> {
    const checkMs = this.opts.checkIntervalMs ?? DEFAULT_ACME_CHECK_INTERVAL_MS;
    while (!this.stopped) {
      for (const d of this.domains) {
        if (this.stopped) break;
        if (Date.now() >= d.dueAt) await this.maintain(d);
      }
      if (this.stopped) break;
      const next = Math.min(...this.domains.map((d) => d.dueAt));
      await this.idle(Math.max(0, Math.min(next - Date.now(), checkMs)));
    }
  }

  /** Sleeps `ms`, or less when stop() wakes it. The timer does not keep the process alive. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      t.unref();
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }

  private async maintain(d: DomainState): Promise<void> {
    const started = Date.now();
    const renewal = d.current !== undefined;
    this.httpsAgent.lastConnectionError = undefined;
    let lock: AcmeLock | undefined;
    try {
      // orders and renewals go through the storage's lock: in a fleet sharing etcd, one instance orders a name
      lock = await this.storage.tryLock(d.domain);
      if (!lock) {
        if (await this.adoptStored(d.domain)) return;
        d.dueAt = Date.now() + this.storage.lockRetryMs;
        if (!d.waiting) this.logger.info({ domain: d.domain, storage: this.storage.location }, 'ACME order for this domain runs on another instance; waiting for its certificate');
        d.waiting = true;
        return;
      }
      d.waiting = false;
      if (await this.adoptStored(d.domain)) return; // written by another instance while this one waited
      const held = lock;
      const issued = await withAcmeScope(
        { httpsAgent: this.httpsAgent, signal: AbortSignal.any([this.abort.signal, held.signal]), timeoutMs: this.opts.requestTimeoutMs ?? DEFAULT_ACME_REQUEST_TIMEOUT_MS },
        () => this.obtain(d.domain, renewal, held),
      );
      if (this.stopped) return;
      held.signal.throwIfAborted();
      await this.storage.writeCertificate(d.domain, { certPem: issued.certPem, keyPem: issued.keyPem }, {
        domain: d.domain, directory: this.directoryUrl, issuedAt: new Date().toISOString(),
      });
      d.current = issued;
      d.failures = 0;
      d.lastError = undefined;
      d.dueAt = renewalDueAt(issued.cert, this.ratio).getTime();
      const event: AcmeEvent = {
        type: renewal ? 'renewed' : 'issued',
        domain: d.domain,
        issuer: issued.cert.issuer,
        notAfter: issued.cert.notAfter,
        expiresInSeconds: secondsUntil(issued.cert.notAfter),
        nextRenewal: new Date(d.dueAt),
        durationMs: Date.now() - started,
      };
      this.logger.info({
        domain: d.domain, issuer: event.issuer, notAfter: event.notAfter.toISOString(), expiresInSeconds: event.expiresInSeconds,
        nextRenewal: event.nextRenewal.toISOString(), durationMs: event.durationMs, certSha256: issued.cert.certSha256,
      }, renewal ? 'ACME certificate renewed' : 'ACME certificate issued');
      this.notifyChange();
      this.emit(event);
    } catch (err) {
      if (this.stopped) return; // aborted by stop(): not a failure of the CA
      d.failures++;
      const retryInMs = retryDelayMs(d.failures, { minMs: this.opts.retryMinMs ?? DEFAULT_RETRY_MIN_MS, maxMs: this.opts.retryMaxMs ?? DEFAULT_RETRY_MAX_MS });
      d.dueAt = Date.now() + retryInMs;
      const e = this.describeFailure(err, d.domain);
      d.lastError = { code: e.code, message: e.message, at: new Date() };
      const expiresInSeconds = d.current ? secondsUntil(d.current.cert.notAfter) : undefined;
      this.logger.warn({
        domain: d.domain, code: e.code, reason: e.message, failures: d.failures, retryInMs,
        ...(expiresInSeconds !== undefined ? { expiresInSeconds, serving: 'previous certificate' } : { serving: 'fallback certificate' }),
      }, renewal ? 'ACME renewal failed; will retry' : 'ACME issuance failed; will retry');
      this.notifyChange();
      this.emit({ type: 'failed', domain: d.domain, code: e.code, reason: e.message, failures: d.failures, retryInMs, ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}) });
    } finally {
      await lock?.release().catch((err: unknown) => this.logger.warn({ domain: d.domain, ...reasonOf(err) }, 'ACME order lock not released'));
    }
  }

  /**
   * Serves the stored certificate of `domain` when it is newer than the one
   * served (another instance of a fleet wrote it). True when the domain has a
   * certificate that is not due for renewal.
   */
  private async adoptStored(domain: string): Promise<boolean> {
    const d = this.domains.find((x) => x.domain === domain);
    if (!d || this.stopped) return false;
    let stored;
    try {
      stored = await this.storage.readCertificate(domain);
    } catch (err) {
      this.logger.warn({ domain, ...reasonOf(err) }, 'cannot read the stored ACME certificate');
      return false;
    }
    if (stored && stored.certPem !== d.current?.certPem) {
      try {
        const issued = this.validate(stored.certPem, stored.keyPem, domain);
        if (!d.current || issued.cert.notAfter.getTime() >= d.current.cert.notAfter.getTime()) {
          Object.assign(d, { current: issued, failures: 0, lastError: undefined, waiting: false, dueAt: renewalDueAt(issued.cert, this.ratio).getTime() });
          const e = { type: 'loaded' as const, domain, notAfter: issued.cert.notAfter, expiresInSeconds: secondsUntil(issued.cert.notAfter), nextRenewal: new Date(Math.max(d.dueAt, Date.now())) };
          this.logger.info({ domain, notAfter: e.notAfter.toISOString(), expiresInSeconds: e.expiresInSeconds, nextRenewal: e.nextRenewal.toISOString(), certSha256: issued.cert.certSha256, storage: this.storage.location }, 'ACME certificate loaded from storage');
          this.notifyChange();
          this.emit(e);
          this.wake?.();
        }
      } catch (err) {
        this.logger.warn({ domain, path: this.storage.certificatePaths(domain).cert, ...reasonOf(err) }, 'stored ACME certificate not usable');
      }
    }
    return d.current !== undefined && Date.now() < d.dueAt;
  }

  /** A challenge answer another instance published: answer it here too (the CA may reach this instance). */
  private async mirrorChallenge(id: string, type: SharedChallenge['type'], c: SharedChallenge | undefined): Promise<void> {
    try {
      // (publishChallenge: this instance's worker processes answer it too)
      const publish = this.opts.publishChallenge;
      if (type === 'http-01') {
        if (c) this.challenges.setHttp(id, c.keyAuthorization); else this.challenges.deleteHttp(id);
        await publish?.(c ? { op: 'set-http', token: id, keyAuthorization: c.keyAuthorization } : { op: 'delete-http', token: id });
      } else if (!c) {
        this.challenges.deleteTlsAlpn(id);
        await publish?.({ op: 'delete-tls-alpn', domain: id });
      } else {
        const authz = { identifier: { type: 'dns', value: c.domain } } as acme.Authorization;
        const [key, cert] = await acme.crypto.createAlpnCertificate(authz, c.keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
        this.challenges.setTlsAlpn(c.domain, createSecureContext({ key, cert }));
        await publish?.({ op: 'set-tls-alpn', domain: c.domain, certPem: cert.toString(), keyPem: key.toString() });
      }
    } catch (err) {
      this.logger.warn({ domain: c?.domain, challenge: type, ...reasonOf(err) }, 'cannot answer a challenge published by another instance');
    }
  }

  // ---- one issuance ----

  private async obtain(domain: string, renewal: boolean, lock: AcmeLock): Promise<Issued> {
    const client = await this.accountClient();
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: domain }] });
    this.logger.info({ domain, renewal, order: order.url }, 'ACME order placed');
    this.emit({ type: 'order', domain, renewal });
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === 'valid') continue; // the CA reused an earlier validation
      await this.solve(client, order, authz, lock);
    }
    const keyPem = (await createKey(this.opts.keyType ?? 'ec-p256')).toString();
    const [, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, keyPem);
    const finalized = await this.waitOrder(client, await client.finalizeOrder(order, csr));
    const certPem = await client.getCertificate(finalized);
    return this.validate(certPem, keyPem, domain);
  }

  private async accountClient(): Promise<acme.Client> {
    if (this.client) return this.client;
    let accountKey = await this.storage.readAccountKey();
    if (!accountKey) {
      // first writer wins: instances sharing a storage share one account
      accountKey = await this.storage.createAccountKey((await acme.crypto.createPrivateEcdsaKey()).toString());
    }
    const client = new acme.Client({
      directoryUrl: this.directoryUrl,
      accountKey,
      ...(this.opts.eab ? { externalAccountBinding: { kid: this.opts.eab.kid, hmacKey: this.opts.eab.hmacKey } } : {}),
    });
    const contact = this.opts.email ? [`mailto:${this.opts.email}`] : [];
    try {
      // an existing key gets its existing account back (RFC 8555 §7.3.1), so this is safe after a restart
      await client.createAccount({ termsOfServiceAgreed: true, contact });
    } catch (err) {
      const e = this.describeFailure(err, undefined);
      const needsEab = !this.opts.eab && /externalAccount/i.test(e.message) ? '; the CA requires external account binding: set acme.eab (kid and hmacKey from your CA account)' : '';
      throw new CountersignError(e.code, `account registration at ${this.directoryUrl} failed: ${e.message}${needsEab}`, { cause: err });
    }
    await this.storage.writeAccountInfo({ url: client.getAccountUrl(), contact });
    this.client = client;
    return client;
  }

  private async solve(client: acme.Client, order: acme.Order, authz: acme.Authorization, lock: AcmeLock): Promise<void> {
    const domain = authz.identifier.value;
    const type = this.opts.challenge;
    const challenge = authz.challenges.find((c) => c.type === type);
    if (!challenge) {
      throw new CountersignError('ERR_ACME_CHALLENGE', `${domain}: the ACME server offers no ${type} challenge (it offers ${authz.challenges.map((c) => c.type).join(', ') || 'none'}); change acme.challenge`);
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    let undo: () => void;
    let published: ChallengeChange;
    let id: string;
    if (type === 'http-01') {
      const token = (challenge as { token: string }).token;
      id = token;
      this.challenges.setHttp(token, keyAuthorization);
      published = { op: 'set-http', token, keyAuthorization };
      undo = () => { this.challenges.deleteHttp(token); void this.opts.publishChallenge?.({ op: 'delete-http', token }).catch(() => {}); };
    } else {
      const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
      id = domain;
      this.challenges.setTlsAlpn(domain, createSecureContext({ key, cert }));
      published = { op: 'set-tls-alpn', domain, certPem: cert.toString(), keyPem: key.toString() };
      undo = () => { this.challenges.deleteTlsAlpn(domain); void this.opts.publishChallenge?.({ op: 'delete-tls-alpn', domain }).catch(() => {}); };
    }
    // the other instances answer it too (with etcd storage; a no-op for a directory)
    let unpublish: () => Promise<void>;
    try {
      unpublish = await lock.publishChallenge({ type, id, domain, keyAuthorization });
    } catch (err) {
      undo();
      throw err;
    }
    try {
      await this.opts.publishChallenge?.(published);
      await client.completeChallenge(challenge);
      await this.poll(`${type} validation of ${domain}`, async () => {
        const fresh = (await client.getAuthorizations(order)).find((a) => a.identifier.value === domain);
        if (!fresh || fresh.status === 'valid') return true;
        if (TERMINAL_AUTHZ.has(fresh.status)) {
          const detail = problemDetail(fresh.challenges.find((c) => c.type === type)?.error) ?? `authorization is ${fresh.status}`;
          throw new CountersignError('ERR_ACME_CHALLENGE', `${domain}: ${type} validation failed: ${detail}; ${challengeHint(type, domain)}`);
        }
        return false;
      });
    } finally {
      undo();
      await unpublish();
    }
  }

  private async waitOrder(client: acme.Client, order: acme.Order): Promise<acme.Order> {
    let current = order;
    await this.poll(`the order for ${order.identifiers.map((i) => i.value).join(', ')}`, async () => {
      if (current.status === 'valid') return true;
      if (current.status === 'invalid') {
        throw new CountersignError('ERR_ACME', `order ${current.url} became invalid: ${problemDetail(current.error) ?? 'no detail from the server'}`);
      }
      current = { ...(await client.getOrder(current)), url: current.url };
      return current.status === 'valid';
    });
    return current;
  }

  /** Polls with doubling, abortable sleeps (acme-client's own wait cannot be interrupted by stop()). */
  private async poll(what: string, done: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + (this.opts.validationTimeoutMs ?? DEFAULT_ACME_VALIDATION_TIMEOUT_MS);
    let delay = this.opts.pollMinMs ?? DEFAULT_ACME_POLL_MIN_MS;
    const maxDelay = this.opts.pollMaxMs ?? DEFAULT_ACME_POLL_MAX_MS;
    while (!(await done())) {
      if (Date.now() > deadline) throw new CountersignError('ERR_ACME', `${what} still pending after ${Math.round((this.opts.validationTimeoutMs ?? DEFAULT_ACME_VALIDATION_TIMEOUT_MS) / 1000)} s`);
      await sleep(delay, undefined, { signal: this.abort.signal });
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  private validate(certPem: string, keyPem: string, domain: string): Issued {
    const cert = loadServerCertificate({ certPem, keyPem, what: `acme:${domain}` });
    if (!cert.dnsNames.includes(domain)) {
      throw new CountersignError('ERR_ACME', `certificate for ${domain} names ${cert.dnsNames.join(', ') || 'nothing'} instead`);
    }
    return { certPem, keyPem, cert };
  }

  /** The cause worth logging: our own errors as they are, a connection error instead of acme-client's TypeError. */
  private describeFailure(err: unknown, domain: string | undefined): CountersignError {
    if (err instanceof CountersignError) return err;
    const prefix = domain ? `${domain}: ` : '';
    const conn = this.httpsAgent.lastConnectionError;
    if (conn && !(err instanceof Error && (err as { response?: unknown }).response)) {
      const code = (conn as NodeJS.ErrnoException).code;
      return new CountersignError('ERR_ACME', `${prefix}cannot reach the ACME server ${this.directoryUrl}: ${conn.message}${code && !conn.message.includes(code) ? ` (${code})` : ''}; check acme.directory, the network, and acme.ca for a private CA`, { cause: err });
    }
    if (err instanceof TypeError && /reading 'config'/.test(err.message)) {
      return new CountersignError('ERR_ACME', `${prefix}no response from the ACME server ${this.directoryUrl} within ${this.opts.requestTimeoutMs ?? DEFAULT_ACME_REQUEST_TIMEOUT_MS} ms or the request was cut off; check the network`, { cause: err });
    }
    return new CountersignError('ERR_ACME', `${prefix}${(err as Error)?.message ?? String(err)}`, { cause: err });
  }

  private notifyChange(): void {
    for (const l of this.changeListeners) {
      try { l(); } catch (err) { this.logger.error({ ...reasonOf(err) }, 'ACME change listener failed'); }
    }
  }

  private emit(event: AcmeEvent): void {
    if (acmeChannel.hasSubscribers) acmeChannel.publish(event);
    for (const l of this.eventListeners) {
      try { l(event); } catch (err) { this.logger.error({ ...reasonOf(err) }, 'ACME event listener failed'); }
    }
  }
}

/** Builds and validates; throws ERR_CONFIG_INVALID naming the option to fix. */
export function createAcmeManager(opts: AcmeManagerOptions): AcmeManager {
  return new AcmeManager(opts);
}

export function resolveDirectory(directory: string): string {
  const d = acmeDirectoryUrl(directory);
  if ('problem' in d) throw new CountersignError('ERR_CONFIG_INVALID', `acme.directory: ${d.problem}`);
  return d.url;
}

/** The config checks (src/config/acme-checks.ts, which `check` runs too), then what only a library caller can get wrong. */
function validateOptions(o: AcmeManagerOptions): void {
  const bad = (path: string, msg: string) => new CountersignError('ERR_CONFIG_INVALID', `acme.${path}: ${msg}`);
  const problems = acmeSettingsProblems(o, 'acme');
  if (problems.length) throw new CountersignError('ERR_CONFIG_INVALID', problems.join('; '));
  if (o.challenge !== 'http-01' && o.challenge !== 'tls-alpn-01') throw bad('challenge', `"${String(o.challenge)}" is not http-01 or tls-alpn-01`);
  // with publishChallenge the worker processes answer http-01 on their own listener
  if (o.challenge === 'http-01' && o.httpListen === undefined && !o.publishChallenge) throw bad('httpListen', 'http-01 needs a plain-HTTP listener the CA can reach on port 80, e.g. 0.0.0.0:80');
  if (o.httpListen !== undefined) parseListen(o.httpListen);
  if (!o.storage) throw bad('storage', 'set a directory for the account key and certificates');
  const ratio = o.renewalWindowRatio ?? DEFAULT_RENEWAL_WINDOW_RATIO;
  if (!(ratio > 0 && ratio < 1)) throw bad('renewalWindowRatio', `${ratio} must be between 0 and 1`);
}

export function parseListen(listen: string | { host: string; port: number }): { host: string; port: number } {
  if (typeof listen === 'object') return listen;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new CountersignError('ERR_CONFIG_INVALID', `acme.httpListen: "${listen}" is not host:port (e.g. 0.0.0.0:80 or [::]:80)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

async function createKey(type: AcmeKeyType): Promise<Buffer> {
  switch (type) {
    case 'ec-p256': return acme.crypto.createPrivateEcdsaKey('P-256');
    case 'ec-p384': return acme.crypto.createPrivateEcdsaKey('P-384');
    case 'rsa-2048': return acme.crypto.createPrivateRsaKey(2048);
  }
}

function problemDetail(problem: object | undefined): string | undefined {
  if (!problem) return undefined;
  const p = problem as { detail?: string; type?: string };
  return p.detail ? `${p.detail}${p.type ? ` (${p.type})` : ''}` : p.type;
}

function challengeHint(type: AcmeChallengeType, domain: string): string {
  return type === 'http-01'
    ? `the CA must reach http://${domain}/.well-known/acme-challenge/ on port 80: check DNS for ${domain} and that acme.httpListen is reachable from the internet`
    : `the CA must reach ${domain} on port 443 and get ALPN acme-tls/1: check DNS for ${domain} and that the edge listener is what answers on 443 (no TLS-terminating load balancer in front)`;
}


function secondsUntil(d: Date): number {
  return Math.round((d.getTime() - Date.now()) / 1000);
}
