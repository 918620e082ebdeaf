/**
 * The ACME side of a worker process (`workers` > 1). The primary runs the one
 * AcmeManager (one account, one order per domain, one renewal loop) and sends
 * each worker the issued certificates and the pending challenges over IPC; the
 * follower serves them: it is the worker's CertificateSource for the ACME
 * domains, answers tls-alpn-01 on the worker's edge listener and http-01 on
 * `httpListen` (node:cluster shares that port too), so whichever worker takes
 * the validation connection answers it. Keys travel over the IPC channel only,
 * never through the environment.
 */
import type { CertificateSource, SourceCertificate } from '../certificate-source.js';
import { silentLogger, type EdgeLogger } from '../logger.js';
import { ChallengeRegistry, type ChallengeChange } from './challenge-registry.js';
import { parseListen } from './acme-options.js';
import { startHttpChallengeServer, type HttpChallengeServer } from './http-challenge-server.js';
import { createTlsAlpnResponder, type TlsAlpnResponder } from './tls-alpn-responder.js';

/** A SourceCertificate as it crosses IPC (JSON: dates as ISO strings). */
export interface SharedAcmeCertificate {
  id: string;
  names: string[];
  certPem?: string;
  keyPem?: string;
  nextRenewal?: string;
  lastError?: { code: string; message: string; at: string };
}

export function shareCertificates(certs: SourceCertificate[]): SharedAcmeCertificate[] {
  return certs.map((c) => ({
    id: c.id, names: c.names, certPem: c.certPem, keyPem: c.keyPem, nextRenewal: c.nextRenewal?.toISOString(),
    lastError: c.lastError ? { ...c.lastError, at: c.lastError.at.toISOString() } : undefined,
  }));
}

export interface AcmeFollowerOptions {
  /** where http-01 is answered (as in the config); none for tls-alpn-01 without a redirect listener */
  httpListen?: string;
  /** port in the http listener's https redirects */
  httpsPort?: number;
  logger?: EdgeLogger;
}

export class AcmeFollower implements CertificateSource {
  readonly kind = 'acme' as const;
  readonly challenges = new ChallengeRegistry();
  readonly tlsAlpnResponder: TlsAlpnResponder;
  private current: SourceCertificate[] = [];
  private readonly listeners = new Set<() => void>();
  private httpServer?: HttpChallengeServer;
  private readonly logger: EdgeLogger;

  constructor(private readonly opts: AcmeFollowerOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.tlsAlpnResponder = createTlsAlpnResponder({ challenges: this.challenges, logger: this.logger });
  }

  /** the primary's certificates of now (replaces the previous set) */
  update(certs: SharedAcmeCertificate[]): void {
    this.current = certs.map((c) => ({
      id: c.id, names: c.names, certPem: c.certPem, keyPem: c.keyPem,
      nextRenewal: c.nextRenewal ? new Date(c.nextRenewal) : undefined,
      lastError: c.lastError ? { ...c.lastError, at: new Date(c.lastError.at) } : undefined,
    }));
    for (const l of this.listeners) l();
  }

  challenge(c: ChallengeChange): void { this.challenges.apply(c); }

  async start(): Promise<void> {
    if (this.opts.httpListen !== undefined) {
      this.httpServer = await startHttpChallengeServer({ challenges: this.challenges, listen: parseListen(this.opts.httpListen), httpsPort: this.opts.httpsPort, logger: this.logger });
    }
  }

  async stop(): Promise<void> { await this.httpServer?.close(); }

  certificates(): SourceCertificate[] { return this.current; }

  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }
}
