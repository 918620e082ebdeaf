/**
 * Composes the proxy from a validated config: edge listener → client verifier →
 * router → minter → forwarders. The only place that knows every room.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { CountersignError } from './errors.js';
import { readFileSync } from 'node:fs';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Config, RouteConfig } from './config/index.js';
import { DelegationMinter } from './delegation/index.js';
import { AccessRules, ClientVerifier, EdgeListener, FileWatch, createEdgeCertificates, peerIntermediates, type ClientVerdict, type EdgeCertificates, type ServerContexts } from './edge/index.js';
import { loadKeyMaterial, loadSigningCa, readTicketKeyFile } from './pki/index.js';
import {
  encodeIdentityHeaders, forwardConnection, HttpForwarder, Router, UpstreamCluster,
  type BindUpstream, type ClientConnection, type UpstreamBinding,
} from './forward/index.js';
import { buildProxyHeader } from './edge/index.js';
import { createUpstreamProtocols } from './forward/index.js';
import { cidrMatcher } from './config/index.js';
import type { Logger } from './observe/index.js';
import { HealthChecker } from './forward/index.js';
import type { EdgeAcme } from './edge/index.js';
import { caCertificates, commonName, connectionChannel, handshakeFailedChannel, ProxyMetrics, type CaCertificateExpiry, type ConnectionEvent, type Readiness, type ReloadOutcome } from './observe/index.js';

export const handshakeChannel = channel('countersign:edge:handshake');

/** ALPN protocols of http mode, and the default of connection-mode upstreams */
const HTTP_ALPN = ['h2', 'http/1.1'];

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
  draining: boolean;
  config?: { file: string; digest: string; loadedAt: string };
  startedAt: string;
  certificates: { id: string; source: string; names: string[]; isDefault: boolean; subject?: string; issuer?: string; notAfter?: string; file?: string; lastError?: string }[];
  cas: (Omit<CaCertificateExpiry, 'notAfter'> & { notAfter: string })[];
  upstreams: Record<string, { balance: string; servers: { address: string; healthy: boolean; failing: boolean; active: number; lastCheck?: { at: string; ok: boolean; reason?: string; alpn?: string } }[] }>;
  delegation?: { cached: number; hits: number; misses: number; renewals: number };
}

export interface RunningProxy {
  address: { host: string; port: number };
  /** stop accepting, let open connections finish up to `graceMs`, then close the rest */
  stop(graceMs?: number): Promise<void>;
  /** re-read certificate, CA and CRL files now (SIGHUP, POST /reload); never throws */
  reload(): Promise<ReloadOutcome>;
  /** ready to take traffic: listening, not draining, certificates loaded, every route has a healthy server */
  ready(): Readiness;
  status(): ProxyStatus;
  metrics?: ProxyMetrics;
  minter?: DelegationMinter;
  certificates: EdgeCertificates;
}

const readPem = (files: string[]) => files.map((f) => readFileSync(f, 'utf8')).join('\n');

export async function startProxy({ config, logger, ticketKeys: givenTicketKeys, announce = true, rotateTicketKeysOnTrustChange = true, metrics: wantMetrics = config.admin !== undefined, source, acme }: ProxyOptions): Promise<RunningProxy> {
  const startedAt = new Date();
  const metrics = wantMetrics ? new ProxyMetrics() : undefined;
  const minter = config.delegation
    ? new DelegationMinter({
      ca: loadSigningCa({ certPem: readFileSync(config.delegation.ca.cert), keyPem: readFileSync(config.delegation.ca.key), what: 'delegation.ca' }),
      ttlMs: config.delegation.ttl,
      cacheSize: config.delegation.cache,
      cacheMemoryBytes: Math.round(config.delegation.cacheMemoryMiB * 1024 * 1024),
      embedOriginal: config.delegation.embedOriginal,
      extensionOid: config.delegation.extensionOid,
    })
    : undefined;

  const clusters = new Map<string, UpstreamCluster>();
  for (const [name, u] of Object.entries(config.upstreams)) {
    clusters.set(name, new UpstreamCluster({
      name, servers: u.servers, caPem: readPem(u.ca), servername: u.servername, minVersion: u.minVersion,
      balance: u.balance, connectTimeoutMs: u.connectTimeout, failTimeoutMs: u.failTimeout, starttls: u.starttls,
      connectRaceMs: u.connectRace,
      onStateChange: (server, state, d) => logger.warn({ upstream: name, server: server.address, state, reason: d.reason, retryInMs: d.retryInMs, failures: d.failures }, `upstream server ${state}`),
    }));
  }
  // what each upstream speaks (ALPN): learned by probes unless `alpn` overrides it
  const protocols = createUpstreamProtocols({ config, clusters, logger });
  await protocols.ready;
  const publishConnection = (e: ConnectionEvent) => { if (connectionChannel.hasSubscribers) connectionChannel.publish(e); };
  // Header-mode routes present their own proxy certificate; each route's pools are
  // keyed by the route, so two routes with different proxy certificates never share one.
  const proxyIdentities = new Map<RouteConfig, { context: SecureContext; identityKey: string }>();
  for (const [i, r] of config.routes.entries()) {
    if (!r.proxyCert) continue;
    const m = loadKeyMaterial({ certPem: readFileSync(r.proxyCert.cert), keyPem: readFileSync(r.proxyCert.key), what: `routes[${i}].proxyCert` });
    proxyIdentities.set(r, { context: clusters.get(r.upstream)!.buildContext({ certPem: m.certPem, keyPem: m.keyPem }), identityKey: `proxy:${i}` });
  }

  const router = new Router(config.routes);
  const access = new AccessRules(config);
  // the certificate store (and with it the client trust) is created below; the verifier asks for it per connection
  let certificates: EdgeCertificates | undefined;
  const verifier = new ClientVerifier({
    mode: config.edge.clientAuth.mode, deny: config.edge.deny, maxChainDepth: config.edge.clientAuth.maxChainDepth,
    trust: () => certificates!.store.clientTrust(),
  });

  const bind: BindUpstream = (route, conn): UpstreamBinding => {
    const cluster = clusters.get(route.upstream)!;
    const headers = (route.identity === 'header' || route.identity === 'both') && conn.client
      ? headersFor(route, conn)
      : undefined;
    const balanceKey = conn.client?.identity;
    if (route.identity === 'header') {
      const p = proxyIdentities.get(route)!;
      // identity-hash sends each identity to its own server, so its connections cannot be shared
      const identityKey = balanceKey && config.upstreams[route.upstream].balance === 'identity-hash' ? `${p.identityKey}:${balanceKey}` : p.identityKey;
      return { cluster, ...p, identityKey, headers, balanceKey };
    }
    if (!conn.client) return { cluster, context: cluster.anonymous(), identityKey: 'anonymous', headers };
    const client = conn.client;
    const current = () => {
      const creds = minter!.credentialsFor(client);
      return { context: creds.secureContext(cluster.name, (c) => cluster.buildContext({ certPem: c.chainPem, keyPem: c.keyPem })), sessions: creds.sessions, serial: creds.serial };
    };
    return {
      cluster,
      ...current(),
      current,
      identityKey: client.certSha256,
      headers,
      balanceKey,
    };
  };
  const headersFor = (route: RouteConfig, conn: ClientConnection): Record<string, string> => {
    const key = `${route.header}\0${route.headerName ?? ''}`;
    let h = conn.headerCache.get(key);
    if (!h) {
      h = encodeIdentityHeaders(route.header, { der: conn.client!.der, chain: conn.chain }, { headerName: route.headerName });
      conn.headerCache.set(key, h);
    }
    return h;
  };

  const needsHttp = config.routes.some((r) => r.mode === 'http');
  const http = needsHttp
    ? new HttpForwarder({
      router, bind, logger,
      maxHeaderSize: config.limits.maxHeaderSize,
      requestTimeoutMs: config.timeouts.request,
      idleTimeoutMs: config.timeouts.idle,
      maxPools: config.limits.agentsPerUpstream,
      maxHeaderCount: config.limits.maxHeaderCount,
      http2Resets: config.limits.http2Resets,
      refusedBy: (route, conn) => access.refusedBy(route, conn.client),
      extraIdentityHeaders: config.routes.flatMap((r) => (r.headerName ? [r.headerName.toLowerCase()] : [])),
    })
    : undefined;

  // Active health checks present the route's proxy certificate when one exists, else none.
  const checkers: HealthChecker[] = [];
  for (const [name, u] of Object.entries(config.upstreams)) {
    if (!u.health) continue;
    const cluster = clusters.get(name)!;
    const proxyRoute = config.routes.find((r) => r.upstream === name && proxyIdentities.has(r));
    const context = proxyRoute ? proxyIdentities.get(proxyRoute)!.context : undefined;
    checkers.push(new HealthChecker({
      cluster,
      check: { type: u.health.type, intervalMs: u.health.interval, timeoutMs: u.health.timeout, path: u.health.path, expectStatus: u.health.expectStatus, unhealthyAfter: u.health.unhealthyAfter, healthyAfter: u.health.healthyAfter },
      secureContext: () => context ?? cluster.anonymous(),
      alpn: u.alpn ?? HTTP_ALPN,
      host: u.servername,
      logger: logger.child({ component: 'health' }),
    }));
  }

  certificates = await createEdgeCertificates({ config, logger, acme });
  let ticketKeys = givenTicketKeys;
  // a fleet's shared key file wins over the keys a primary hands its workers
  const ticketFile = config.edge.sessionTickets?.keyFile;
  const ticketKeysFromFile = () => {
    const t = readTicketKeyFile(ticketFile!);
    if (t.readableByOthers) logger.warn({ path: ticketFile }, 'session-ticket key file is readable by group or others; make it 0600');
    return t.keys;
  };
  if (ticketFile) {
    try { ticketKeys = ticketKeysFromFile(); } catch (err) { await certificates.stop(); throw err; }
  }
  let nextId = 1;
  /** open client connections that were admitted, for the re-check when the client trust changes */
  const open = new Map<number, { socket: TLSSocket; conn: ClientConnection }>();
  const track = (socket: TLSSocket, conn: ClientConnection) => {
    open.set(conn.id, { socket, conn });
    socket.once('close', () => open.delete(conn.id));
  };

  const onSecureConnection = (socket: TLSSocket) => {
    const t0 = performance.now();
    const id = nextId++;
    socket.on('error', () => { /* handled by the forwarders; never crash on a client's reset */ });
    const sni = (socket as TLSSocket & { servername?: string | false }).servername || undefined;
    const peer = edge.peerOf(socket);
    const remoteAddress = peer.address;
    const verdict: ClientVerdict = verifier.verify(socket);
    if (handshakeChannel.hasSubscribers) handshakeChannel.publish({ id, sni, verdict, durationMs: performance.now() - t0 });
    const routes = router.forConnection(sni);
    const base = { conn: id, remoteAddress, sni, identity: verdict.client?.identity, subject: verdict.client?.subject };
    if (!routes) {
      publishConnection({ ...base, durationMs: performance.now() - t0, route: '', mode: 'connection', outcome: 'refused', reason: 'no route', bytesIn: 0, bytesOut: 0 });
      logger.info({ ...base, outcome: 'refused', reason: 'no route for this server name' }, 'connection');
      socket.destroy();
      return;
    }
    const route = routes.primary;
    const conn: ClientConnection = {
      id, client: verdict.ok ? verdict.client : undefined, chain: [], sni, remoteAddress, routes, headerCache: new Map(),
    };
    if (!verdict.ok) {
      publishConnection({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: route.mode, outcome: 'refused', reason: verdict.reason, bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: verdict.reason, detail: verdict.detail }, 'client refused');
      if (route.mode === 'http' && http) {
        conn.refusal = { status: verdict.reason === 'denied identity' ? 403 : 400, reason: verdict.reason === 'denied identity' ? 'forbidden' : verdict.reason, detail: verdict.detail };
        http.accept(socket, conn);
      } else {
        socket.destroy();
      }
      return;
    }
    if (route.mode === 'http') {
      if (conn.client && (route.header === 'rfc9440')) conn.chain = peerChain(socket);
      // below info nothing is logged: no listener, no log object per connection
      track(socket, conn);
      socket.once('close', () => {
        const outcome = conn.revoked ? 'revoked' : 'closed';
        publishConnection({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'http', outcome, reason: conn.revoked, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten });
        if (conn.revoked) logger.warn({ ...base, mode: 'http', outcome, reason: conn.revoked, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, durationMs: Math.round(performance.now() - t0) }, 'connection');
        else if (logger.isLevelEnabled('info')) logger.info({ ...base, mode: 'http', outcome, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, durationMs: Math.round(performance.now() - t0) }, 'connection');
      });
      http!.accept(socket, conn);
      return;
    }
    if (!conn.client && !route.allowAnonymous) {
      publishConnection({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'connection', outcome: 'refused', reason: 'no certificate', bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: 'no certificate' }, 'client refused');
      socket.destroy();
      return;
    }
    const rule = access.refusedBy(route, conn.client);
    if (rule) {
      publishConnection({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'connection', outcome: 'refused', reason: 'not allowed', rule, bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: 'not allowed', rule }, 'client refused');
      socket.destroy();
      return;
    }
    let binding: UpstreamBinding;
    try {
      binding = bind(route, conn);
    } catch (err) {
      publishConnection({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'connection', outcome: 'refused', reason: 'mint failed', bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: (err as Error).message }, 'client refused');
      socket.destroy();
      return;
    }
    // half-close passes through: a client's FIN must not end the upstream's reply
    socket.allowHalfOpen = true;
    track(socket, conn);
    const upstreamConfig = config.upstreams[route.upstream];
    forwardConnection(socket, {
      cluster: binding.cluster, secureContext: binding.context,
      ...protocols.upstreamAlpn(route.upstream, socket.alpnProtocol || undefined),
      onAlpnMismatch: (server) => protocols.mismatch(route.upstream, server?.address),
      proxyHeader: upstreamConfig.proxyProtocol
        ? buildProxyHeader(upstreamConfig.proxyProtocol, peer, { address: socket.localAddress ?? '', port: socket.localPort ?? 0 })
        : undefined,
      idleTimeoutMs: config.timeouts.idle, sessions: binding.sessions, balanceKey: binding.balanceKey,
    }).then((o) => {
      const outcome = conn.revoked ? 'revoked' : o.outcome;
      publishConnection({ ...base, durationMs: o.durationMs, route: route.upstream, upstream: binding.cluster.name, server: o.server, serial: binding.serial, mode: 'connection', outcome, reason: conn.revoked ?? o.reason, bytesIn: o.bytesIn, bytesOut: o.bytesOut });
      const level = outcome === 'closed' ? 'info' : 'warn';
      if (!logger.isLevelEnabled(level)) return;
      logger[level]({ ...base, mode: 'connection', route: route.upstream, upstream: binding.cluster.name, server: o.server, outcome, reason: conn.revoked ?? o.reason, bytesIn: o.bytesIn, bytesOut: o.bytesOut, durationMs: o.durationMs }, 'connection');
    });
  };

  const edge = new EdgeListener({
    ...hostPort(config.listen),
    contexts: certificates.contexts,
    alpn: HTTP_ALPN,
    // http routes speak what the forwarder speaks; connection routes only what their upstream does
    selectAlpn: (sni, offered) => {
      const route = router.forConnection(sni)?.primary;
      if (!route || route.mode === 'http') return HTTP_ALPN.find((p) => offered.includes(p));
      return protocols.select(route.upstream, offered);
    },
    handshakeTimeoutMs: config.edge.handshakeTimeout,
    maxConnections: config.limits.maxConnections,
    onSecureConnection,
    onClientError: (err, remoteAddress) => {
      if (handshakeFailedChannel.hasSubscribers) handshakeFailedChannel.publish({ reason: err.code ?? 'other' });
      logger.info({ remoteAddress, outcome: 'handshake-failed', reason: err.code ?? err.message, ...(err instanceof CountersignError ? { detail: err.message } : {}) }, 'handshake failed');
    },
    takeOver: certificates.takeOver,
    starttls: config.edge.starttls,
    proxyProtocol: config.edge.proxyProtocol ? { trusted: cidrMatcher(config.edge.proxyProtocol.trusted) } : undefined,
    ticketKeys,
    // one fleet, one context: the instances sharing the key file resume each other's sessions
    sessionIdContext: ticketFile ? 'countersign-fleet' : undefined,
  });
  certificates.attach(edge);

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

  /**
   * The client trust changed (a CRL or CA file): every open connection is checked
   * again, and those of clients now refused are closed, with their minted
   * credentials and upstream pools dropped.
   */
  const onTrustChanged = () => {
    const trust = certificates!.store.clientTrust();
    edge.setTicketKeys(ticketKeysFor(trust.digest));
    for (const { socket, conn } of [...open.values()]) {
      const client = conn.client;
      if (!client) continue;
      let verdict = verifier.recheck(client, trust);
      if (verdict.ok && config.edge.clientAuth.mode !== 'any') {
        const x = socket.getPeerX509Certificate();
        if (x && !trust.issuedByCa(x) && !trust.chainsToCa(x, peerIntermediates(socket))) verdict = { ok: false, reason: 'unknown CA', detail: 'no longer verifies to edge.clientAuth.ca', client };
      }
      if (verdict.ok) continue;
      conn.revoked = verdict.reason;
      minter?.forget(client.certSha256);
      http?.forgetIdentity(client.certSha256);
      socket.destroy();
    }
  };
  certificates.store.subscribe((e) => { if (e.type === 'swapped' && e.reloaded.includes('trust')) onTrustChanged(); });
    const address = await edge.listen().catch(async (err) => { ticketWatch?.close(); await certificates!.stop(); minter?.stop(); protocols.stop(); metrics?.close(); throw err; });
  for (const c of checkers) c.start();
  let cas = caCertificates(config);
  metrics?.setSources({
    minter: minter ? () => minter.stats() : undefined,
    servers: () => [...clusters.values()].flatMap((c) => c.servers.map((s) => ({ upstream: c.name, server: s.address, healthy: c.isEligible(s) }))),
    certificates: () => [
      ...certificates!.store.list().filter((c) => c.notAfter).map((c) => ({ kind: 'edge', subject: c.names[0] ?? commonName(c.subject), notAfter: c.notAfter! })),
      ...cas.map((c) => ({ kind: c.kind, subject: c.subject, notAfter: c.notAfter })),
    ],
  });
  if (announce) logger.info({ listen: `${address.host}:${address.port}`, routes: config.routes.length, upstreams: [...clusters.keys()] }, 'countersign listening');

  let stopping: Promise<void> | undefined;
  let draining = false;
  const stop = (graceMs = config.timeouts.shutdownGrace) => (stopping ??= (async () => {
    draining = true;
    const closed = edge.stopAccepting();
    await Promise.all(checkers.map((c) => c.stop()));
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
    await closed;
    ticketWatch?.close();
    await certificates!.stop();
    minter?.stop();
    protocols.stop();
    metrics?.close();
    logger.info({ outcome: 'stopped', connectionsCut: left }, 'countersign stopped');
  })());

  const ready = (): Readiness => {
    const reasons: string[] = [];
    if (draining) reasons.push('draining: shutting down, not taking new connections');
    const certs = certificates!.store.list();
    if (!certs.some((c) => c.isDefault && c.notAfter)) reasons.push('no default server certificate loaded');
    for (const c of certs) if (!c.notAfter) reasons.push(`certificate ${c.names.join(',') || c.id}: not loaded yet${c.lastError ? ` (${c.lastError.message})` : ''}`);
    const now = Date.now();
    for (const [i, r] of config.routes.entries()) {
      const cluster = clusters.get(r.upstream)!;
      if (cluster.servers.some((s) => cluster.isEligible(s, now))) continue;
      const why = cluster.servers.map((s) => `${s.address} ${!s.healthy ? `unhealthy (${s.lastCheck?.reason ?? 'health check failed'})` : 'failing (passive)'}`);
      reasons.push(`routes[${i}] → upstream ${r.upstream}: no healthy server: ${why.join('; ')}`);
    }
    return { ready: reasons.length === 0, reasons };
  };

  const status = (): ProxyStatus => ({
    pid: process.pid,
    listen: `${address.host}:${address.port}`,
    draining,
    config: source ? { file: source.file, digest: source.digest, loadedAt: source.loadedAt.toISOString() } : undefined,
    startedAt: startedAt.toISOString(),
    certificates: certificates!.store.list().map((c) => ({
      id: c.id, source: c.source, names: c.names, isDefault: c.isDefault, subject: c.subject, issuer: c.issuer,
      notAfter: c.notAfter?.toISOString(), file: c.paths?.cert, lastError: c.lastError?.message,
    })),
    cas: cas.map((c) => ({ ...c, notAfter: c.notAfter.toISOString() })),
    upstreams: Object.fromEntries([...clusters.values()].map((c) => [c.name, {
      balance: config.upstreams[c.name].balance,
      servers: c.servers.map((s) => ({
        address: s.address, healthy: s.healthy, failing: s.failedUntil > Date.now(), active: s.active,
        lastCheck: s.lastCheck ? { ...s.lastCheck, at: s.lastCheck.at.toISOString() } : undefined,
      })),
    }])),
    delegation: minter ? (({ size, hits, misses, renewals }) => ({ cached: size, hits, misses, renewals }))(minter.stats()) : undefined,
  });

  return {
    address, stop, minter, certificates: certificates!, metrics, ready, status,
    reload: async (): Promise<ReloadOutcome> => {
      try {
        const tickets = reloadTicketKeys();
        const r = await certificates!.reload();
        cas = caCertificates(config);
        const outcome = r.failed.length || tickets === 'failed' ? 'partial' : 'ok';
        metrics?.reloads.inc({ outcome });
        logger.info({ outcome, reloaded: r.reloaded, failed: r.failed }, 'reload');
        return { ok: r.failed.length === 0 && tickets !== 'failed', outcome, sessionTicketKey: tickets, reloaded: r.reloaded, unchanged: r.unchanged, failed: r.failed };
      } catch (err) {
        metrics?.reloads.inc({ outcome: 'failed' });
        logger.error({ outcome: 'failed', reason: (err as Error).message }, 'reload failed');
        return { ok: false, outcome: 'failed', reason: (err as Error).message };
      }
    },
  };
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  let host = s.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(s.slice(i + 1)) };
}

/** Intermediates the client sent after its leaf, as DER. */
function peerChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let c = socket.getPeerCertificate(true) as import('node:tls').DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    if (seen.size > 1) out.push(c.raw);
    if (!c.issuerCertificate || c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  return out;
}
