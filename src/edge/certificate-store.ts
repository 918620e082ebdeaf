/**
 * The edge's source of server certificates: one interface whether they come from
 * files (hot-reloaded) or from ACME. The TLS server asks it for a SecureContext
 * per ClientHello (SNICallback); everything behind that lookup is built ahead of
 * time and swapped as one reference, so a handshake never sees a half-updated
 * store and a failed reload leaves the previous state serving (ghostunnel's
 * certloader rule). Connections already open keep the context they were
 * established with; nothing here ever closes a socket.
 *
 * This file composes the sources: file pairs (`file-certificate-source.ts`),
 * client trust files (`trust-files.ts`) and pushed sources such as ACME
 * (`source-units.ts`, behind `CertificateSource` in `certificate-source.ts`);
 * the served state itself is built by `served-state.ts`.
 */
import { channel } from 'node:diagnostics_channel';
import type { ClientHello } from './client-hello.js';
import type { Socket } from 'node:net';
import { ConnectionNotes } from './connection-notes.js';
import { chooseCertificate } from './certificate-choice.js';
import type { SecureContext, SecureContextOptions, Server } from 'node:tls';
import { FileWatch, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RELOAD_DEBOUNCE_MS } from './file-watch.js';
import { silentLogger, reasonOf, type EdgeLogger } from './logger.js';
import type { ServerCertificate } from './server-certificate.js';
import { lookupName } from './sni-index.js';
import type { ClientTrust } from './client-trust.js';
import { TrustFileSource, TRUST_ID, type LoadedTrust, type TrustFiles, type TrustStatus } from './trust-files.js';
import { FileCertificateSource, type CertificatePairConfig, type FileUnit } from './file-certificate-source.js';
import { SourceUnits, type SourceUnit } from './source-units.js';
import { buildServedState, contextOptionsFor, servedLookup, type ServedState } from './served-state.js';
import type { CertificateSource, CertificateStoreEvent, ReloadResult, ServerCertificateStatus } from './certificate-source.js';

export { DEFAULT_POLL_INTERVAL_MS, DEFAULT_RELOAD_DEBOUNCE_MS } from './file-watch.js';
export type { TrustFiles, TrustStatus } from './trust-files.js';
export type { CertificatePairConfig } from './file-certificate-source.js';
export type {
  CertificateSource, CertificateSourceKind, CertificateStoreEvent, ReloadResult, ServerCertificateStatus, SourceCertificate, StatusError,
} from './certificate-source.js';

/** Published on every swap and every refused reload (for metrics and tests). */
export const certificateStoreChannel = channel('countersign:edge:certificates');

export interface CertificateStore {
  /** SecureContext for a ClientHello's SNI: exact name, then `*.example.com` wildcard (one label), else the default (first configured). */
  contextFor(servername: string | undefined): SecureContext;
  /**
   * SNICallback for tls.createServer. Called with the TLSSocket as `this`: for a
   * name with several certificates (RSA and ECDSA) it serves the one chosen from
   * the ClientHello given to `rememberClientHello` for that connection.
   */
  sniCallback: (this: unknown, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  /** true while some name has certificates of several key types, so the edge must read each ClientHello first */
  needsClientHello(): boolean;
  /** the ClientHello read off `rawSocket` before it was handed to the tls.Server */
  rememberClientHello(rawSocket: Socket, hello: ClientHello): void;
  /** every certificate the store knows, served or not, with its reload state */
  list(): ServerCertificateStatus[];
  /** forces a re-read of all files (SIGHUP calls this); never throws for a bad file, reports it */
  reload(): Promise<ReloadResult>;
  /**
   * Client CA bundle / CRL / minVersion / ciphers / … the edge wants in every
   * context (with SNI, the selected context's store verifies client certificates).
   * Replaces the previous trust options and rebuilds every context; throws
   * ERR_TLS_CONTEXT and keeps the old contexts when OpenSSL refuses them.
   */
  setTrustOptions(opts: Partial<SecureContextOptions>): void;
  /**
   * Options for `tls.Server#setSecureContext`: the default certificate(s) plus the
   * trust options. Node uses the server's own context when a client sends no SNI,
   * so that context must follow reloads too; `attachServer` does it for you.
   */
  defaultContextOptions(): SecureContextOptions;
  /** sets `server`'s default context now and after every swap; returns a detach function */
  attachServer(server: Pick<Server, 'setSecureContext'>): () => void;
  /** the client CA bundles and CRLs read from `trustFiles`, and their reload state */
  trustStatus(): TrustStatus;
  /** the client trust now served: revoked serials and CAs, for per-connection re-checks */
  clientTrust(): ClientTrust;
  /** called after every swap and every refused reload */
  subscribe(listener: (event: CertificateStoreEvent) => void): () => void;
  /** stops watching files and sources; resolves when no reload is running */
  stop(): Promise<void>;
}

export interface CertificateStoreOptions {
  /** certificate/key file pairs; the first is the default for clients without SNI or with an unknown name */
  certificates: CertificatePairConfig[];
  /** initial trust options, as `setTrustOptions` */
  trustOptions?: Partial<SecureContextOptions>;
  /** client CA bundles and CRLs read into every context's `ca`/`crl`, watched and reloaded like certificates */
  trustFiles?: TrustFiles;
  /** other sources (the ACME manager); their certificates take precedence for their names */
  sources?: CertificateSource[];
  /** watch the files for changes; default true */
  watch?: boolean;
  /** stat poll interval in ms, the backstop for the directory watch; 0 turns it off; default 2 000 */
  pollIntervalMs?: number;
  /** quiet time after the last file event before re-reading, in ms; default 200 */
  debounceMs?: number;
  logger?: EdgeLogger;
}

/** Reads and validates every file (throws on the first problem), then starts watching. */
export async function createCertificateStore(opts: CertificateStoreOptions): Promise<CertificateStore> {
  const logger = opts.logger ?? silentLogger;
  const events = new StoreEvents(logger);
  const emit = (e: CertificateStoreEvent) => events.emit(e);
  const files = await FileCertificateSource.load(opts.certificates, logger, emit);
  const trust = await TrustFileSource.load(opts.trustFiles ?? {}, logger, emit);
  const sources = new SourceUnits(opts.sources ?? [], logger, emit);
  const store = new ServerCertificateStore(opts, logger, events, files, trust, sources);
  await store.start();
  return store;
}

/** The store's subscribers and diagnostics channel; sources publish their refusals here. */
class StoreEvents {
  private readonly listeners = new Set<(e: CertificateStoreEvent) => void>();

  constructor(private readonly logger: EdgeLogger) {}

  subscribe(listener: (event: CertificateStoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: CertificateStoreEvent): void {
    if (certificateStoreChannel.hasSubscribers) certificateStoreChannel.publish(event);
    for (const l of this.listeners) {
      try { l(event); } catch (err) { this.logger.error({ ...reasonOf(err) }, 'certificate store listener failed'); }
    }
  }
}

/**
 * Composes the sources into the served state: file pairs, client trust files and
 * pushed sources (ACME). Every change builds a new state whole and swaps one
 * reference; changes run one at a time.
 */
class ServerCertificateStore implements CertificateStore {
  private state: ServedState;
  private trustOptions: Partial<SecureContextOptions>;
  private readonly unsubscribes: (() => void)[] = [];
  private watcher: FileWatch | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly opts: CertificateStoreOptions,
    private readonly logger: EdgeLogger,
    private readonly events: StoreEvents,
    private readonly files: FileCertificateSource,
    private readonly trust: TrustFileSource,
    private readonly sources: SourceUnits,
  ) {
    this.trustOptions = stripCredentials(opts.trustOptions ?? {});
    this.state = this.build(files.units, [], 0, trust.loaded, undefined);
    trust.logWarnings();
  }

  /** Subscribes to the sources (and takes what they already have), then starts watching files. */
  async start(): Promise<void> {
    this.unsubscribes.push(...this.sources.subscribe(() => void this.enqueue(() => this.syncSources())));
    if (this.sources.size > 0) await this.enqueue(() => this.syncSources());
    if (this.opts.watch !== false) {
      const paths = [...this.files.paths(), ...this.trust.paths()];
      if (paths.length > 0) {
        this.watcher = new FileWatch({
          paths,
          pollIntervalMs: this.opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
          debounceMs: this.opts.debounceMs ?? DEFAULT_RELOAD_DEBOUNCE_MS,
          logger: this.logger,
          onChange: () => void this.enqueue(() => this.checkFiles(false)),
        });
      }
    }
  }

  // ---- lookups (hot path: a map lookup, nothing parsed) ----

  contextFor(servername: string | undefined): SecureContext {
    const s = this.state;
    const group = lookupName(s.byName, servername) ?? s.defaultGroup;
    return s.contexts.get(group.key)!;
  }

  /** the ClientHello read from each connection, where a name has certificates of several key types */
  private readonly hellos = new ConnectionNotes<ClientHello>();

  readonly sniCallback = ((store: ServerCertificateStore) => function sniCallback(this: unknown, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    cb(null, store.contextForConnection(servername, this));
  })(this);

  needsClientHello(): boolean {
    return this.state.singles.size > 0;
  }

  rememberClientHello(rawSocket: Socket, hello: ClientHello): void {
    this.hellos.set(rawSocket, hello);
  }

  private contextForConnection(servername: string | undefined, tlsSocket: unknown): SecureContext {
    const s = this.state;
    const group = lookupName(s.byName, servername) ?? s.defaultGroup;
    if (group.members.length > 1) {
      // `this` of SNICallback is the TLSSocket: the hello read from its connection (same four-tuple)
      const hello = tlsSocket ? this.hellos.get(tlsSocket as Socket) : undefined;
      if (hello) {
        const i = chooseCertificate(group.members.map((m) => m.cert.keySlot), hello);
        const single = s.singles.get(group.members[i].id);
        if (single) return single;
      }
    }
    return s.contexts.get(group.key)!;
  }

  defaultContextOptions(): SecureContextOptions {
    return contextOptionsFor(this.trustOptions, this.trust.loaded, this.state.defaultGroup.members.map((m) => m.cert));
  }

  attachServer(server: Pick<Server, 'setSecureContext'>): () => void {
    server.setSecureContext(this.defaultContextOptions());
    return this.subscribe((e) => {
      if (e.type === 'swapped') server.setSecureContext(this.defaultContextOptions());
    });
  }

  subscribe(listener: (event: CertificateStoreEvent) => void): () => void {
    return this.events.subscribe(listener);
  }


  // ---- status ----

  list(): ServerCertificateStatus[] {
    const served = servedLookup(this.state);
    return [...this.sources.rows(served), ...this.files.rows(served)];
  }

  clientTrust(): ClientTrust { return this.trust.loaded.clientTrust; }

  trustStatus(): TrustStatus { return this.trust.status(); }

  // ---- changes ----

  reload(): Promise<ReloadResult> {
    return this.enqueue(() => this.checkFiles(true));
  }

  setTrustOptions(opts: Partial<SecureContextOptions>): void {
    const previous = this.trustOptions;
    this.trustOptions = stripCredentials(opts);
    try {
      this.swap(this.build(this.files.units, this.sources.units, this.state.trustGeneration + 1, this.trust.loaded, this.state), [TRUST_ID]);
    } catch (err) {
      this.trustOptions = previous;
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    for (const u of this.unsubscribes.splice(0)) u();
    await this.queue.catch(() => undefined);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => task());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Re-reads the file pairs, then the trust files, and serves what passed in one swap. */
  private async checkFiles(force: boolean): Promise<ReloadResult> {
    const result: ReloadResult = { reloaded: [], unchanged: [], failed: [] };
    if (this.stopped) return result;
    const files = await this.files.prepare(force, result);
    const trust = await this.trust.prepare(force, result);
    if (!files && !trust) return result;
    try {
      const state = this.build(
        files?.value ?? this.files.units, this.sources.units,
        this.state.trustGeneration + (trust ? 1 : 0), trust?.value ?? this.trust.loaded, this.state,
      );
      const ids = [...(files?.ids ?? []), ...(trust?.ids ?? [])];
      files?.commit();
      trust?.commit();
      this.swap(state, ids);
      result.reloaded.push(...ids);
      files?.announce();
      trust?.announce();
    } catch (err) {
      trust?.refuse(err, result);
      files?.refuse(err, result);
    }
    return result;
  }

  /** Takes what the pushed sources (ACME) offer now. */
  private async syncSources(): Promise<void> {
    if (this.stopped) return;
    const change = this.sources.stage();
    if (!change) return;
    try {
      const state = this.build(this.files.units, change.value, this.state.trustGeneration, this.trust.loaded, this.state);
      change.commit();
      this.swap(state, change.ids);
      change.announce();
    } catch (err) {
      change.refuse(err, { reloaded: [], unchanged: [], failed: [] });
    }
  }

  private swap(state: ServedState, reloaded: string[]): void {
    this.state = state;
    this.events.emit({ type: 'swapped', reloaded });
  }

  private build(
    files: readonly FileUnit[], sources: readonly SourceUnit[], trustGeneration: number, trust: LoadedTrust, previous: ServedState | undefined,
  ): ServedState {
    const trustOptions = this.trustOptions;
    return buildServedState({
      files, sources, trustGeneration, previous,
      contextOptions: (certs: ServerCertificate[]) => contextOptionsFor(trustOptions, trust, certs),
    });
  }
}

function stripCredentials(opts: Partial<SecureContextOptions>): Partial<SecureContextOptions> {
  const { cert: _c, key: _k, pfx: _p, passphrase: _pp, ...rest } = opts;
  return rest;
}
