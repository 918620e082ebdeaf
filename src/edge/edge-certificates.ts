/**
 * Wires the certificate store (files, hot reload, client CA/CRL) and the ACME
 * manager into what the edge listener needs, from the config.
 */
import { constants as cryptoConstants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { AcmeConfig, Config } from '../config/index.js';
import { acmeTiming, DEFAULTS, hostPortOf } from '../config/index.js';
import type { Logger } from '../observe/index.js';
import type { AcmeFollower, AcmeManager, AcmeManagerOptions, AcmeStorage, TlsAlpnResponder } from './acme/index.js';
import type { EdgeLogger } from './logger.js';
import { createCertificateStore, type CertificateSource, type CertificateStore, type ReloadResult } from './certificate-store.js';
import type { ClientHello } from './client-hello.js';
import type { ServerContexts } from './edge-listener.js';

/** What the edge needs of ACME: the manager itself, or a worker's follower of the primary's manager. */
export type EdgeAcme = CertificateSource & { tlsAlpnResponder: TlsAlpnResponder; start(): Promise<void>; stop(): Promise<void> };

export interface EdgeCertificates {
  store: CertificateStore;
  acme?: EdgeAcme;
  contexts: ServerContexts;
  /** ACME tls-alpn-01: takes a socket whose ClientHello asks for a pending challenge; undefined when not needed */
  takeOver?: (socket: Socket, hello: ClientHello) => boolean;
  /** keeps the server's default (no-SNI) context in step with reloads (a tls.Server, or the EdgeListener) */
  attach(server: Pick<TlsServer, 'setSecureContext'>): void;
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

export interface EdgeCertificatesOptions {
  config: Config;
  logger: Logger;
  /** false for one-shot commands (`certs status`): read once, no watching, no ACME loop */
  live?: boolean;
  /** ACME from elsewhere (a worker's AcmeFollower) instead of a manager built from the config */
  acme?: EdgeAcme;
}

const portOf = (listen: string): number => hostPortOf(listen).port;

/** Where http-01 is answered: the configured httpListen, by default 0.0.0.0:80 with http-01, none with tls-alpn-01. */
function acmeHttpListen(a: NonNullable<Config['edge']['acme']>): string | undefined {
  return a.httpListen ?? (a.challenge === 'http-01' ? DEFAULTS.acmeHttpListen : undefined);
}

/**
 * A worker's follower of the primary's ACME manager (workers > 1): it serves the
 * certificates and answers the challenges the primary sends.
 */
export async function acmeFollowerFor(config: Config, logger: Logger): Promise<AcmeFollower | undefined> {
  const a = config.edge.acme;
  if (!a) return undefined;
  const { AcmeFollower } = await import('./acme/index.js');
  return new AcmeFollower({ httpListen: acmeHttpListen(a), httpsPort: portOf(config.listen) || 443, logger: logger.child({ component: 'acme' }) });
}

/** The ACME manager `edge.acme` asks for (acme-client takes ~0.4 s to load, so it is imported only then). */
export async function acmeManagerFor(config: Config, logger: Logger, overrides: Partial<AcmeManagerOptions> = {}): Promise<AcmeManager | undefined> {
  const a = config.edge.acme;
  if (!a) return undefined;
  const { createAcmeManager } = await import('./acme/index.js');
  const storage = await acmeStorageFor(a, logger.child({ component: 'acme' }));
  return createAcmeManager({
    directory: a.directory,
    ca: a.ca ? readFileSync(a.ca, 'utf8') : undefined,
    email: a.email,
    domains: a.domains,
    challenge: a.challenge,
    httpListen: acmeHttpListen(a),
    httpsPort: portOf(config.listen) || 443,
    storage,
    eab: a.eab,
    ...acmeTiming(a),
    logger: logger.child({ component: 'acme' }),
    ...overrides,
  });
}

/** The storage `edge.acme.storage` names: a directory, or etcd (its client imported only then). The caller closes it. */
export async function acmeStorageFor(a: AcmeConfig, logger: EdgeLogger): Promise<AcmeStorage> {
  const { openAcmeStorage, resolveDirectory } = await import('./acme/index.js');
  const etcd = typeof a.storage === 'object' ? a.storage.etcd : undefined;
  const read = (f: string) => readFileSync(f, 'utf8');
  return openAcmeStorage({
    spec: etcd
      ? { etcd: { endpoints: etcd.endpoints, prefix: etcd.prefix, lockTtlMs: etcd.lockTtl, tls: { ca: read(etcd.tls.ca), cert: read(etcd.tls.cert), key: read(etcd.tls.key) } } }
      : (a.storage as string),
    directoryUrl: resolveDirectory(a.directory),
    logger,
  });
}

/**
 * The certificate store the config describes (its files watched when `live`),
 * with the ACME manager (or a worker's follower) as one of its sources, started;
 * a manager that fails to start stops the store again.
 */
export async function createEdgeCertificates({ config, logger, live = true, acme: given }: EdgeCertificatesOptions): Promise<EdgeCertificates> {
  const acme: EdgeAcme | undefined = given ?? (live ? await acmeManagerFor(config, logger) : undefined);
  const auth = config.edge.clientAuth;
  const store = await createCertificateStore({
    certificates: config.edge.certificates,
    // no TLS 1.2 renegotiation, by either side: a client-initiated one costs the
    // server a full handshake for nothing (testssl: "Secure Client-Initiated
    // Renegotiation: VULNERABLE, DoS threat"); nginx refuses it too
    trustOptions: { minVersion: config.edge.minVersion, ciphers: config.edge.ciphers, secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION },
    trustFiles: { ca: auth.ca, crl: auth.crl },
    sources: acme ? [acme] : [],
    watch: live,
    pollIntervalMs: live ? config.edge.reloadPollInterval : 0,
    logger: logger.child({ component: 'certificates' }),
  });
  try {
    await acme?.start();
  } catch (err) {
    await store.stop();
    throw err;
  }
  // The ClientHello is read first for ACME tls-alpn-01, and where a name has
  // certificates of several key types (see certificate-choice.ts). Decided at
  // start: a reload that adds a second key type for a name needs a restart to
  // serve both (until then, the last one configured is served).
  const tlsAlpn = config.edge.acme?.challenge === 'tls-alpn-01' ? acme : undefined;
  const needsPeek = Boolean(tlsAlpn) || store.needsClientHello();
  const detach: (() => void)[] = [];
  return {
    store,
    acme,
    contexts: { sniCallback: store.sniCallback, defaultOptions: () => store.defaultContextOptions() },
    // the listener reads every ClientHello; the store keeps it only where needsPeek says
    takeOver: (socket, hello) => {
      if (needsPeek) store.rememberClientHello(socket, hello);
      return tlsAlpn?.tlsAlpnResponder.handle(socket, hello) ?? false;
    },
    attach: (server) => { detach.push(store.attachServer(server)); },
    reload: () => store.reload(),
    stop: async () => {
      for (const d of detach) d();
      await acme?.stop();
      await store.stop();
    },
  };
}
