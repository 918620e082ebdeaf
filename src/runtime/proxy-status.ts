/**
 * What GET /status and GET /readyz say of one process, from a snapshot of its
 * parts (pure functions: a test gives a generation and a certificate list, no
 * listener needed).
 */
import type { UpstreamPoolStats } from '../forward/index.js';
import type { CacheStats, ListenerStatus, RevocationSourceStatus, ServerCertificateStatus } from '../edge/index.js';
import type { Generation } from '../generation.js';
import { formatHostPort } from '../config/index.js';
import type { CaCertificateExpiry, Readiness } from '../observe/index.js';

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
  /**
   * What each bounded cache of this process holds and weighs: entries, its
   * bound, and estimated bytes (measured per entry; docs/performance.md).
   * `delegation` also has its memory budget (delegation.cacheMemoryMiB), which
   * evicts the least recently used first.
   */
  caches: {
    delegation?: CacheStats & { budgetBytes: number; pooledKeys: number };
    parsedClientCertificates: CacheStats;
    seenIntermediates: CacheStats;
  };
  /** http mode's upstream pool: leases, busy connections, connects and waiters are 0 when no request is in flight (all 0 without http mode) */
  http: UpstreamPoolStats;
}

/** The parts of a running proxy that its status is read from, as they are now. */
export interface StatusSnapshot {
  /** the main listener's address */
  address: { host: string; port: number };
  listeners: ListenerStatus[];
  draining: boolean;
  source?: { file: string; digest: string; loadedAt: Date };
  startedAt: Date;
  generation: Pick<Generation, 'number' | 'config' | 'clusters'>;
  certificates: ServerCertificateStatus[];
  cas: CaCertificateExpiry[];
  minter?: { size: number; hits: number; misses: number; renewals: number };
  /** every revocation source as it stands now */
  revocation: RevocationSourceStatus[];
  connections: ProxyStatus['connections'];
  caches: ProxyStatus['caches'];
  /** http mode's pool, once an http-mode route loaded it */
  http?: UpstreamPoolStats;
}

export function proxyStatus(now: StatusSnapshot, pid = process.pid): ProxyStatus {
  const { generation } = now;
  return {
    pid,
    listen: formatHostPort(now.address),
    listeners: now.listeners,
    draining: now.draining,
    config: now.source ? { file: now.source.file, digest: now.source.digest, loadedAt: now.source.loadedAt.toISOString() } : undefined,
    generation: generation.number,
    startedAt: now.startedAt.toISOString(),
    certificates: now.certificates.map((c) => ({
      id: c.id, source: c.source, names: c.names, isDefault: c.isDefault, subject: c.subject, issuer: c.issuer,
      notAfter: c.notAfter?.toISOString(), file: c.paths?.cert, lastError: c.lastError?.message,
    })),
    cas: now.cas.map((c) => ({ ...c, notAfter: c.notAfter.toISOString() })),
    upstreams: Object.fromEntries([...generation.clusters.values()].map((cluster) => [cluster.name, {
      balance: generation.config.upstreams[cluster.name].balance,
      servers: cluster.servers.map((s) => ({
        address: s.address, healthy: s.healthy, failing: s.failedUntil > Date.now(), active: s.active,
        lastCheck: s.lastCheck ? { ...s.lastCheck, at: s.lastCheck.at.toISOString() } : undefined,
      })),
    }])),
    delegation: now.minter ? { cached: now.minter.size, hits: now.minter.hits, misses: now.minter.misses, renewals: now.minter.renewals } : undefined,
    revocation: {
      onUnavailable: generation.config.edge.clientAuth.revocation.onUnavailable, graceMs: generation.config.edge.clientAuth.revocation.grace,
      sources: now.revocation.map((r) => ({ ...r, thisUpdate: r.thisUpdate?.toISOString(), nextUpdate: r.nextUpdate?.toISOString(), lastSuccess: r.lastSuccess?.toISOString() })),
    },
    connections: now.connections,
    caches: now.caches,
    http: now.http ?? { groups: 0, connections: 0, busy: 0, connecting: 0, leases: 0, waiting: 0 },
  };
}

/** Ready to take traffic: not draining, certificates loaded, revocation answers at hand, every route has a server to send to. */
export function proxyReadiness(now: Pick<StatusSnapshot, 'draining' | 'generation' | 'certificates' | 'revocation'>, at = Date.now()): Readiness {
  const reasons: string[] = [];
  if (now.draining) reasons.push('draining: shutting down, not taking new connections');
  if (!now.certificates.some((c) => c.isDefault && c.notAfter)) reasons.push('no default server certificate loaded');
  for (const c of now.certificates) if (!c.notAfter) reasons.push(`certificate ${c.names.join(',') || c.id}: not loaded yet${c.lastError ? ` (${c.lastError.message})` : ''}`);
  // a source whose clients are refused for want of a fresh answer (onUnavailable: refuse)
  if (now.generation.config.edge.clientAuth.revocation.onUnavailable === 'refuse') {
    for (const s of now.revocation) {
      if (s.state === 'stale') reasons.push(`revocation: the CRL of "${s.issuer}" from ${s.source} is past its nextUpdate (${s.nextUpdate?.toISOString()}) and edge.clientAuth.revocation.grace: the clients it covers are refused`);
      if (s.state === 'none') reasons.push(`revocation: nothing obtained from ${s.source} yet${s.lastError ? ` (${s.lastError})` : ''}: the clients it covers are refused`);
    }
  }
  for (const [i, route] of now.generation.config.routes.entries()) {
    const cluster = now.generation.clusters.get(route.upstream)!;
    if (cluster.servers.some((s) => cluster.isEligible(s, at))) continue;
    const why = cluster.servers.map((s) => `${s.address} ${!s.healthy ? `unhealthy (${s.lastCheck?.reason ?? 'health check failed'})` : 'failing (passive)'}`);
    reasons.push(`routes[${i}] → upstream ${route.upstream}: no healthy server: ${why.join('; ')}`);
  }
  return { ready: reasons.length === 0, reasons };
}
