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
import { MIN_DELAY_MS, retryDelayMs } from './fetch-timing.js';

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


export class OcspChecker {
  private readonly cache: LRUCache<string, Entry>;
  private readonly responders = new Map<string, Responder>();
  private stopped = false;

  constructor(private readonly opts: OcspCheckerOptions) {
    this.cache = new LRUCache({ max: opts.cacheSize ?? 10_000, dispose: (entry) => clearTimeout(entry.timer) });
  }

  /** Asks about every certificate of `path` whose status is not cached; resolves when the answers (or failures) are in, or undefined. */
  prepare(path: ClientPath): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    this.each(path, (entry) => { if (!entry.answer && !entry.error) waits.push(entry.inFlight ?? this.ask(entry)); });
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
      const entry = this.cache.get(this.key(cert.x509, issuer.x509));
      const usable = entry?.answer && (!entry.answer.nextUpdate || entry.answer.nextUpdate.getTime() >= now) ? entry.answer : undefined;
      if (usable?.status === 'revoked') return { status: 'revoked', cert, source: `OCSP ${url}` };
      if (usable?.status === 'good') continue;
      if (this.opts.mode === 'hard') unavailable ??= { status: 'unavailable', cert, why: usable ? `OCSP ${url} does not know the certificate` : `OCSP ${url}: ${entry?.error ?? 'no answer yet'} (revocation.ocsp: hard)` };
    }
    return unavailable;
  }

  status(): RevocationSourceStatus[] {
    const cached = new Map<string, number>();
    for (const entry of this.cache.values()) if (entry.answer) cached.set(entry.url, (cached.get(entry.url) ?? 0) + 1);
    return [...this.responders.values()].map((r) => ({
      kind: 'ocsp', source: r.url, entries: cached.get(r.url) ?? 0, lastSuccess: r.lastSuccess, lastError: r.lastError, failures: r.failures,
      state: r.lastSuccess ? 'fresh' : 'none',
    }));
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.cache.values()) clearTimeout(entry.timer);
  }

  private key(cert: X509Certificate, issuer: X509Certificate): string { return `${issuer.fingerprint256}/${cert.fingerprint256}`; }

  private each(path: ClientPath, fn: (entry: Entry) => void): void {
    for (const [i, cert] of path.entries()) {
      const issuer = path[i + 1];
      const url = revocationUrls(cert.x509).ocsp[0];
      if (!issuer || !url) continue;
      const key = this.key(cert.x509, issuer.x509);
      let entry = this.cache.get(key);
      if (!entry) { entry = { url, cert: cert.x509, issuer: issuer.x509, expiresAt: 0 }; this.cache.set(key, entry); }
      fn(entry);
    }
  }

  private ask(entry: Entry): Promise<void> {
    const responder = this.responders.get(entry.url) ?? { url: entry.url, failures: 0 };
    this.responders.set(entry.url, responder);
    entry.inFlight = (async () => {
      try {
        const der = await httpExchange({ url: entry.url, body: ocspRequest(entry.cert, entry.issuer), contentType: 'application/ocsp-request', timeoutMs: this.opts.timeoutMs, maxBytes: 1024 * 1024 });
        const answer = readOcspAnswer(der, entry.cert, entry.issuer);
        const changed = entry.answer?.status !== answer.status;
        entry.answer = answer;
        entry.answeredAt = new Date();
        entry.error = undefined;
        responder.lastSuccess = entry.answeredAt;
        responder.lastError = undefined;
        const untilNext = answer.nextUpdate ? answer.nextUpdate.getTime() - Date.now() : Infinity;
        this.schedule(entry, Math.max(MIN_DELAY_MS, Math.min(this.opts.maxAgeMs, untilNext)));
        if (answer.status !== 'good') this.opts.logger.warn({ url: entry.url, subject: entry.cert.subject.replace(/\n/g, ', '), serial: entry.cert.serialNumber, status: answer.status }, `OCSP: the responder says ${answer.status}`);
        if (changed && entry.answer.status !== 'good') this.opts.onChange();
      } catch (err) {
        if (this.stopped) return;
        entry.error = exchangeError(err);
        responder.failures++;
        responder.lastError = entry.error;
        const retryInMs = retryDelayMs(responder.failures, this.opts.maxAgeMs);
        this.opts.logger.warn({ url: entry.url, subject: entry.cert.subject.replace(/\n/g, ', '), reason: entry.error, retryInMs, ocsp: this.opts.mode, outcome: this.opts.mode === 'hard' ? 'the client is refused while its status is unknown' : 'the client is admitted (ocsp: soft)' }, 'OCSP request failed');
        this.schedule(entry, retryInMs);
      } finally {
        entry.inFlight = undefined;
      }
    })();
    return entry.inFlight;
  }

  private schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    if (this.stopped) return;
    entry.expiresAt = Date.now() + delayMs;
    entry.timer = setTimeout(() => { void this.ask(entry); }, delayMs);
    entry.timer.unref();
  }
}
