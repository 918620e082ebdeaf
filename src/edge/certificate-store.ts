/**
 * The edge's source of server certificates: one interface whether they come from
 * files (hot-reloaded) or from ACME. The TLS server asks it for a SecureContext
 * per ClientHello (SNICallback); everything behind that lookup is built ahead of
 * time and swapped as one reference, so a handshake never sees a half-updated
 * store and a failed reload leaves the previous state serving (ghostunnel's
 * certloader rule). Connections already open keep the context they were
 * established with; nothing here ever closes a socket.
 */
import { channel } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import type { ClientHello } from './client-hello.js';
import { chooseCertificate } from './certificate-choice.js';
import { createSecureContext, type SecureContext, type SecureContextOptions, type Server } from 'node:tls';
import { CountersignError } from '../errors.js';
import { FileWatch, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RELOAD_DEBOUNCE_MS } from './file-watch.js';
import { silentLogger, reasonOf, type EdgeLogger } from './logger.js';
import { loadServerCertificate, digestOf, type KeySlot, type ServerCertificate } from './server-certificate.js';
import { buildSniIndex, lookupName, type CertificateGroup, type IndexedCertificate } from './sni-index.js';
import { loadTrustFiles, readOrThrow, type LoadedTrust, type TrustFiles } from './trust-files.js';

export { DEFAULT_POLL_INTERVAL_MS, DEFAULT_RELOAD_DEBOUNCE_MS } from './file-watch.js';
export type { TrustFiles } from './trust-files.js';

/** Published on every swap and every refused reload (for metrics and tests). */
export const certificateStoreChannel = channel('countersign:edge:certificates');

export type CertificateSourceKind = 'file' | 'acme';

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
  rememberClientHello(rawSocket: object, hello: ClientHello): void;
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
  /** called after every swap and every refused reload */
  subscribe(listener: (event: CertificateStoreEvent) => void): () => void;
  /** stops watching files and sources; resolves when no reload is running */
  stop(): Promise<void>;
}

export interface CertificatePairConfig {
  /** PEM file with the certificate, optionally followed by its intermediates */
  cert: string;
  /** PEM file with the private key (PKCS#8, PKCS#1 or SEC1; not encrypted) */
  key: string;
}

export interface SourceCertificate {
  /** stable id, e.g. `acme:example.com` */
  id: string;
  /** the names this entry is responsible for, also before a certificate exists */
  names: string[];
  /** PEM chain and key once issued */
  certPem?: string;
  keyPem?: string;
  nextRenewal?: Date;
  lastError?: StatusError;
}

/** Certificates from somewhere other than files (the ACME manager). */
export interface CertificateSource {
  readonly kind: Exclude<CertificateSourceKind, 'file'>;
  certificates(): SourceCertificate[];
  /** `onChange` is called whenever `certificates()` would return something new */
  subscribe(onChange: () => void): () => void;
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

export interface StatusError { code: string; message: string; at: Date }

export interface ServerCertificateStatus {
  /** the cert file path for files, `acme:<domain>` for ACME */
  id: string;
  source: CertificateSourceKind;
  /** DNS names and IP addresses from the subjectAltName (for ACME before issuance: the configured domains) */
  names: string[];
  /** names for which this certificate is what clients get right now */
  servedNames: string[];
  isDefault: boolean;
  subject?: string;
  issuer?: string;
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
  keyType?: KeySlot;
  certSha256?: string;
  paths?: { cert: string; key: string };
  /** when the material served now was loaded */
  lastReload?: Date;
  /** the last refused reload or failed issuance; cleared by the next success */
  lastError?: StatusError;
  /** ACME: when renewal is due (or the next retry) */
  nextRenewal?: Date;
}

export interface TrustStatus {
  caFiles: string[];
  crlFiles: string[];
  /** certificates in the CA files */
  caCertificates: number;
  /** e.g. a CA without a CRL while CRL checking is on: its clients are rejected */
  warnings: string[];
  lastReload: Date;
  lastError?: StatusError;
}

export interface ReloadResult {
  /** ids whose new content is now served */
  reloaded: string[];
  unchanged: string[];
  /** ids whose new content was refused; the previous content is still served */
  failed: { id: string; code: string; message: string }[];
}

export type CertificateStoreEvent =
  | { type: 'swapped'; reloaded: string[] }
  | { type: 'refused'; id: string; code: string; message: string };

const TRUST_ID = 'trust';

interface FileUnit {
  id: string;
  certPath: string;
  keyPath: string;
  cert: ServerCertificate;
  loadedAt: Date;
  /** content digest of the last refused attempt: the same bytes are not retried by the watcher */
  refusedDigest?: string;
  lastError?: StatusError;
}

interface SourceUnit {
  id: string;
  source: CertificateSource;
  entry: SourceCertificate;
  cert?: ServerCertificate;
  loadedAt?: Date;
  refusedDigest?: string;
  lastError?: StatusError;
}

interface State {
  byName: Map<string, CertificateGroup>;
  defaultGroup: CertificateGroup;
  contexts: Map<string, SecureContext>;
  /** for groups of several certificates: one context per member, by member id */
  singles: Map<string, SecureContext>;
  trustGeneration: number;
}

/** Reads and validates every file (throws on the first problem), then starts watching. */
export async function createCertificateStore(opts: CertificateStoreOptions): Promise<CertificateStore> {
  const units: FileUnit[] = [];
  for (const [i, pair] of opts.certificates.entries()) {
    const certPath = resolve(pair.cert);
    const keyPath = resolve(pair.key);
    const cert = await readPair(certPath, keyPath);
    checkSelectable(cert, certPath, i);
    units.push({ id: certPath, certPath, keyPath, cert, loadedAt: new Date() });
  }
  const trustFiles = opts.trustFiles ?? {};
  const trust = await loadTrustFiles(trustFiles);
  const store = new ServerCertificateStore(opts, units, trustFiles, trust);
  await store.start();
  return store;
}

class ServerCertificateStore implements CertificateStore {
  private state: State;
  private trustOptions: Partial<SecureContextOptions>;
  private trust: LoadedTrust;
  private trustLoadedAt = new Date();
  private trustRefusedDigest: string | undefined;
  private trustError: StatusError | undefined;
  private trustGeneration = 0;
  private sourceUnits: SourceUnit[] = [];
  private readonly logger: EdgeLogger;
  private readonly listeners = new Set<(e: CertificateStoreEvent) => void>();
  private readonly unsubscribes: (() => void)[] = [];
  private watcher: FileWatch | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly opts: CertificateStoreOptions,
    private units: FileUnit[],
    private readonly trustFiles: TrustFiles,
    trust: LoadedTrust,
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.trustOptions = stripCredentials(opts.trustOptions ?? {});
    this.trust = trust;
    this.state = this.buildState(units, [], this.trustGeneration, undefined);
    for (const w of trust.warnings) this.logger.warn({ reason: w }, 'client trust warning');
  }

  /** Subscribes to the sources (and takes what they already have), then starts watching files. */
  async start(): Promise<void> {
    for (const source of this.opts.sources ?? []) {
      this.unsubscribes.push(source.subscribe(() => void this.enqueue(() => this.syncSources())));
    }
    if ((this.opts.sources ?? []).length > 0) await this.enqueue(() => this.syncSources());
    if (this.opts.watch !== false) {
      const paths = [
        ...this.units.flatMap((u) => [u.certPath, u.keyPath]),
        ...(this.trustFiles.ca ?? []), ...(this.trustFiles.crl ?? []),
      ];
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

  private readonly hellos = new WeakMap<object, ClientHello>();

  readonly sniCallback = ((store: ServerCertificateStore) => function sniCallback(this: unknown, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    cb(null, store.contextForConnection(servername, this));
  })(this);

  needsClientHello(): boolean {
    return this.state.singles.size > 0;
  }

  rememberClientHello(rawSocket: object, hello: ClientHello): void {
    this.hellos.set(rawSocket, hello);
  }

  private contextForConnection(servername: string | undefined, tlsSocket: unknown): SecureContext {
    const s = this.state;
    const group = lookupName(s.byName, servername) ?? s.defaultGroup;
    if (group.members.length > 1) {
      // A server-side TLSSocket keeps the socket it wraps as `_parent` (Node's
      // _tls_wrap); the edge-certificate tests fail if that ever changes.
      const raw = (tlsSocket as { _parent?: object } | undefined)?._parent;
      const hello = raw ? this.hellos.get(raw) : undefined;
      if (hello) {
        const i = chooseCertificate(group.members.map((m) => m.cert.keySlot), hello);
        const single = s.singles.get(group.members[i].id);
        if (single) return single;
      }
    }
    return s.contexts.get(group.key)!;
  }

  defaultContextOptions(): SecureContextOptions {
    return this.contextOptions(this.state.defaultGroup.members.map((m) => m.cert));
  }

  attachServer(server: Pick<Server, 'setSecureContext'>): () => void {
    server.setSecureContext(this.defaultContextOptions());
    return this.subscribe((e) => {
      if (e.type === 'swapped') server.setSecureContext(this.defaultContextOptions());
    });
  }

  subscribe(listener: (event: CertificateStoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- status ----

  list(): ServerCertificateStatus[] {
    const served = new Map<string, string[]>();
    for (const [name, group] of this.state.byName) {
      for (const m of group.members) served.set(m.id, [...(served.get(m.id) ?? []), name]);
    }
    const defaultIds = new Set(this.state.defaultGroup.members.map((m) => m.id));
    const rows: ServerCertificateStatus[] = [];
    for (const u of this.sourceUnits) {
      rows.push({
        id: u.id,
        source: u.source.kind,
        names: u.cert ? [...u.cert.dnsNames, ...u.cert.ipAddresses] : [...u.entry.names],
        servedNames: served.get(u.id) ?? [],
        isDefault: defaultIds.has(u.id),
        ...(u.cert ? describe(u.cert) : {}),
        lastReload: u.loadedAt,
        lastError: u.lastError ?? u.entry.lastError,
        nextRenewal: u.entry.nextRenewal,
      });
    }
    for (const u of this.units) {
      rows.push({
        id: u.id,
        source: 'file',
        names: [...u.cert.dnsNames, ...u.cert.ipAddresses],
        servedNames: served.get(u.id) ?? [],
        isDefault: defaultIds.has(u.id),
        ...describe(u.cert),
        paths: { cert: u.certPath, key: u.keyPath },
        lastReload: u.loadedAt,
        lastError: u.lastError,
      });
    }
    return rows;
  }

  trustStatus(): TrustStatus {
    return {
      caFiles: [...(this.trustFiles.ca ?? [])],
      crlFiles: [...(this.trustFiles.crl ?? [])],
      caCertificates: this.trust.caCertificates,
      warnings: [...this.trust.warnings],
      lastReload: this.trustLoadedAt,
      lastError: this.trustError,
    };
  }

  // ---- changes ----

  reload(): Promise<ReloadResult> {
    return this.enqueue(() => this.checkFiles(true));
  }

  setTrustOptions(opts: Partial<SecureContextOptions>): void {
    const previous = this.trustOptions;
    this.trustOptions = stripCredentials(opts);
    try {
      this.swap(this.buildState(this.units, this.sourceUnits, this.trustGeneration + 1, this.state), [TRUST_ID]);
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

  private async checkFiles(force: boolean): Promise<ReloadResult> {
    const result: ReloadResult = { reloaded: [], unchanged: [], failed: [] };
    if (this.stopped) return result;
    const nextUnits: FileUnit[] = [];
    const changed: FileUnit[] = [];
    for (const [i, u] of this.units.entries()) {
      let certPem: Buffer;
      let keyPem: Buffer;
      try {
        certPem = await readOrThrow(u.certPath, 'certificate');
        keyPem = await readOrThrow(u.keyPath, 'private key');
      } catch (err) {
        this.refuse(u, undefined, err, result);
        nextUnits.push(u);
        continue;
      }
      const digest = digestOf(certPem, keyPem);
      if (digest === u.cert.contentDigest || (!force && digest === u.refusedDigest)) {
        if (digest === u.cert.contentDigest) { u.refusedDigest = undefined; u.lastError = undefined; }
        result.unchanged.push(u.id);
        nextUnits.push(u);
        continue;
      }
      try {
        const cert = loadServerCertificate({ certPem, keyPem, what: u.certPath });
        checkSelectable(cert, u.certPath, i);
        checkContext(cert, u.certPath);
        const next: FileUnit = { ...u, cert, loadedAt: new Date(), refusedDigest: undefined, lastError: undefined };
        nextUnits.push(next);
        changed.push(next);
      } catch (err) {
        this.refuse(u, digest, err, result);
        nextUnits.push(u);
      }
    }

    let trust = this.trust;
    let trustChanged = false;
    if ((this.trustFiles.ca?.length ?? 0) + (this.trustFiles.crl?.length ?? 0) > 0) {
      try {
        const candidate = await loadTrustFiles(this.trustFiles);
        if (candidate.digest === this.trust.digest || (!force && candidate.digest === this.trustRefusedDigest)) {
          if (candidate.digest === this.trust.digest) { this.trustRefusedDigest = undefined; this.trustError = undefined; }
          result.unchanged.push(TRUST_ID);
        } else {
          trust = candidate;
          trustChanged = true;
        }
      } catch (err) {
        this.refuseTrust(err, result);
      }
    }

    if (changed.length === 0 && !trustChanged) return result;
    const previousTrust = this.trust;
    this.trust = trust;
    try {
      const state = this.buildState(nextUnits, this.sourceUnits, this.trustGeneration + (trustChanged ? 1 : 0), this.state);
      const ids = [...changed.map((u) => u.id), ...(trustChanged ? [TRUST_ID] : [])];
      this.units = nextUnits;
      if (trustChanged) { this.trustLoadedAt = new Date(); this.trustRefusedDigest = undefined; this.trustError = undefined; }
      this.swap(state, ids);
      result.reloaded.push(...ids);
      for (const u of changed) {
        this.logger.info({ cert: u.certPath, names: u.cert.dnsNames, notAfter: u.cert.notAfter.toISOString(), certSha256: u.cert.certSha256 }, 'server certificate reloaded');
      }
      if (trustChanged) {
        this.logger.info({ ca: this.trustFiles.ca, crl: this.trustFiles.crl, caCertificates: trust.caCertificates }, 'client trust reloaded');
        for (const w of trust.warnings) this.logger.warn({ reason: w }, 'client trust warning');
      }
    } catch (err) {
      this.trust = previousTrust;
      if (trustChanged) this.refuseTrust(err, result, trust.digest);
      for (const u of changed) {
        const old = this.units.find((x) => x.id === u.id)!;
        this.refuse(old, u.cert.contentDigest, err, result);
      }
    }
    return result;
  }

  private async syncSources(): Promise<void> {
    if (this.stopped) return;
    const next: SourceUnit[] = [];
    const reloaded: string[] = [];
    for (const source of this.opts.sources ?? []) {
      for (const entry of source.certificates()) {
        const old = this.sourceUnits.find((u) => u.id === entry.id && u.source === source);
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
    const removed = this.sourceUnits.some((u) => !next.some((n) => n.id === u.id && n.source === u.source));
    if (reloaded.length === 0 && !removed) { this.sourceUnits = next; return; }
    try {
      const state = this.buildState(this.units, next, this.trustGeneration, this.state);
      this.sourceUnits = next;
      this.swap(state, reloaded);
      for (const id of reloaded) {
        const c = next.find((u) => u.id === id)!.cert!;
        this.logger.info({ id, names: c.dnsNames, notAfter: c.notAfter.toISOString(), certSha256: c.certSha256 }, 'server certificate installed');
      }
    } catch (err) {
      this.logger.error({ ids: reloaded, ...reasonOf(err) }, 'certificates from source refused; keeping the previous ones');
    }
  }

  private refuse(u: FileUnit, digest: string | undefined, err: unknown, result: ReloadResult): void {
    u.refusedDigest = digest;
    u.lastError = statusError(err);
    result.failed.push({ id: u.id, code: u.lastError.code, message: u.lastError.message });
    this.logger.error({ cert: u.certPath, key: u.keyPath, ...reasonOf(err) }, 'server certificate reload refused; still serving the previous one');
    this.emit({ type: 'refused', id: u.id, code: u.lastError.code, message: u.lastError.message });
  }

  private refuseTrust(err: unknown, result: ReloadResult, digest?: string): void {
    this.trustRefusedDigest = digest;
    this.trustError = statusError(err);
    result.failed.push({ id: TRUST_ID, code: this.trustError.code, message: this.trustError.message });
    this.logger.error({ ca: this.trustFiles.ca, crl: this.trustFiles.crl, ...reasonOf(err) }, 'client trust reload refused; still using the previous CA bundle and CRLs');
    this.emit({ type: 'refused', id: TRUST_ID, code: this.trustError.code, message: this.trustError.message });
  }

  private swap(state: State, reloaded: string[]): void {
    this.state = state;
    this.trustGeneration = state.trustGeneration;
    this.emit({ type: 'swapped', reloaded });
  }

  private emit(event: CertificateStoreEvent): void {
    if (certificateStoreChannel.hasSubscribers) certificateStoreChannel.publish(event);
    for (const l of this.listeners) {
      try { l(event); } catch (err) { this.logger.error({ ...reasonOf(err) }, 'certificate store listener failed'); }
    }
  }

  /** Builds every context up front; throws (and nothing is swapped) if OpenSSL refuses one. */
  private buildState(units: FileUnit[], sources: SourceUnit[], trustGeneration: number, previous: State | undefined): State {
    const ordered: IndexedCertificate[] = [
      ...sources.filter((u) => u.cert).map((u) => ({ id: u.id, precedence: 1, cert: u.cert! })),
      ...units.map((u) => ({ id: u.id, precedence: 0, cert: u.cert })),
    ];
    const defaultId = units[0]?.id ?? sources.find((u) => u.cert)?.id;
    const index = buildSniIndex(ordered, defaultId);
    const contexts = new Map<string, SecureContext>();
    for (const group of [...index.groups, index.defaultGroup]) {
      if (contexts.has(group.key)) continue;
      // Unchanged certificates keep their context (and its session cache) unless the trust changed.
      const reuse = previous && previous.trustGeneration === trustGeneration ? previous.contexts.get(group.key) : undefined;
      contexts.set(group.key, reuse ?? this.createContext(group.members.map((m) => m.cert)));
    }
    const singles = new Map<string, SecureContext>();
    for (const group of [...index.groups, index.defaultGroup]) {
      if (group.members.length < 2) continue;
      for (const m of group.members) {
        if (singles.has(m.id)) continue;
        const reuse = previous && previous.trustGeneration === trustGeneration ? previous.singles.get(m.id) : undefined;
        singles.set(m.id, reuse ?? this.createContext([m.cert]));
      }
    }
    return { byName: index.byName, defaultGroup: index.defaultGroup, contexts, singles, trustGeneration };
  }

  private contextOptions(certs: ServerCertificate[]): SecureContextOptions {
    const options: SecureContextOptions = { ...this.trustOptions };
    const ca = [...asList(this.trustOptions.ca), ...this.trust.ca];
    const crl = [...asList(this.trustOptions.crl), ...this.trust.crl];
    if (ca.length) options.ca = ca; else delete options.ca;
    if (crl.length) options.crl = crl; else delete options.crl;
    if (certs.length) {
      options.cert = certs.map((c) => c.material.certPem);
      options.key = certs.map((c) => c.material.keyPem);
    }
    return options;
  }

  private createContext(certs: ServerCertificate[]): SecureContext {
    try {
      return createSecureContext(this.contextOptions(certs));
    } catch (err) {
      throw new CountersignError('ERR_TLS_CONTEXT', `TLS context for ${certs.map((c) => c.dnsNames[0] ?? c.subject).join(' + ') || 'the default'} refused by OpenSSL: ${(err as Error).message}; check the trust options (ca, crl, ciphers, minVersion)`, { cause: err });
    }
  }
}

async function readPair(certPath: string, keyPath: string): Promise<ServerCertificate> {
  const certPem = await readOrThrow(certPath, 'certificate');
  const keyPem = await readOrThrow(keyPath, 'private key');
  const cert = loadServerCertificate({ certPem, keyPem, what: certPath });
  checkContext(cert, certPath);
  return cert;
}

/** A certificate other than the default with no names could never be selected. */
function checkSelectable(cert: ServerCertificate, path: string, index: number): void {
  if (index > 0 && cert.dnsNames.length === 0 && cert.ipAddresses.length === 0) {
    throw new CountersignError('ERR_CERT_NO_NAMES', `${path}: certificate "${cert.subject}" has no DNS or IP subjectAltName, so no SNI can select it; add subjectAltNames or make it the first (default) certificate`);
  }
}

/** OpenSSL has its own opinions (e.g. RSA keys under 2048 bits at security level 2). */
function checkContext(cert: ServerCertificate, what: string): void {
  try {
    createSecureContext({ cert: cert.material.certPem, key: cert.material.keyPem });
  } catch (err) {
    throw new CountersignError('ERR_TLS_CONTEXT', `${what}: OpenSSL refuses this certificate/key for TLS (${(err as Error).message})`, { cause: err });
  }
}

function describe(c: ServerCertificate): Partial<ServerCertificateStatus> {
  return {
    subject: c.subject, issuer: c.issuer, serial: c.serial, notBefore: c.notBefore, notAfter: c.notAfter,
    keyType: c.keySlot, certSha256: c.certSha256,
  };
}

function statusError(err: unknown): StatusError {
  const { reason, code } = reasonOf(err);
  return { code: code ?? 'ERR_UNKNOWN', message: reason, at: new Date() };
}

function stripCredentials(opts: Partial<SecureContextOptions>): Partial<SecureContextOptions> {
  const { cert: _c, key: _k, pfx: _p, passphrase: _pp, ...rest } = opts;
  return rest;
}

function asList<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
