/**
 * Wiring: builds the proxy's parts from a validated config and connects them —
 * edge listener → admission (verifier, rules) → router → minter → the
 * connection forwarder or the http engine. The only place that knows every
 * room. The parts with a life of their own are named modules (src/runtime/):
 * the session-ticket keys, the one swapped reference (generation and
 * certificate store), the reloader, status and readiness, and the teardown of
 * a failed start.
 */
import { CountersignError, isCountersignError } from './errors.js';
import { cidrMatcher, connectionLimit, hostPortOf, listenersOf, MAIN_LISTENER, summarizeChanges, type Config, type ConfigChanges } from './config/index.js';
import { DelegationMinter } from './delegation/index.js';
import {
  Admission, ConnectionLimitLog, openFileLimit, ListenerSet, RevocationSources, SeenIntermediates, createEdgeCertificates, crlSourceStatus, crlWork,
  type EdgeAcme, type EdgeCertificates, type PreparedListeners, type RevocationSourceStatus,
} from './edge/index.js';
import { ClientConnections, diagnosisFields, findDiagnosis, loadHttpEngine, readUpstreamFiles, rotatedUpstreamFiles, serverFirstDialer, type HttpEngine } from './forward/index.js';
import { caCertificates, commonName, handshakeFailedChannel, loadMetrics, type Logger, type ProxyMetrics, type Readiness, type ReloadOutcome } from './observe/index.js';
import { buildGeneration, HTTP_ALPN, type Generation } from './generation.js';
import {
  delegationMinterFor, proxyReadiness, proxyStatus, Reloader, RuntimeState, SessionTicketKeys, Teardown,
  type ConfigSource, type ProxyStatus, type StatusSnapshot,
} from './runtime/index.js';

export { handshakeChannel } from './edge/index.js';
export type { ProxyStatus } from './runtime/index.js';

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
  source?: ConfigSource;
  /** a worker's follower of the primary's ACME manager, instead of a manager of its own */
  acme?: EdgeAcme;
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
  reload(next?: { config: Config; source?: ConfigSource }): Promise<ReloadOutcome>;
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

/** What a reload builds before anything swaps. */
interface PreparedReload { generation: Generation; certificates?: EdgeCertificates; listeners: PreparedListeners }

export async function startProxy({ config, logger, ticketKeys: givenTicketKeys, announce = true, rotateTicketKeysOnTrustChange = true, metrics: wantMetrics = config.admin !== undefined, source: givenSource, acme }: ProxyOptions): Promise<RunningProxy> {
  const startedAt = new Date();
  let source = givenSource;
  const teardown = new Teardown();
  const metrics = wantMetrics ? new (await loadMetrics()).ProxyMetrics() : undefined;
  teardown.add(() => metrics?.close());
  const minter = config.delegation ? delegationMinterFor(config.delegation) : undefined;
  teardown.add(() => minter?.stop());

  // the client trust of now, read through the state once it exists (the first generation is built before the store)
  let state: RuntimeState | undefined;
  const trust = () => state!.certificates.store.clientTrust();
  // intermediates clients sent, kept across generations: resumed sessions carry only the leaf
  const intermediates = new SeenIntermediates();
  // CRLs from distribution points and OCSP answers (edge.clientAuth.revocation): a change re-checks the open connections
  const rev = config.edge.clientAuth.revocation;
  let onRevocationChanged = () => {};
  const revocation = await teardown.guard(RevocationSources.create({
    fetch: rev.fetch, ocsp: rev.ocsp, refreshIntervalMs: rev.refreshInterval, timeoutMs: rev.timeout, graceMs: rev.grace, stateDir: config.stateDir,
    logger: logger.child({ component: 'revocation' }), onChange: () => onRevocationChanged(),
  }));
  teardown.add(() => revocation.stop());
  const first = await teardown.guard(buildGeneration({ config, logger, number: 1, minter, trust, intermediates, revocation: revocation.hooks }));
  teardown.add(() => first.stop());

  // loaded with the first config that has an http-mode route (at start, or by the reload that adds one)
  let http: HttpEngine | undefined;
  const loadHttpFor = async (c: Config): Promise<void> => {
    if (http || !c.routes.some((r) => r.mode === 'http')) return;
    const Engine = await loadHttpEngine();
    // limits and timeouts need a restart: the start config's are the ones in force
    http ??= new Engine({
      routing: () => serving.generation, logger,
      maxHeaderSize: config.limits.maxHeaderSize,
      requestTimeoutMs: config.timeouts.request,
      keepAliveTimeoutMs: config.timeouts.keepAlive,
      maxPools: config.limits.agentsPerUpstream,
      maxHeaderCount: config.limits.maxHeaderCount,
      http2Resets: config.limits.http2Resets,
    });
  };
  await teardown.guard(loadHttpFor(config));

  const certificates = await teardown.guard(createEdgeCertificates({ config, logger, acme }));
  teardown.add(() => certificates.stop());
  const tickets = await teardown.guard(() => new SessionTicketKeys({
    given: givenTicketKeys, file: config.edge.sessionTickets?.keyFile, rotateOnTrustChange: rotateTicketKeysOnTrustChange, logger,
  }));
  const serving = state = new RuntimeState({ generation: first, certificates });

  // the walk of a connection: the edge admits it (and re-verifies it while open), forward routes and forwards it
  const connections = new ClientConnections({
    routing: () => serving.generation, http: () => http, logger,
    forget: (certSha256) => minter?.forget(certSha256),
  });
  const admission = new Admission({ policy: () => serving.generation.admission, onRevoked: connections.revoked, logger });
  const limit = connectionLimit(config.limits.maxConnections, openFileLimit());
  if (limit.warning) logger.warn({ reason: limit.warning }, 'config warning');
  const limitLog = new ConnectionLimitLog({ logger, maxConnections: limit.max });
  // every port: `listen` and `listeners`, each an EdgeListener with these options (listener-set.ts)
  const edge = new ListenerSet({ optionsFor: (spec) => ({
    name: spec.name,
    ...hostPortOf(spec.listen),
    starttls: spec.starttls,
    // through the state: a reload may bring a new certificate store
    // (`this` is the TLSSocket: the store finds the ClientHello it read through it)
    contexts: {
      sniCallback: function (this: unknown, name, cb) { serving.certificates.contexts.sniCallback.call(this, name, cb); },
      defaultOptions: () => serving.certificates.contexts.defaultOptions(),
    },
    alpn: HTTP_ALPN,
    // http routes speak what the forwarder speaks; connection routes only what their upstream does
    selectAlpn: (sni, offered, listener) => {
      const generation = serving.generation;
      const route = generation.router.forConnection(sni, listener)?.primary;
      if (!route || route.mode === 'http') return HTTP_ALPN.find((p) => offered.includes(p));
      return generation.protocols.select(route.upstream, offered);
    },
    handshakeTimeoutMs: config.edge.handshakeTimeout,
    // one budget for every listener of this process
    maxConnections: limit.max,
    onLimit: limitLog.refused,
    onSecureConnection: (socket, listener) => admission.admit(socket, listener, connections.handle),
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
    takeOver: (socket, hello) => serving.certificates.takeOver?.(socket, hello) ?? false,
    dialServerFirst: serverFirstDialer(() => serving.generation),
    proxyProtocol: config.edge.proxyProtocol ? { trusted: cidrMatcher(config.edge.proxyProtocol.trusted) } : undefined,
    ticketKeys: tickets.keysFor(trust().digest),
    sessionIdContext: tickets.sessionIdContext,
  }) });

  /** Keys in use follow the trust: a ticket issued under another trust is not resumed. */
  const applyTicketKeys = () => edge.setTicketKeys(tickets.keysFor(trust().digest));
  /** the listener's default context follows the store's swaps; a trust change re-checks open connections */
  const adopt = (store: EdgeCertificates) => {
    store.attach(edge);
    store.store.subscribe((e) => {
      if (e.type !== 'swapped' || !e.reloaded.includes('trust') || store !== serving.certificates) return;
      applyTicketKeys();
      revocation.followCas(trust());
      admission.recheck(trust());
    });
  };
  adopt(certificates);
  onRevocationChanged = () => admission.recheck(trust());
  revocation.followCas(trust());
  applyTicketKeys();
  const stopTicketWatch = tickets.watch(config.edge.reloadPollInterval, applyTicketKeys);
  teardown.add(stopTicketWatch);
  await teardown.guard(edge.prepare(listenersOf(config)).then((prepared) => prepared.commit()));
  const address = edge.address(MAIN_LISTENER)!;
  serving.generation.start();
  let cas = caCertificates(config);
  /** every revocation source as it stands now */
  const revocationSources = (): RevocationSourceStatus[] => {
    const graceMs = serving.generation.config.edge.clientAuth.revocation.grace;
    const files = serving.certificates.store.trustStatus();
    return [
      ...trust().crls.crls.map((c) => crlSourceStatus(c, { kind: 'crl-file', lastSuccess: files.lastReload, lastError: files.lastError?.message, graceMs })),
      ...revocation.status(),
    ];
  };
  metrics?.setSources({
    revocation: () => ({ work: { ...crlWork }, sources: revocationSources() }),
    minter: minter ? () => minter.stats() : undefined,
    servers: () => [...serving.generation.clusters.values()].flatMap((c) => c.servers.map((s) => ({ upstream: c.name, server: s.address, healthy: c.isEligible(s) }))),
    certificates: () => [
      ...serving.certificates.store.list().filter((c) => c.notAfter).map((c) => ({ kind: 'edge', subject: c.names[0] ?? commonName(c.subject), notAfter: c.notAfter! })),
      ...cas.map((c) => ({ kind: c.kind, subject: c.subject, notAfter: c.notAfter })),
    ],
  });
  if (announce) logger.info({ listen: edge.addresses()[MAIN_LISTENER], listeners: edge.addresses(), maxConnections: limit.max, routes: config.routes.length, upstreams: [...serving.generation.clusters.keys()] }, 'countersign listening');

  let stopping: Promise<void> | undefined;
  let draining = false;
  const stop = (graceMs = serving.generation.config.timeouts.shutdownGrace) => (stopping ??= (async () => {
    draining = true;
    const closed = edge.stopAccepting();
    await serving.generation.stop();
    // not awaited: a request in flight may outlast the grace period, which is the limit
    http?.close().catch(() => {});
    // keep-alive connections go as soon as their last request is done
    const closeIdle = setInterval(() => http?.closeIdle(), 50);
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([edge.whenIdle(), new Promise<void>((resolve) => { graceTimer = setTimeout(resolve, graceMs); })]);
    clearInterval(closeIdle);
    clearTimeout(graceTimer);
    const left = edge.openConnections;
    edge.destroyAll();
    http?.destroy();
    connections.stop();
    limitLog.stop();
    await closed;
    stopTicketWatch();
    revocation.stop();
    await serving.certificates.stop();
    minter?.stop();
    metrics?.close();
    logger.info({ outcome: 'stopped', connectionsCut: left }, 'countersign stopped');
  })());

  const reloader = new Reloader<PreparedReload>({
    logger,
    running: () => serving.generation.config,
    generation: () => serving.generation.number,
    // edge certificates or client trust changed: a new store, built (and its files read) before anything swaps
    prepare: async (next: Config, changes: ConfigChanges) => {
      // the upstream CA bundles and proxy certificates, read again whatever the text says: one rotated in place applies
      let files;
      try { files = readUpstreamFiles(next); } catch (err) {
        throw new CountersignError('ERR_CONFIG_INVALID', isCountersignError(err) ? err.message : `cannot read the upstream files: ${(err as Error).message}`, { cause: err });
      }
      const rotated = rotatedUpstreamFiles(serving.generation.files, files);
      if (changes.none && rotated.length === 0) return undefined;
      const summary = [changes.none ? '' : summarizeChanges(changes), rotated.length ? `files changed: ${rotated.join(', ')}` : ''].filter(Boolean).join('; ');
      // new listeners are bound first (their connections wait for the swap); one that cannot bind refuses the reload
      const listeners = await edge.prepare(listenersOf(next));
      // edge certificates or client trust changed: a new store, built (and its files read) before anything swaps
      let store: EdgeCertificates | undefined;
      try {
        if (changes.certificateStore) store = await createEdgeCertificates({ config: next, logger });
        const generation = await buildGeneration({ config: next, logger, number: serving.generation.number + 1, minter, trust, intermediates, revocation: revocation.hooks, previous: serving.generation, files });
        // the first http-mode route: its forwarder is there before a connection can be routed to it
        await loadHttpFor(next).catch(async (err) => { await generation.stop(); throw err; });
        return { build: { generation, certificates: store, listeners }, changes: summary };
      } catch (err) {
        await listeners.abort();
        await store?.stop();
        throw err;
      }
    },
    discard: async ({ generation, certificates: store, listeners }) => { await listeners.abort(); await generation.stop(); await store?.stop(); },
    stopping: () => stopping !== undefined,
    /**
     * New connections and requests use the new generation at once;
     * connection-mode connections keep the upstream they are piped to unless
     * the reload removed it (or its server, or the route that sent them
     * there): those are closed after timeouts.shutdownGrace. Clients now on
     * edge.deny are closed at once.
     */
    commit: ({ generation, certificates: store, listeners }) => {
      const before = serving.swap({ generation, certificates: store });
      if (store) {
        adopt(store);
        applyTicketKeys();
        void before.certificates.stop();
      }
      // the new listeners accept now that their routes are current; the removed ones stop accepting
      listeners.commit();
      generation.start();
      void before.generation.stop();
      // requests in flight on the old clusters' pools finish there; new ones go to the new clusters
      for (const c of before.generation.clusters.values()) http?.retireCluster(c);
      // clients now on edge.deny (or of a CA removed) are closed; connections whose upstream went, after the grace period
      admission.recheck(trust());
      connections.retireRemoved(generation.config.timeouts.shutdownGrace);
      return generation.number;
    },
    reloadFiles: async () => {
      const ticketOutcome = tickets.reloadFile();
      if (ticketOutcome === 'reloaded') applyTicketKeys();
      const files = await serving.certificates.reload();
      cas = caCertificates(serving.generation.config);
      return { files, tickets: ticketOutcome };
    },
    applied: (next) => { source = next; },
    count: (outcome) => metrics?.reloads.inc({ outcome }),
  });

  const snapshot = (): StatusSnapshot => ({
    address, draining, source, startedAt, cas,
    listeners: edge.status(),
    generation: serving.generation,
    certificates: serving.certificates.store.list(),
    minter: minter?.stats(),
    revocation: revocationSources(),
    caches: {
      delegation: minter ? (({ size, maxEntries, estimatedBytes, budgetBytes, pooledKeys }) => ({ entries: size, maxEntries, estimatedBytes, budgetBytes, pooledKeys }))(minter.stats()) : undefined,
      parsedClientCertificates: serving.generation.verifier.cacheStats(),
      seenIntermediates: intermediates.cacheStats(),
    },
    connections: { open: edge.openConnections, max: limit.max, maxFrom: limit.source, refusedAtLimit: limitLog.total },
    http: http?.stats(),
  });

  return {
    address, stop, minter, metrics,
    addresses: () => edge.addresses(),
    ready: () => proxyReadiness(snapshot()),
    status: () => proxyStatus(snapshot()),
    get certificates() { return serving.certificates; },
    generation: () => serving.generation.number,
    reloadRefused: () => reloader.refusedEarly(),
    reload: (next) => reloader.reload(next),
  };
}
