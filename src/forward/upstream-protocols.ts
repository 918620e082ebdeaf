/**
 * Which ALPN protocol the edge negotiates for a connection-mode route, and
 * what is then offered to and expected from the upstream: per upstream either
 * the configured `alpn` override or an AlpnCatalog learned from the servers.
 */
import { isIP } from 'node:net';
import { isServerFirst, type Config, type UpstreamConfig } from '../config/index.js';
import type { Logger } from '../observe/index.js';
import { buildProxyHeader } from '../edge/index.js';
import { AlpnCatalog, type ProbeTarget } from './upstream-alpn.js';
import type { UpstreamCluster } from './upstream-cluster.js';
import { dialUpstream } from './upstream-preamble.js';

export interface UpstreamProtocols {
  /** resolves when every server was probed once (each probe is bounded by connectTimeout) */
  ready: Promise<void>;
  /** the protocol the edge picks from what a client offers; undefined: negotiate none */
  select(upstream: string, offered: string[]): string | undefined;
  /** what to offer upstream, and what the upstream must answer, for the client's protocol */
  upstreamAlpn(upstream: string, clientAlpn: string | undefined): { alpn?: string; expectAlpn: string | false };
  /** the upstream answered another protocol than the client got: learn again */
  mismatch(upstream: string, server?: string): void;
  /** probe one server again (e.g. after a health check saw it come back) */
  probe(upstream: string, server: string): Promise<void>;
  /** what each server is known to speak (undefined: not known), for status and `check --connect` */
  known(upstream: string): Record<string, string[] | undefined> | undefined;
  stop(): void;
}

/** How a server of upstream `name` is probed (its preamble and PROXY header included). */
export function probeTarget(name: string, u: UpstreamConfig, s: { host: string; port: number; address: string }): ProbeTarget {
  return {
    host: s.host, port: s.port,
    servername: u.servername ?? (isIP(s.host) ? undefined : s.host),
    minVersion: u.minVersion,
    timeoutMs: u.connectTimeout,
    dial: u.starttls || u.proxyProtocol
      ? (onSocket) => dialUpstream({
        host: s.host, port: s.port, what: `upstream ${name} ${s.address}`, starttls: u.starttls,
        // a probe is the proxy's own connection: LOCAL (v2) / UNKNOWN (v1)
        proxyHeader: u.proxyProtocol ? buildProxyHeader(u.proxyProtocol, undefined, undefined) : undefined,
      }, onSocket)
      : undefined,
  };
}

export function createUpstreamProtocols({ config, clusters, logger }: { config: Config; clusters: Map<string, UpstreamCluster>; logger: Logger }): UpstreamProtocols {
  const catalogs = new Map<string, AlpnCatalog>();
  const probedOnce = new Set<string>();
  for (const [name, u] of Object.entries(config.upstreams)) {
    // where the server speaks first there is no ALPN to learn (and each probe would cost the server a connection)
    if (u.alpn || isServerFirst(u.starttls)) continue;
    const cluster = clusters.get(name)!;
    catalogs.set(name, new AlpnCatalog({
      name,
      servers: cluster.servers,
      implied: u.starttls === 'postgres' ? ['postgresql'] : [],
      // a mismatch re-probes at most once a second per server
      minReprobeMs: 1000,
      target: (s) => probeTarget(name, u, s),
      onLearned: (server, speaks, previous) => {
        const key = `${name}\0${server}`;
        if (speaks === undefined) {
          logger.warn({ upstream: name, server, outcome: 'unknown', reason: 'probe handshake failed', hint: `the edge negotiates no ALPN for this upstream until a probe answers; set upstreams.${name}.alpn to override` }, 'upstream protocols not learned');
        } else {
          logger.info({ upstream: name, server, alpn: speaks, previous: probedOnce.has(key) ? previous : undefined }, 'upstream protocols learned');
        }
        probedOnce.add(key);
      },
    }));
  }
  const ready = Promise.all([...catalogs.values()].map((c) => c.probeAll())).then(() => {});
  // servers still unknown (down at start) are asked again until they answer
  const timer = setInterval(() => {
    for (const [name, c] of catalogs) for (const s of clusters.get(name)!.servers) if (c.unknown(s.address)) void c.probe(s.address);
  }, 10_000);
  timer.unref();

  const speaks = (upstream: string): string[] => config.upstreams[upstream].alpn ?? catalogs.get(upstream)?.common() ?? [];
  return {
    ready,
    select(upstream, offered) {
      catalogs.get(upstream)?.noteOffered(offered);
      const s = speaks(upstream);
      return s.find((p) => offered.includes(p));
    },
    upstreamAlpn(upstream, clientAlpn) {
      // behind a pre-TLS request (PostgreSQL SSLRequest, a MySQL or NATS greeting) the protocol is known: no ALPN upstream
      if (config.upstreams[upstream].starttls) return { alpn: undefined, expectAlpn: false };
      return { alpn: clientAlpn, expectAlpn: clientAlpn ?? false };
    },
    mismatch(upstream, server) {
      const c = catalogs.get(upstream);
      if (!c) return;
      for (const s of clusters.get(upstream)!.servers) if (!server || s.address === server) void c.probe(s.address);
    },
    probe: (upstream, server) => catalogs.get(upstream)?.probe(server) ?? Promise.resolve(),
    known(upstream) {
      const c = catalogs.get(upstream);
      if (!c) return undefined;
      return Object.fromEntries(clusters.get(upstream)!.servers.map((s) => [s.address, c.speaks(s.address)]));
    },
    stop: () => clearInterval(timer),
  };
}
