/**
 * Certificates from an ACME CA (Let's Encrypt, step-ca, Pebble …), one per
 * configured domain, put together from parts of one job each (certmagic's
 * shape):
 *
 *   - the issuer (acme-issuer.ts, behind certificate-issuer.ts): account,
 *     order, challenge, finalize, download;
 *   - the maintainer (certificate-maintainer.ts): takes any issuer and any
 *     storage; serves what is stored, renews when a third of the lifetime
 *     remains, retries with backoff, mirrors what a fleet's other instances
 *     write;
 *   - the challenge answers (challenge-answers.ts), read by the http-01
 *     listener (http-challenge-server.ts) and the tls-alpn-01 responder;
 *   - events (acme-events.ts), emitted once; logging is one subscriber.
 *
 * The manager is a CertificateSource: pass it to createCertificateStore({ sources }).
 * The edge wires `tlsAlpnResponder` into its listener for tls-alpn-01; for
 * http-01 the manager runs its own listener on `httpListen`.
 */
import { CountersignError } from '../../errors.js';
import { DEFAULT_ACME_TIMING, type AcmeTiming } from '../../config/index.js';
import type { CertificateSource, SourceCertificate } from '../certificate-source.js';
import { silentLogger, type EdgeLogger } from '../logger.js';
import { AcmeEvents, logAcmeEvents, type AcmeEventListener } from './acme-events.js';
import { AcmeIssuer, type AcmeChallengeType } from './acme-issuer.js';
import { resolveDirectory, parseListen, validateAcmeOptions, type AcmeManagerOptions } from './acme-options.js';
import type { AcmeStorage } from './acme-storage.js';
import { ChallengeAnswers } from './challenge-answers.js';
import type { ChallengeRegistry } from './challenge-registry.js';
import { CertificateMaintainer, type MaintainedCertificate } from './certificate-maintainer.js';
import { FileAcmeStorage } from './file-acme-storage.js';
import { startHttpChallengeServer, type HttpChallengeServer } from './http-challenge-server.js';
import { createTlsAlpnResponder, type TlsAlpnResponder } from './tls-alpn-responder.js';

export type { AcmeChallengeType } from './acme-issuer.js';
export type { AcmeManagerOptions, AcmeKeyType } from './acme-options.js';

export interface AcmeCertificateStatus extends MaintainedCertificate {
  source: 'acme';
  directory: string;
  challenge: AcmeChallengeType;
}

export class AcmeManager implements CertificateSource {
  readonly kind = 'acme' as const;
  /** wire into the main TLS listener for tls-alpn-01 (see tls-alpn-responder.ts) */
  readonly tlsAlpnResponder: TlsAlpnResponder;
  readonly challenges: ChallengeRegistry;
  readonly directoryUrl: string;

  private readonly opts: AcmeManagerOptions;
  private readonly logger: EdgeLogger;
  private readonly storage: AcmeStorage;
  private readonly events: AcmeEvents;
  private readonly issuer: AcmeIssuer;
  private readonly maintainer: CertificateMaintainer;
  private httpServer: HttpChallengeServer | undefined;
  private state: 'new' | 'started' | 'stopped' = 'new';

  constructor(opts: AcmeManagerOptions) {
    validateAcmeOptions(opts);
    this.opts = opts;
    this.logger = opts.logger ?? silentLogger;
    this.directoryUrl = resolveDirectory(opts.directory);
    const timing: AcmeTiming = { ...DEFAULT_ACME_TIMING, ...definedTimings(opts) };
    this.storage = typeof opts.storage === 'string'
      ? new FileAcmeStorage({ root: opts.storage, directoryUrl: this.directoryUrl, logger: this.logger })
      : opts.storage;
    this.events = new AcmeEvents(this.logger);
    logAcmeEvents(this.events, this.logger);
    const answers = new ChallengeAnswers({ publish: opts.publishChallenge, logger: this.logger });
    this.challenges = answers.registry;
    // in a fleet, the CA's http-01 request may reach this instance while another one orders
    this.challenges.setHttpFallback(async (token) => (await this.storage.readChallenge('http-01', token))?.keyAuthorization);
    this.tlsAlpnResponder = createTlsAlpnResponder({ challenges: this.challenges, logger: this.logger });
    this.issuer = new AcmeIssuer({
      directoryUrl: this.directoryUrl, ca: opts.ca, email: opts.email, eab: opts.eab, challenge: opts.challenge,
      accounts: this.storage, answers, timing,
    });
    this.maintainer = new CertificateMaintainer({
      issuer: this.issuer, storage: this.storage, domains: opts.domains, keyType: opts.keyType ?? 'ec-p256', timing,
      events: this.events, mirrorChallenge: (id, type, c) => answers.mirror(id, type, c), logger: this.logger,
    });
  }

  /**
   * Opens the storage, binds the http-01 listener, serves stored certificates
   * (if still valid) and starts the maintenance loop. Resolves before any
   * issuance: the edge can start serving right away; watch `on()` events for
   * progress. Throws ERR_ACME_STORAGE or ERR_LISTEN for problems that need an operator.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new CountersignError('ERR_USAGE', 'AcmeManager.start() may be called once; create a new manager after stop()');
    this.state = 'started';
    try {
      await this.storage.init();
      if (this.opts.httpListen !== undefined) {
        this.httpServer = await startHttpChallengeServer({
          challenges: this.challenges, listen: parseListen(this.opts.httpListen), httpsPort: this.opts.httpsPort, logger: this.logger,
        });
      }
      await this.maintainer.start();
    } catch (err) {
      await this.httpServer?.close();
      this.httpServer = undefined;
      await this.storage.close(); // an etcd client would keep the process alive
      throw err;
    }
  }

  /** Aborts in-flight requests, ends the loop, closes the http-01 listener and the storage; resolves when all of that is done. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.maintainer.stop();
    await this.issuer.close();
    await this.httpServer?.close();
    await this.storage.close();
  }

  /** The http-01 listener's bound address (useful with port 0). */
  httpAddress(): { address: string; port: number } | undefined {
    return this.httpServer?.address();
  }

  certificates(): SourceCertificate[] { return this.maintainer.certificates(); }

  subscribe(onChange: () => void): () => void { return this.maintainer.subscribe(onChange); }

  /** issued / renewed / failed / order / loaded / waiting / unusable, for logs and metrics (also on diagnostics channel `countersign:edge:acme`) */
  on(listener: AcmeEventListener): () => void { return this.events.on(listener); }

  status(): AcmeCertificateStatus[] {
    return this.maintainer.status().map((s) => ({ ...s, source: 'acme', directory: this.directoryUrl, challenge: this.opts.challenge }));
  }
}

/** Builds and validates; throws ERR_CONFIG_INVALID naming the option to fix. */
export function createAcmeManager(opts: AcmeManagerOptions): AcmeManager {
  return new AcmeManager(opts);
}

/** The timings a caller set (an explicit `undefined` keeps the default). */
function definedTimings(opts: Partial<AcmeTiming>): Partial<AcmeTiming> {
  const keys = Object.keys(DEFAULT_ACME_TIMING) as (keyof AcmeTiming)[];
  return Object.fromEntries(keys.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));
}
