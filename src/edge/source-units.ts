/**
 * The certificates pushed by `CertificateSource`s (the ACME manager, a worker's
 * follower), each validated like a file pair before it may be served. Material
 * a source offers that is refused is remembered by digest and not retried until
 * the source offers something else; the previous certificate keeps serving.
 */
import { reasonOf, type EdgeLogger } from './logger.js';
import { loadServerCertificate, digestOf, type ServerCertificate } from './server-certificate.js';
import {
  checkContext, describeServed, statusError,
  type CertificateSource, type EmitEvent, type ServedLookup, type ServerCertificateStatus, type SourceCertificate, type StagedChange, type StatusError,
} from './certificate-source.js';

export interface SourceUnit {
  id: string;
  source: CertificateSource;
  entry: SourceCertificate;
  cert?: ServerCertificate;
  loadedAt?: Date;
  refusedDigest?: string;
  lastError?: StatusError;
}

export class SourceUnits {
  private current: SourceUnit[] = [];

  constructor(
    private readonly sources: CertificateSource[],
    private readonly logger: EdgeLogger,
    private readonly emit: EmitEvent,
  ) {}

  get units(): readonly SourceUnit[] { return this.current; }

  get size(): number { return this.sources.length; }

  /** subscribes to every source; returns the unsubscribe functions */
  subscribe(onChange: () => void): (() => void)[] {
    return this.sources.map((source) => source.subscribe(onChange));
  }

  /**
   * Takes what the sources offer now and validates what is new (a refusal is
   * logged and published here). Returns the change to serve, staged, or
   * undefined when nothing is to be served differently (the bookkeeping is then
   * kept at once).
   */
  stage(): StagedChange<SourceUnit[]> | undefined {
    const next: SourceUnit[] = [];
    const reloaded: string[] = [];
    for (const source of this.sources) {
      for (const entry of source.certificates()) {
        const old = this.current.find((u) => u.id === entry.id && u.source === source);
        const unit: SourceUnit = old ? { ...old, entry } : { id: entry.id, source, entry };
        if (entry.certPem && entry.keyPem) {
          const digest = digestOf(entry.certPem, entry.keyPem);
          if (digest !== unit.cert?.contentDigest && digest !== unit.refusedDigest) {
            try {
              const cert = loadServerCertificate({ certPem: entry.certPem, keyPem: entry.keyPem, what: entry.id });
              checkContext(cert, entry.id);
              Object.assign(unit, { cert, loadedAt: new Date(), refusedDigest: undefined, lastError: undefined });
              reloaded.push(entry.id);
            } catch (err) {
              unit.refusedDigest = digest;
              unit.lastError = statusError(err);
              this.logger.error({ id: entry.id, ...reasonOf(err) }, 'certificate from source refused; keeping the previous one');
              this.emit({ type: 'refused', id: entry.id, code: unit.lastError.code, message: unit.lastError.message });
            }
          }
        }
        next.push(unit);
      }
    }
    const removed = this.current.some((u) => !next.some((n) => n.id === u.id && n.source === u.source));
    if (reloaded.length === 0 && !removed) { this.current = next; return undefined; }
    return {
      ids: reloaded,
      value: next,
      commit: () => { this.current = next; },
      announce: () => {
        for (const id of reloaded) {
          const c = next.find((u) => u.id === id)!.cert!;
          this.logger.info({ id, names: c.dnsNames, notAfter: c.notAfter.toISOString(), certSha256: c.certSha256 }, 'server certificate installed');
        }
      },
      refuse: (err) => {
        this.logger.error({ ids: reloaded, ...reasonOf(err) }, 'certificates from source refused; keeping the previous ones');
      },
    };
  }

  rows(served: ServedLookup): ServerCertificateStatus[] {
    return this.current.map((u) => ({
      id: u.id,
      source: u.source.kind,
      names: u.cert ? [...u.cert.dnsNames, ...u.cert.ipAddresses] : [...u.entry.names],
      ...served(u.id),
      ...(u.cert ? describeServed(u.cert) : {}),
      lastReload: u.loadedAt,
      lastError: u.lastError ?? u.entry.lastError,
      nextRenewal: u.entry.nextRenewal,
    }));
  }
}
