/**
 * Composes the proxy from a validated config: edge listener → client verifier →
 * router → minter → forwarders. The only place that knows every room. What a
 * reload replaces is one generation (generation.ts): the edge and the http
 * forwarder read it through `current`, and a reload swaps that one reference.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { CountersignError, isCountersignError } from './errors.js';
import { readFileSync } from 'node:fs';
import { configChanges, listenersOf, MAIN_LISTENER, summarizeChanges, type Config } from './config/index.js';
import { DelegationMinter } from './delegation/index.js';
import { ConnectionLimitLog, openFileLimit, FileWatch, ListenerSet, SeenIntermediates, createEdgeCertificates, crlSourceStatus, crlWork, type EdgeCertificates, type ListenerStatus, type PreparedListeners, type RevocationSourceStatus } from './edge/index.js';
import { loadSigningCa, readTicketKeyFile } from './pki/index.js';
import { ClientConnections, diagnosisFields, findDiagnosis, loadHttpEngine, readUpstreamFiles, rotatedUpstreamFiles, serverFirstDialer, type HttpEngine, type UpstreamFiles, type UpstreamPoolStats } from './forward/index.js';
import { cidrMatcher, connectionLimit, delegationLimits, hostPortOf } from './config/index.js';
import type { Logger } from './observe/index.js';
import type { EdgeAcme } from './edge/index.js';
import { buildGeneration, HTTP_ALPN, type Generation } from './generation.js';
import { caCertificates, commonName, handshakeFailedChannel, loadMetrics, type ProxyMetrics, type CaCertificateExpiry, type Readiness, type ReloadOutcome } from './observe/index.js';

export { handshakeChannel } from './forward/index.js';

export interface ProxyOptions {
  config: Config;
  logger: Logger;
  /**
   * 48 bytes of TLS session-ticket keys. Worker processes share one set, so a
   * client resumes its session whichever worker takes its next connection.
   */
  ticketKeys?: Buffer;
  /** log "countersign listening" (a worker leaves that to its primary); default true */
  announce?: boolean;
  /**
   * Derive the ticket keys in use from `ticketKeys` and the client trust, so that
   * tickets issued before a CA or CRL change never resume after it (every worker
   * and every instance sharing edge.sessionTickets.keyFile derives the same keys
   * from the same files). Default true; false keeps the base keys as given.
   */
  rotateTicketKeysOnTrustChange?: boolean;
  /** keep Prometheus metrics (for the admin listener); default: when config.admin is set */
  metrics?: boolean;
  /** where the config came from, for /status */
  source?: { file: string; digest: string; loadedAt: Date };
  /** a worker's follower of the primary's ACME manager, instead of a manager of its own */
  acme?: EdgeAcme;
}

/** What GET /status shows of one process. */
export interface ProxyStatus {
  pid: number;
  listen: string;
  /** every listener (`main` is `listen`) and its open connections */
  listeners: ListenerStatus[];
  draining: boolean;
  config?: { file: string; digest: string; loadedAt: string };
  /** 1 at start, one more per config a reload applied */
  generation: number;
  startedAt: string;
  certificates: { id: string; source: string; names: string[]; isDefault: boolean; subject?: string; issuer?: string; notAfter?: string; file?: string; lastError?: string }[];
  cas: (Omit<CaCertificateExpiry, 'notAfter'> & { notAfter: string })[];
  upstreams: Record<string, { balance: string; servers: { address: string; healthy: boolean; failing: boolean; active: number; lastCheck?: { at: string; ok: boolean; reason?: string; alpn?: string } }[] }>;
  delegation?: { cached: number; hits: number; misses: number; renewals: number };
  /** every revocation source (CRL files, distribution points, OCSP responders) and how fresh it is */
  revocation: { onUnavailable: 'refuse' | 'admit'; graceMs: number; sources: (Omit<RevocationSourceStatus, 'thisUpdate' | 'nextUpdate' | 'lastSuccess'> & { thisUpdate?: string; nextUpdate?: string; lastSuccess?: string })[] };
  /** client connections of this process: open now (handshakes included), the limit, and how many the limit refused */
  connections: { open: number; max: number; maxFrom: 'config' | 'default' | 'open-file limit'; refusedAtLimit: number };
  /** http mode's upstream pool (when an http-mode route loaded it): leases, busy connections, connects and waiters are 0 when no request is in flight */
  http: UpstreamPoolStats;
}

export interface RunningProxy {
  /** the address of `listen` (the main listener) */
  address: { host: string; port: number };
  /** every listener's address bound, by name (`main` is `listen`) */
  addresses(): Record<string, string>;
  /** stop accepting, let open connections finish up to `graceMs`, then close the rest */
  stop(graceMs?: number): Promise<void>;
  /**
   * Applies a new validated config (routes, upstreams, edge.deny, …) as a new
   * generation, then re-reads certificate, CA and CRL files; without `next`,
   * the running config with its files. Upstream CA bundles and proxy
   * certificates are read again either way: new bytes in the same files make a
   * new generation too. A change that needs a restart refuses the whole reload
   * and nothing changes. Never throws.
   */
  reload(next?: { config: Config; source?: ProxyOptions['source'] }): Promise<ReloadOutcome>;
  /** the generation serving new connections (1 at start, one more per applied config) */
  generation(): number;
  /** a reload refused before it reached the proxy (the config file has problems): counted in the metrics */
  reloadRefused(): void;
  /** ready to take traffic: listening, not draining, certificates loaded, every route has a healthy server */
  ready(): Readiness;
  status(): ProxyStatus;
  metrics?: ProxyMetrics;
  minter?: DelegationMinter;
  certificates: EdgeCertificates;
}

export async function startProxy({ config, logger, ticketKeys: givenTicketKeys, announce = true, rotateTicketKeysOnTrustChange = true, metrics: wantMetrics = config.admin !== undefined, source: givenSource, acme }: ProxyOptions): Promise<RunningProxy> {
  const startedAt = new Date();
  let source = givenSource;
  const metrics = wantMetrics ? new (await loadMetrics()).ProxyMetrics() : undefined;
  const minter = config.delegation
    ? new DelegationMinter({
      ca: loadSigningCa({ certPem: readFileSync(config.delegation.ca.cert), keyPem: readFileSync(config.delegation.ca.key), what: 'delegation.ca' }),
      ...delegationLimits(config.delegation),
      embedOriginal: config.delegation.embedOriginal,
      extensionOid: config.delegation.extensionOid,
    })
    : undefined;

  // the certificate store (and with it the client trust) is created below; the verifier asks for it per connection
  let certificates: EdgeCertificates | undefined;
  const trust = () => certificates!.store.clientTrust();
  /** THE reference: what new connections and requests are routed and bound by */
  // intermediates clients sent, kept across generations: resumed sessions carry only the leaf
  const intermediates = new SeenIntermediates();
  let current: Generation = await buildGeneration({ config, logger, number: 1, minter, trust, intermediates }).catch((err) => { minter?.stop(); throw err; });

  // loaded with the first config that has an http-mode route (at start, or by the reload that adds one)
  let http: HttpEngine | undefined;
  const loadHttpFor = async (c: Config): Promise<void> => {
    if (http || !c.routes.some((r) => r.mode === 'http')) return;
    const Engine = await loadHttpEngine();
    // limits and timeouts need a restart: the start config's are the ones in force
    http ??= new Engine({
      routing: () => current, logger,
      maxHeaderSize: config.limits.maxHeaderSize,
      requestTimeoutMs: config.timeouts.request,
      keepAliveTimeoutMs: config.timeouts.keepAlive,
      maxPools: config.limits.agentsPerUpstream,
      maxHeaderCount: config.limits.maxHeaderCount,
      http2Resets: config.limits.http2Resets,
    });
  };
  await loadHttpFor(config).catch(async (err) => { await current.stop(); minter?.stop(); throw err; });
  const connections = new ClientConnections({
    routing: () => current, http: () => http, logger,
    peerOf: (socket) => edge.peerOf(socket),
    forget: (certSha256) => minter?.forget(certSha256),
  });

  const stopEarly = async () => { await current.stop(); minter?.stop(); };
  certificates = await createEdgeCertificates({ config, logger, acme }).catch(async (err) => { await stopEarly(); throw err; });
  let ticketKeys = givenTicketKeys;
  // a fleet's shared key file wins over the keys a primary hands its workers
  const ticketFile = config.edge.sessionTickets?.keyFile;
  const ticketKeysFromFile = () => {
    const t = readTicketKeyFile(ticketFile!);
    if (t.readableByOthers) logger.warn({ path: ticketFile }, 'session-ticket key file is readable by group or others; make it 0600');
    return t.keys;
  };
  if (ticketFile) {
    try { ticketKeys = ticketKeysFromFile(); } catch (err) { await certificates.stop(); await stopEarly(); throw err; }
  }
  const limit = connectionLimit(config.limits.maxConnections, openFileLimit());
  if (limit.warning) logger.warn({ reason: limit.warning }, 'config warning');
  const limitLog = new ConnectionLimitLog({ logger, maxConnections: limit.max });
  // every port: `listen` and `listeners`, each an EdgeListener with these options (listener-set.ts)
  const edge = new ListenerSet({ optionsFor: (spec) => ({
    name: spec.name,
    ...hostPortOf(spec.listen),
    starttls: spec.starttls,
    // through `certificates`: a reload may bring a new certificate store
    // (`this` is the TLSSocket: the store finds the ClientHello it read through it)
    contexts: {
      sniCallback: function (this: unknown, name, cb) { certificates!.contexts.sniCallback.call(this, name, cb); },
      defaultOptions: () => certificates!.contexts.defaultOptions(),
    },
    alpn: HTTP_ALPN,
    // http routes speak what the forwarder speaks; connection routes only what their upstream does
    selectAlpn: (sni, offered, listener) => {
      const g = current;
      const route = g.router.forConnection(sni, listener)?.primary;
      if (!route || route.mode === 'http') return HTTP_ALPN.find((p) => offered.includes(p));
      return g.protocols.select(route.upstream, offered);
    },
    handshakeTimeoutMs: config.edge.handshakeTimeout,
    // one budget for every listener of this process
    maxConnections: limit.max,
    onLimit: limitLog.refused,
    onSecureConnection: (socket, listener) => connections.handle(socket, listener),
    onClientError: (err, remoteAddress, listener) => {
      if (handshakeFailedChannel.hasSubscribers) handshakeFailedChannel.publish({ reason: err.code ?? 'other', listener });
      // a server-first listener dials the upstream before the client's handshake: its failure says what to fix
      const diagnosis = findDiagnosis(err);
      if (err.code?.startsWith('ERR_UPSTREAM')) {
        logger.warn({ listener, remoteAddress, outcome: 'upstream-unavailable', reason: err.message, ...(diagnosis ? diagnosisFields(diagnosis) : {}) }, 'handshake failed');
        return;
      }
      logger.info({ listener, remoteAddress, outcome: 'handshake-failed', reason: err.code ?? err.message, ...(err instanceof CountersignError ? { detail: err.message } : {}) }, 'handshake failed');
    },
    takeOver: (socket, hello) => certificates!.takeOver?.(socket, hello) ?? false,
    dialServerFirst: serverFirstDialer(() => current),
    proxyProtocol: config.edge.proxyProtocol ? { trusted: cidrMatcher(config.edge.proxyProtocol.trusted) } : undefined,
    ticketKeys,
    // one fleet, one context: the instances sharing the key file resume each other's sessions
    sessionIdContext: ticketFile ? 'countersign-fleet' : undefined,
  }) });
  /** the listener's default context follows the store's swaps; a trust change re-checks open connections */
  const adopt = (c: EdgeCertificates) => {
    c.attach(edge);
    c.store.subscribe((e) => { if (e.type === 'swapped' && e.reloaded.includes('trust') && c === certificates) onTrustChanged(); });
  };

  // Session tickets: keys derived from a base (the fleet's key file, the keys a
  // primary hands its workers, or random) and the client trust's digest. A CA or
  // CRL change gives new keys, so a ticket issued under the old trust is not
  // resumed (a fresh handshake is verified against the new); every worker and
  // every instance sharing the key file derives the same keys without talking.
  let baseTicketKeys = ticketKeys ?? randomBytes(48);
  const ticketKeysFor = (digest: string) => rotateTicketKeysOnTrustChange
    ? Buffer.from(hkdfSync('sha256', baseTicketKeys, Buffer.from(digest), 'countersign session tickets', 48))
    : baseTicketKeys;
  edge.setTicketKeys(ticketKeysFor(certificates.store.clientTrust().digest));

  const reloadTicketKeys = (): 'unchanged' | 'reloaded' | 'failed' => {
    if (!ticketFile) return 'unchanged';
    try {
      const k = ticketKeysFromFile();
      if (baseTicketKeys.equals(k)) return 'unchanged';
      baseTicketKeys = k;
      edge.setTicketKeys(ticketKeysFor(certificates!.store.clientTrust().digest));
      logger.info({ path: ticketFile, outcome: 'ok' }, 'session-ticket key reloaded');
      return 'reloaded';
    } catch (err) {
      logger.error({ path: ticketFile, outcome: 'failed', reason: (err as Error).message }, 'session-ticket key not reloaded; the previous key stays');
      return 'failed';
    }
  };
  const ticketWatch = ticketFile
    ? new FileWatch({ paths: [ticketFile], onChange: () => { reloadTicketKeys(); }, pollIntervalMs: config.edge.reloadPollInterval })
    : undefined;

  /** The client trust changed (a CRL or CA file): new ticket keys, and the open connections are checked again. */
  const onTrustChanged = () => {
    edge.setTicketKeys(ticketKeysFor(trust().digest));
    connections.recheck(trust());
  };
  adopt(certificates);
  await edge.prepare(listenersOf(config)).then((p) => p.commit(), async (err) => { ticketWatch?.close(); await certificates!.stop(); await stopEarly(); metrics?.close(); throw err; });
  const address = edge.address(MAIN_LISTENER)!;
  current.start();
  let cas = caCertificates(config);
  /** every revocation source as it stands now */
  const revocationSources = (): RevocationSourceStatus[] => {
    const graceMs = current.config.edge.clientAuth.revocation.grace;
    const files = certificates!.store.trustStatus();
    return trust().crls.crls.map((c) => crlSourceStatus(c, { kind: 'crl-file', lastSuccess: files.lastReload, lastError: files.lastError?.message, graceMs }));
  };
  metrics?.setSources({
    revocation: () => ({ work: { ...crlWork }, sources: revocationSources() }),
    minter: minter ? () => minter.stats() : undefined,
    servers: () => [...current.clusters.values()].flatMap((c) => c.servers.map((s) => ({ upstream: c.name, server: s.address, healthy: c.isEligible(s) }))),
    certificates: () => [
      ...certificates!.store.list().filter((c) => c.notAfter).map((c) => ({ kind: 'edge', subject: c.names[0] ?? commonName(c.subject), notAfter: c.notAfter! })),
      ...cas.map((c) => ({ kind: c.kind, subject: c.subject, notAfter: c.notAfter })),
    ],
  });
  if (announce) logger.info({ listen: edge.addresses()[MAIN_LISTENER], listeners: edge.addresses(), maxConnections: limit.max, routes: config.routes.length, upstreams: [...current.clusters.keys()] }, 'countersign listening');

  let stopping: Promise<void> | undefined;
  let draining = false;
  const stop = (graceMs = current.config.timeouts.shutdownGrace) => (stopping ??= (async () => {
    draining = true;
    const closed = edge.stopAccepting();
    await current.stop();
    // not awaited: a request in flight may outlast the grace period, which is the limit
    http?.close().catch(() => {});
    const deadline = Date.now() + graceMs;
    while (edge.openConnections > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      http?.closeIdle(); // keep-alive connections go as soon as their last request is done
    }
    const left = edge.openConnections;
    edge.destroyAll();
    http?.destroy();
    connections.stop();
    limitLog.stop();
    await closed;
    ticketWatch?.close();
    await certificates!.stop();
    minter?.stop();
    metrics?.close();
    logger.info({ outcome: 'stopped', connectionsCut: left }, 'countersign stopped');
  })());

  /**
   * Swaps in a new generation built from `next`: new connections and requests
   * use it at once; connection-mode connections keep the upstream they are
   * piped to unless the reload removed it (or its server, or the route that
   * sent them there): those are closed after timeouts.shutdownGrace. Clients
   * now on edge.deny are closed at once.
   */
  const applyConfig = async (next: Config): Promise<{ ok: true; changes: string; generation: number } | { ok: false; problems: string[] }> => {
    const changes = configChanges(current.config, next);
    if (changes.restartRequired.length) {
      return { ok: false, problems: changes.restartRequired.map((k) => `${k}: changed, but it cannot change without a restart (the running value stays; restart countersign to apply it)`) };
    }
    // the upstream CA bundles and proxy certificates, read again whatever the text says: one rotated in place applies
    let files: UpstreamFiles;
    try { files = readUpstreamFiles(next); } catch (err) {
      return { ok: false, problems: [isCountersignError(err) ? err.message : `cannot read the upstream files: ${(err as Error).message}`] };
    }
    const rotated = rotatedUpstreamFiles(current.files, files);
    if (changes.none && rotated.length === 0) return { ok: true, changes: 'config unchanged', generation: current.number };
    const summary = [changes.none ? '' : summarizeChanges(changes), rotated.length ? `files changed: ${rotated.join(', ')}` : ''].filter(Boolean).join('; ');
    let g: Generation;
    // edge certificates or client trust changed: a new store, built (and its files read) before anything swaps
    let certs: EdgeCertificates | undefined;
    // new listeners are bound first (their connections wait for the swap); one that cannot bind refuses the reload
    let ports: PreparedListeners | undefined;
    try {
      ports = await edge.prepare(listenersOf(next));
      if (changes.certificateStore) certs = await createEdgeCertificates({ config: next, logger });
      g = await buildGeneration({ config: next, logger, number: current.number + 1, minter, trust, intermediates, previous: current, files });
      // the first http-mode route: its forwarder is there before a connection can be routed to it
      await loadHttpFor(next).catch(async (err) => { await g.stop(); throw err; });
    } catch (err) {
      await ports?.abort();
      await certs?.stop();
      return { ok: false, problems: [isCountersignError(err) ? err.message : `cannot apply the config: ${(err as Error).message}`] };
    }
    if (stopping) { await ports.abort(); await g.stop(); await certs?.stop(); return { ok: false, problems: ['stopping: the reload was not applied'] }; }
    const old = current;
    if (certs) {
      const oldCerts = certificates!;
      certificates = certs;
      adopt(certs);
      edge.setTicketKeys(ticketKeysFor(trust().digest));
      void oldCerts.stop();
    }
    current = g;
    // the new listeners accept now that their routes are current; the removed ones stop accepting
    ports.commit();
    g.start();
    void old.stop();
    // requests in flight on the old clusters' pools finish there; new ones go to the new clusters
    for (const c of old.clusters.values()) http?.retireCluster(c);
    // clients now on edge.deny (or of a CA removed) are closed; connections whose upstream went, after the grace period
    connections.recheck(trust());
    connections.retireRemoved(next.timeouts.shutdownGrace);
    return { ok: true, changes: summary, generation: g.number };
  };

  const ready = (): Readiness => {
    const reasons: string[] = [];
    if (draining) reasons.push('draining: shutting down, not taking new connections');
    const certs = certificates!.store.list();
    if (!certs.some((c) => c.isDefault && c.notAfter)) reasons.push('no default server certificate loaded');
    for (const c of certs) if (!c.notAfter) reasons.push(`certificate ${c.names.join(',') || c.id}: not loaded yet${c.lastError ? ` (${c.lastError.message})` : ''}`);
    // a source whose clients are refused for want of a fresh answer (onUnavailable: refuse)
    if (current.config.edge.clientAuth.revocation.onUnavailable === 'refuse') {
      for (const s of revocationSources()) {
        if (s.state === 'stale') reasons.push(`revocation: the CRL of "${s.issuer}" from ${s.source} is past its nextUpdate (${s.nextUpdate?.toISOString()}) and edge.clientAuth.revocation.grace: the clients it covers are refused`);
        if (s.state === 'none') reasons.push(`revocation: nothing obtained from ${s.source} yet${s.lastError ? ` (${s.lastError})` : ''}: the clients it covers are refused`);
      }
    }
    const now = Date.now();
    const g = current;
    for (const [i, r] of g.config.routes.entries()) {
      const cluster = g.clusters.get(r.upstream)!;
      if (cluster.servers.some((s) => cluster.isEligible(s, now))) continue;
      const why = cluster.servers.map((s) => `${s.address} ${!s.healthy ? `unhealthy (${s.lastCheck?.reason ?? 'health check failed'})` : 'failing (passive)'}`);
      reasons.push(`routes[${i}] → upstream ${r.upstream}: no healthy server: ${why.join('; ')}`);
    }
    return { ready: reasons.length === 0, reasons };
  };

  const status = (): ProxyStatus => {
    const g = current;
    return {
      pid: process.pid,
      listen: `${address.host}:${address.port}`,
      listeners: edge.status(),
      draining,
      config: source ? { file: source.file, digest: source.digest, loadedAt: source.loadedAt.toISOString() } : undefined,
      generation: g.number,
      startedAt: startedAt.toISOString(),
      certificates: certificates!.store.list().map((c) => ({
        id: c.id, source: c.source, names: c.names, isDefault: c.isDefault, subject: c.subject, issuer: c.issuer,
        notAfter: c.notAfter?.toISOString(), file: c.paths?.cert, lastError: c.lastError?.message,
      })),
      cas: cas.map((c) => ({ ...c, notAfter: c.notAfter.toISOString() })),
      upstreams: Object.fromEntries([...g.clusters.values()].map((c) => [c.name, {
        balance: g.config.upstreams[c.name].balance,
        servers: c.servers.map((s) => ({
          address: s.address, healthy: s.healthy, failing: s.failedUntil > Date.now(), active: s.active,
          lastCheck: s.lastCheck ? { ...s.lastCheck, at: s.lastCheck.at.toISOString() } : undefined,
        })),
      }])),
      delegation: minter ? (({ size, hits, misses, renewals }) => ({ cached: size, hits, misses, renewals }))(minter.stats()) : undefined,
      http: http?.stats() ?? { groups: 0, connections: 0, busy: 0, connecting: 0, leases: 0, waiting: 0 },
      revocation: {
        onUnavailable: g.config.edge.clientAuth.revocation.onUnavailable, graceMs: g.config.edge.clientAuth.revocation.grace,
        sources: revocationSources().map((r) => ({ ...r, thisUpdate: r.thisUpdate?.toISOString(), nextUpdate: r.nextUpdate?.toISOString(), lastSuccess: r.lastSuccess?.toISOString() })),
      },
      connections: { open: edge.openConnections, max: limit.max, maxFrom: limit.source, refusedAtLimit: limitLog.total },
    };
  };

  /** reloads run one at a time: a second SIGHUP waits for the first */
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = async (next?: { config: Config; source?: ProxyOptions['source'] }): Promise<ReloadOutcome> => {
    try {
      // without a new config, a copy of the running one (a new generation must bring new route
      // objects: connections memoise their bindings by route): its upstream files are read again all the same
      const applied = await applyConfig(next?.config ?? structuredClone(current.config));
      if (!applied.ok) {
        metrics?.reloads.inc({ outcome: 'failed' });
        logger.error({ outcome: 'failed', problems: applied.problems, file: next?.source?.file }, 'reload refused; the running config keeps serving');
        return { ok: false, outcome: 'failed', reason: `reload refused: ${applied.problems.join('; ')}`, problems: applied.problems };
      }
      if (next?.source) source = next.source;
      const tickets = reloadTicketKeys();
      const r = await certificates!.reload();
      cas = caCertificates(current.config);
      const outcome = r.failed.length || tickets === 'failed' ? 'partial' : 'ok';
      metrics?.reloads.inc({ outcome });
      const changes = applied.changes;
      logger.info({ outcome, generation: current.number, changes, reloaded: r.reloaded, failed: r.failed }, 'reload');
      return { ok: r.failed.length === 0 && tickets !== 'failed', outcome, generation: current.number, changes, sessionTicketKey: tickets, reloaded: r.reloaded, unchanged: r.unchanged, failed: r.failed };
    } catch (err) {
      metrics?.reloads.inc({ outcome: 'failed' });
      logger.error({ outcome: 'failed', reason: (err as Error).message }, 'reload failed');
      return { ok: false, outcome: 'failed', reason: (err as Error).message };
    }
  };

  return {
    address, stop, minter, metrics, ready, status,
    addresses: () => edge.addresses(),
    get certificates() { return certificates!; },
    generation: () => current.number,
    reloadRefused: () => { metrics?.reloads.inc({ outcome: 'failed' }); },
    reload: (next) => {
      const r = reloading.then(() => reload(next));
      reloading = r;
      return r;
    },
  };
}
