/**
 * CRLs fetched from the `http:` distribution points named in the
 * certificates of clients' paths (and of the configured CAs): each CRL is
 * fetched, parsed, checked (issuer, signature with the issuing CA's key,
 * thisUpdate not ahead, nextUpdate not past, never older than the one in
 * use) and only then used; refreshed before its nextUpdate and at least every
 * `refreshIntervalMs`, with backoff after a failure and one warn line per
 * failure; the last good CRL stays in use meanwhile. Kept in memory (one
 * CrlSet, swapped whole) and in the state directory, so a restart serves
 * from what it had. A change calls `onChange` (open connections are checked
 * again).
 */
import { X509Certificate } from 'node:crypto';
import { pathCertificate, type ClientPath, type PathCertificate } from '../client-trust.js';
import { reasonOf, type EdgeLogger } from '../logger.js';
import { revocationUrls } from './certificate-urls.js';
import { crlDers, parseCrlInSlices, type ParsedCrl } from './crl.js';
import { CrlSet } from './crl-set.js';
import { exchangeError, httpExchange } from './http-get.js';
import { crlSourceStatus, type RevocationSourceStatus } from './source-status.js';
import type { RevocationStateStore } from './state-store.js';
import { CLOCK_SKEW_MS, MIN_DELAY_MS, retryDelayMs } from './fetch-timing.js';

export interface DistributionPointsOptions {
  /** at most this long between two fetches of one CRL */
  refreshIntervalMs: number;
  /** one fetch may take this long */
  timeoutMs: number;
  /** for the status: how long past nextUpdate a CRL is still used */
  graceMs: number;
  /** CRLs are kept here too (absent: memory only) */
  store?: Pick<RevocationStateStore, 'loadAll' | 'save'>;
  logger: EdgeLogger;
  /** the CRLs in use changed */
  onChange(): void;
  /** largest CRL accepted; default 64 MiB */
  maxBytes?: number;
}


interface Point {
  url: string;
  /** the CA whose CRL this is: a fetched CRL must be issued and signed by it */
  issuer: X509Certificate;
  crl?: ParsedCrl;
  lastSuccess?: Date;
  lastError?: string;
  failures: number;
  /** the first fetch (or restore) of this point: new clients wait for it */
  first?: Promise<void>;
  timer?: NodeJS.Timeout;
}

export class DistributionPoints {
  private readonly points = new Map<string, Point>();
  private set = CrlSet.empty;
  private stopped = false;

  constructor(private readonly opts: DistributionPointsOptions) {}

  /** the CRLs in use now */
  current(): CrlSet { return this.set; }

  /** Loads the CRLs kept in the state directory (each checked like a fetched one), then refreshes them in the background. */
  async restore(): Promise<void> {
    for (const s of (await this.opts.store?.loadAll()) ?? []) {
      try {
        const issuer = new X509Certificate(s.issuerPem);
        const crl = this.validate(await parseCrlInSlices(s.der, s.url), issuer, undefined, { allowStale: true });
        const point: Point = { url: s.url, issuer, crl, failures: 0 };
        this.points.set(s.url, point);
        this.schedule(point, MIN_DELAY_MS); // what is on disk may be old: ask again soon
      } catch (err) {
        this.opts.logger.warn({ url: s.url, ...reasonOf(err) }, 'stored CRL not used; it is fetched again');
      }
    }
    this.rebuild();
  }

  /** The certificate names a distribution point that is fetched: a CRL is expected for it. */
  expects(cert: PathCertificate): boolean { return revocationUrls(cert.x509).crl.length > 0; }

  /** Starts following the distribution points of configured CAs (their CRLs are issued by their configured issuers). */
  follow(path: ClientPath): void { void this.prepare(path); }

  /**
   * Registers the distribution points of every certificate of `path`;
   * resolves once each point that has no CRL yet has had its first fetch, or
   * undefined when there is nothing to wait for.
   */
  prepare(path: ClientPath): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    for (const [i, cert] of path.entries()) {
      const issuer = path[i + 1];
      if (!issuer) continue;
      for (const url of revocationUrls(cert.x509).crl) {
        let point = this.points.get(url);
        if (!point) {
          point = { url, issuer: issuer.x509, failures: 0 };
          this.points.set(url, point);
          point.first = this.refresh(point);
        }
        if (!point.crl && point.first) waits.push(point.first);
      }
    }
    return waits.length ? Promise.all(waits).then(() => undefined) : undefined;
  }

  status(): RevocationSourceStatus[] {
    return [...this.points.values()].map((point): RevocationSourceStatus => (point.crl
      ? crlSourceStatus(point.crl, { kind: 'crl-dp', source: point.url, lastSuccess: point.lastSuccess, lastError: point.lastError, failures: point.failures, graceMs: this.opts.graceMs })
      : { kind: 'crl-dp', source: point.url, issuer: pathCertificate(point.issuer).subject, entries: 0, lastError: point.lastError, failures: point.failures, state: 'none' }));
  }

  stop(): void {
    this.stopped = true;
    for (const point of this.points.values()) clearTimeout(point.timer);
  }

  private async refresh(point: Point): Promise<void> {
    clearTimeout(point.timer);
    if (this.stopped) return;
    try {
      const bytes = await httpExchange({ url: point.url, timeoutMs: this.opts.timeoutMs, maxBytes: this.opts.maxBytes ?? 64 * 1024 * 1024 });
      const [der] = crlDers(bytes, point.url);
      const crl = this.validate(await parseCrlInSlices(der, point.url), point.issuer, point.crl, { allowStale: false });
      const changed = !point.crl || !point.crl.der.equals(crl.der);
      point.crl = crl;
      point.lastSuccess = new Date();
      point.lastError = undefined;
      point.failures = 0;
      if (changed) {
        this.rebuild();
        this.opts.logger.info({ url: point.url, issuer: crl.issuer, entries: crl.revoked.size, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate }, 'CRL fetched from its distribution point');
        this.opts.store?.save({ url: point.url, issuerPem: point.issuer.toString(), der: crl.der }).catch((err) => this.opts.logger.warn({ url: point.url, ...reasonOf(err) }, 'CRL not kept in the state directory'));
        this.opts.onChange();
      }
      this.schedule(point, this.nextRefreshIn(crl));
    } catch (err) {
      if (this.stopped) return;
      point.failures++;
      point.lastError = exchangeError(err);
      const retryInMs = retryDelayMs(point.failures, this.opts.refreshIntervalMs);
      this.opts.logger.warn({ url: point.url, reason: point.lastError, failures: point.failures, retryInMs, using: point.crl ? `the CRL of ${point.crl.thisUpdate.toISOString()}` : 'none' }, 'CRL distribution point failed; the last good CRL stays in use');
      this.schedule(point, retryInMs);
    }
  }

  /** Throws (with the reason) unless `crl` may replace `previous` as the CRL of `issuer`. */
  private validate(crl: ParsedCrl, issuer: X509Certificate, previous: ParsedCrl | undefined, o: { allowStale: boolean }): ParsedCrl {
    const expected = pathCertificate(issuer);
    if (crl.issuerKey !== expected.subjectKey) throw new Error(`the CRL is issued by "${crl.issuer}", not by "${expected.subject}"`);
    if (!crl.signedBy(issuer)) throw new Error(`the CRL's signature does not verify with the key of "${expected.subject}"`);
    const now = Date.now();
    if (crl.thisUpdate.getTime() > now + CLOCK_SKEW_MS) throw new Error(`the CRL's thisUpdate (${crl.thisUpdate.toISOString()}) is ahead of this clock`);
    if (!o.allowStale && crl.nextUpdate && crl.nextUpdate.getTime() < now) throw new Error(`the CRL is stale: its nextUpdate (${crl.nextUpdate.toISOString()}) has passed`);
    if (previous && crl.thisUpdate < previous.thisUpdate) throw new Error(`the CRL (thisUpdate ${crl.thisUpdate.toISOString()}) is older than the one in use (${previous.thisUpdate.toISOString()})`);
    return crl;
  }

  /** before nextUpdate (by a tenth of the CRL's validity, at most 5 min), and at least every refreshIntervalMs */
  private nextRefreshIn(crl: ParsedCrl): number {
    let delay = this.opts.refreshIntervalMs;
    if (crl.nextUpdate) {
      const margin = Math.min(5 * 60_000, (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 10);
      delay = Math.min(delay, crl.nextUpdate.getTime() - margin - Date.now());
    }
    return Math.max(MIN_DELAY_MS, delay);
  }

  private schedule(point: Point, delayMs: number): void {
    clearTimeout(point.timer);
    if (this.stopped) return;
    point.timer = setTimeout(() => { void this.refresh(point); }, delayMs);
    point.timer.unref();
  }

  private rebuild(): void {
    this.set = new CrlSet([...this.points.values()].flatMap((point) => (point.crl ? [point.crl] : [])));
  }
}
