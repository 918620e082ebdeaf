/**
 * One generation of the proxy: everything built from one validated config
 * that decides where a connection or request goes and as whom — the router,
 * the upstream clusters (with what they speak and their health checks), the
 * client verifier (its deny list), the access rules and the identity binder. The edge and the
 * http engine read the current generation through one reference; a reload
 * builds the next one completely and swaps that reference (proxy.ts). An open
 * connection keeps the generation it started with (its route, cluster and
 * binding); the old generation stops once it is no longer current, which ends
 * its health checks and probes but not the connections still using it.
 *
 * What outlives generations (listener, certificate store, minter, upstream
 * pools) is owned by proxy.ts; the settings behind it need a restart
 * (config/reload-diff.ts names them).
 */
import { cidrMatcher, listenersOf, type Config } from './config/index.js';
import { AccessRules, ClientVerifier, type AdmissionPolicy, type ClientTrust, type RevocationHooks, type SeenIntermediates } from './edge/index.js';
import {
  createUpstreamProtocols, HealthChecker, IdentityBinder, readUpstreamFiles, Router, UpstreamCluster,
  type BindUpstream, type CredentialSource, type RequestRouting, type UpstreamFiles, type UpstreamProtocols,
} from './forward/index.js';
import type { Logger } from './observe/index.js';
import { readFileSync } from 'node:fs';

/** ALPN protocols of http mode, and the default of connection-mode upstreams and health checks */
export const HTTP_ALPN = ['h2', 'http/1.1'];

export interface GenerationOptions {
  config: Config;
  logger: Logger;
  /** 1 for the config the proxy started with, then one more per applied reload */
  number: number;
  /** the delegation minter (it outlives generations: its cache is per identity, not per config) */
  minter?: CredentialSource;
  /** the client trust of now (the certificate store's CAs and CRLs) */
  trust: () => ClientTrust;
  /** intermediates seen in clients' verified paths (outlives generations; resumed sessions carry only the leaf) */
  intermediates?: SeenIntermediates;
  /** revocation sources besides the CRL files (distribution points, OCSP): they outlive generations */
  revocation?: RevocationHooks;
  /**
   * The generation this one replaces: a server that stays in an upstream whose
   * settings (other than its server list) did not change keeps what is known of
   * it — unhealthy by the checks, or in its fail timeout — rather than being
   * tried again as if new.
   */
  previous?: Pick<Generation, 'config' | 'clusters'>;
  /** the upstream CA bundles and proxy certificates, already read (a reload reads them first, to compare); default: read here */
  files?: UpstreamFiles;
}

export interface Generation extends RequestRouting {
  readonly number: number;
  readonly config: Config;
  readonly router: Router;
  readonly clusters: ReadonlyMap<string, UpstreamCluster>;
  /** the upstream CA bundles and proxy certificates this generation was built from, with their digests */
  readonly files: UpstreamFiles;
  readonly protocols: UpstreamProtocols;
  readonly verifier: ClientVerifier;
  /** the access rules (`routes[].allow`, `edge.allow`) of this config */
  readonly access: AccessRules;
  readonly binder: IdentityBinder;
  /** what the edge admits connections by: the verifier, and the access rule of the connection-mode route a connection leads to */
  readonly admission: AdmissionPolicy;
  /** binder.bind: a connection's or request's upstream binding */
  readonly bind: BindUpstream;
  /** starts the active health checks (once the generation is current) */
  start(): void;
  /** stops health checks and ALPN probes; connections using the generation are left alone */
  stop(): Promise<void>;
}

/** Builds a whole generation; throws (and leaves nothing running) if any part cannot be built. */
export async function buildGeneration({ config, logger, number, minter, trust, intermediates, revocation, previous, files = readUpstreamFiles(config) }: GenerationOptions): Promise<Generation> {
  const clusters = new Map<string, UpstreamCluster>();
  for (const [name, u] of Object.entries(config.upstreams)) {
    clusters.set(name, new UpstreamCluster({
      name, servers: u.servers, caPem: files.caPem.get(name)!, servername: u.servername, minVersion: u.minVersion,
      balance: u.balance, connectTimeoutMs: u.connectTimeout, failTimeoutMs: u.failTimeout, starttls: u.starttls,
      connectRaceMs: u.connectRace,
      onStateChange: (server, state, d) => logger.warn({ upstream: name, server: server.address, state, reason: d.reason, retryInMs: d.retryInMs, failures: d.failures }, `upstream server ${state}`),
    }));
  }
  if (previous) carryServerState(previous, config, clusters);
  const binder = new IdentityBinder({
    routes: config.routes, upstreams: config.upstreams, clusters, minter, proxyCerts: files.proxyCerts,
    delegationCaCert: config.delegation && readFileSync(config.delegation.ca.cert),
  });
  const router = new Router(config.routes, listenersOf(config).map((l) => l.name));
  const access = new AccessRules(config);
  const verifier = new ClientVerifier({
    mode: config.edge.clientAuth.mode, deny: config.edge.deny, maxChainDepth: config.edge.clientAuth.maxChainDepth, trust, intermediates,
    revocation: { graceMs: config.edge.clientAuth.revocation.grace, onUnavailable: config.edge.clientAuth.revocation.onUnavailable, ...revocation },
  });
  // what each upstream speaks (ALPN): learned by probes unless `alpn` overrides it
  const protocols = createUpstreamProtocols({ config, clusters, logger });
  try {
    await protocols.ready;
  } catch (err) {
    protocols.stop();
    throw err;
  }
  // Active health checks present the route's proxy certificate when one exists, else none.
  const checkers: HealthChecker[] = [];
  for (const [name, u] of Object.entries(config.upstreams)) {
    if (!u.health) continue;
    const cluster = clusters.get(name)!;
    const context = binder.healthContext(name);
    checkers.push(new HealthChecker({
      cluster,
      check: { type: u.health.type, intervalMs: u.health.interval, timeoutMs: u.health.timeout, path: u.health.path, expectStatus: u.health.expectStatus, unhealthyAfter: u.health.unhealthyAfter, healthyAfter: u.health.healthyAfter },
      secureContext: () => context ?? cluster.anonymous(),
      alpn: u.alpn ?? HTTP_ALPN,
      host: u.servername,
      logger: logger.child({ component: 'health' }),
    }));
  }
  let started = false;
  return {
    number, config, router, clusters, files, protocols, verifier, access, binder, bind: binder.bind,
    admission: {
      verifier,
      connectionRule: (conn) => {
        const route = router.forConnection(conn.sni, conn.listener)?.primary;
        // http routes: the rule of the route each request goes to (forward); an anonymous client on a
        // route that takes none is refused by forward as such ('no certificate')
        if (!route || route.mode !== 'connection' || (!conn.client && !route.allowAnonymous)) return undefined;
        return access.refusedBy(route, conn.client, conn.namesVouched);
      },
    },
    refusedBy: (route, conn) => access.refusedBy(route, conn.client, conn.namesVouched),
    extraIdentityHeaders: config.routes.flatMap((r) => (r.headerName ? [r.headerName.toLowerCase()] : [])),
    trustedProxies: config.http.trustedProxies?.length ? cidrMatcher(config.http.trustedProxies) : undefined,
    upstreamHttp2: (upstream) => config.upstreams[upstream]?.http2 ?? 'auto',
    start: () => { if (started) return; started = true; for (const c of checkers) c.start(); },
    stop: async () => {
      await Promise.all(checkers.map((c) => c.stop()));
      protocols.stop();
    },
  };
}

/** Health and fail-timeout state of the servers that stay, in upstreams whose settings besides `servers` are unchanged. */
function carryServerState(previous: Pick<Generation, 'config' | 'clusters'>, config: Config, clusters: ReadonlyMap<string, UpstreamCluster>): void {
  const settings = (u: Config['upstreams'][string]) => JSON.stringify({ ...u, servers: undefined });
  for (const [name, cluster] of clusters) {
    const before = previous.config.upstreams[name];
    const old = previous.clusters.get(name);
    // a CA rotated in place is a change of settings too: what the checks knew was verified with the old one
    if (!before || !old || settings(before) !== settings(config.upstreams[name]) || old.tlsDigest !== cluster.tlsDigest) continue;
    for (const s of cluster.servers) {
      const o = old.servers.find((x) => x.address === s.address);
      if (!o) continue;
      s.healthy = o.healthy;
      s.lastCheck = o.lastCheck;
      s.failedUntil = o.failedUntil;
    }
  }
}
