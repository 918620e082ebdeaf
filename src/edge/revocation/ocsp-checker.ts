/**
 * OCSP for client certificates (`edge.clientAuth.revocation.ocsp: soft |
 * hard`): every certificate of a client's path that names an `http:` OCSP
 * responder is asked about once; the answer is cached (bounded, least
 * recently used out) until its nextUpdate, and at most `maxAgeMs`, then asked
 * again in the background while it stays cached — so a `revoked` answer
 * about a connected client reaches it (`onChange` re-checks the open
 * connections). Requests never block the event loop: a new client whose
 * status is not cached waits for the answer (bounded by the timeout).
 * `hard`: a status that cannot be learned refuses; `soft`: admits, and the
 * failure is logged (one warn line per failed request).
 */
import type { X509Certificate } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ClientPath, PathRevocation } from '../client-trust.js';
import type { EdgeLogger } from '../logger.js';
import { revocationUrls } from './certificate-urls.js';
import { exchangeError, httpExchange } from './http-get.js';
import { ocspRequest, readOcspAnswer, type OcspAnswer } from './ocsp-message.js';
import type { RevocationSourceStatus } from './source-status.js';

export interface OcspCheckerOptions {
  mode: 'soft' | 'hard';
  timeoutMs: number;
  /** an answer is used at most this long (sooner when its nextUpdate comes first) */
  maxAgeMs: number;
  /** cached certificates; default 10 000 */
  cacheSize?: number;
  logger: EdgeLogger;
  onChange(): void;
}

interface Entry {
  url: string;
  cert: X509Certificate;
  issuer: X509Certificate;
  answer?: OcspAnswer;
  answeredAt?: Date;
  /** why the last request failed (the answer, if any, is from before) */
  error?: string;
  expiresAt: number;
  inFlight?: Promise<void>;
  timer?: NodeJS.Timeout;
}

interface Responder { url: string; lastSuccess?: Date; lastError?: string; failures: number }

const MIN_DELAY_MS = 1_000;

export class OcspChecker {
  private readonly cache: LRUCache<string, Entry>;
  private readonly responders = new Map<string, Responder>();
  private stopped = false;

  constructor(private readonly opts: OcspCheckerOptions) {
    this.cache = new LRUCache({ max: opts.cacheSize ?? 10_000, dispose: (e) => clearTimeout(e.timer) });
  }

  /** Asks about every certificate of `path` whose status is not cached; resolves when the answers (or failures) are in, or undefined. */
  prepare(path: ClientPath): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    this.each(path, (e) => { if (!e.answer && !e.error) waits.push(e.inFlight ?? this.ask(e)); });
    return waits.length ? Promise.all(waits).then(() => undefined) : undefined;
  }

  /** What the cached answers say about `path`: the first revoked certificate, else (hard) the first whose status is not known. */
  statusOf(path: ClientPath, now = Date.now()): PathRevocation | undefined {
    let unavailable: PathRevocation | undefined;
    for (const [i, cert] of path.entries()) {
      const issuer = path[i + 1];
      if (!issuer) continue;
      const url = revocationUrls(cert.x509).ocsp[0];
      if (!url) continue;
      const e = this.cache.get(this.key(cert.x509, issuer.x509));
      const usable = e?.answer && (!e.answer.nextUpdate || e.answer.nextUpdate.getTime() >= now) ? e.answer : undefined;
      if (usable?.status === 'revoked') return { status: 'revoked', cert, source: `OCSP ${url}` };
      if (usable?.status === 'good') continue;
      if (this.opts.mode === 'hard') unavailable ??= { status: 'unavailable', cert, why: usable ? `OCSP ${url} does not know the certificate` : `OCSP ${url}: ${e?.error ?? 'no answer yet'} (revocation.ocsp: hard)` };
    }
    return unavailable;
  }

  status(): RevocationSourceStatus[] {
    const cached = new Map<string, number>();
    for (const e of this.cache.values()) if (e.answer) cached.set(e.url, (cached.get(e.url) ?? 0) + 1);
    return [...this.responders.values()].map((r) => ({
      kind: 'ocsp', source: r.url, entries: cached.get(r.url) ?? 0, lastSuccess: r.lastSuccess, lastError: r.lastError, failures: r.failures,
      state: r.lastSuccess ? 'fresh' : 'none',
    }));
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.cache.values()) clearTimeout(e.timer);
  }

  private key(cert: X509Certificate, issuer: X509Certificate): string { return `${issuer.fingerprint256}/${cert.fingerprint256}`; }

  private each(path: ClientPath, fn: (e: Entry) => void): void {
    for (const [i, cert] of path.entries()) {
      const issuer = path[i + 1];
      const url = revocationUrls(cert.x509).ocsp[0];
      if (!issuer || !url) continue;
      const key = this.key(cert.x509, issuer.x509);
      let e = this.cache.get(key);
      if (!e) { e = { url, cert: cert.x509, issuer: issuer.x509, expiresAt: 0 }; this.cache.set(key, e); }
      fn(e);
    }
  }

  private ask(e: Entry): Promise<void> {
    const responder = this.responders.get(e.url) ?? { url: e.url, failures: 0 };
    this.responders.set(e.url, responder);
    e.inFlight = (async () => {
      try {
        const der = await httpExchange({ url: e.url, body: ocspRequest(e.cert, e.issuer), contentType: 'application/ocsp-request', timeoutMs: this.opts.timeoutMs, maxBytes: 1024 * 1024 });
        const answer = readOcspAnswer(der, e.cert, e.issuer);
        const changed = e.answer?.status !== answer.status;
        e.answer = answer;
        e.answeredAt = new Date();
        e.error = undefined;
        responder.lastSuccess = e.answeredAt;
        responder.lastError = undefined;
        const untilNext = answer.nextUpdate ? answer.nextUpdate.getTime() - Date.now() : Infinity;
        this.schedule(e, Math.max(MIN_DELAY_MS, Math.min(this.opts.maxAgeMs, untilNext)));
        if (answer.status !== 'good') this.opts.logger.warn({ url: e.url, subject: e.cert.subject.replace(/\n/g, ', '), serial: e.cert.serialNumber, status: answer.status }, `OCSP: the responder says ${answer.status}`);
        if (changed && e.answer.status !== 'good') this.opts.onChange();
      } catch (err) {
        if (this.stopped) return;
        e.error = exchangeError(err);
        responder.failures++;
        responder.lastError = e.error;
        const retryInMs = Math.min(this.opts.maxAgeMs, MIN_DELAY_MS * 2 ** Math.min(responder.failures - 1, 20));
        this.opts.logger.warn({ url: e.url, subject: e.cert.subject.replace(/\n/g, ', '), reason: e.error, retryInMs, ocsp: this.opts.mode, outcome: this.opts.mode === 'hard' ? 'the client is refused while its status is unknown' : 'the client is admitted (ocsp: soft)' }, 'OCSP request failed');
        this.schedule(e, retryInMs);
      } finally {
        e.inFlight = undefined;
      }
    })();
    return e.inFlight;
  }

  private schedule(e: Entry, delayMs: number): void {
    clearTimeout(e.timer);
    if (this.stopped) return;
    e.expiresAt = Date.now() + delayMs;
    e.timer = setTimeout(() => { void this.ask(e); }, delayMs);
    e.timer.unref();
  }
}
