/**
 * Upstream HTTP connection pools, one per (upstream, identity): an upstream
 * connection authenticated as one client is never reused for another. Held in
 * an LRU so idle identities release their connections.
 */
import { BalancedPool, Pool, type Dispatcher } from 'undici';
import type { SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { UpstreamBinding } from './client-connection.js';
import { parseHostPort, type UpstreamServer } from './upstream-cluster.js';

export interface IdentityPoolsOptions {
  /** max pools kept across identities; default 1000 */
  max?: number;
  /** keep-alive time of an idle upstream connection, ms; default 30 000 */
  keepAliveTimeoutMs?: number;
  /** time to wait for response headers, ms */
  headersTimeoutMs: number;
  /** time allowed between body chunks, ms */
  bodyTimeoutMs: number;
  /** connections per server per identity; default 16 */
  connectionsPerServer?: number;
}

export class IdentityPools {
  private readonly pools: LRUCache<string, Pool | BalancedPool>;
  /** pools being closed by close(), kept so destroy() can still reach them */
  private readonly closing = new Set<Pool | BalancedPool>();
  constructor(private readonly opts: IdentityPoolsOptions) {
    this.pools = new LRUCache({
      max: opts.max ?? 1000,
      // A pool nobody used for its keep-alive time has no connection left worth
      // keeping: it is closed and forgotten (it holds an identity's TLS state).
      ttl: opts.keepAliveTimeoutMs ?? 30_000,
      updateAgeOnGet: true,
      ttlAutopurge: true,
      dispose: (pool) => { pool.close().catch(() => pool.destroy().catch(() => {})); },
    });
  }

  get(binding: UpstreamBinding): Dispatcher {
    const { cluster } = binding;
    const key = `${cluster.name}\0${binding.identityKey}`;
    let pool = this.pools.get(key);
    if (pool) return pool;
    const byOrigin = new Map<string, UpstreamServer>();
    for (const s of cluster.servers) byOrigin.set(`${s.host}:${s.port}`, s);
    const origins = cluster.servers.map((s) => `https://${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`);
    const options: Pool.Options = {
      connections: this.opts.connectionsPerServer ?? 16,
      pipelining: 1,
      keepAliveTimeout: this.opts.keepAliveTimeoutMs ?? 30_000,
      headersTimeout: this.opts.headersTimeoutMs,
      bodyTimeout: this.opts.bodyTimeoutMs,
      // Our own connect: the identity's TLS context, and the configured servername
      // rather than undici's default of the Host header.
      connect: (o, cb) => {
        const { host, port } = parseHostPort(`${o.hostname}:${o.port}`);
        const server = byOrigin.get(`${host}:${port}`);
        if (!server) { cb(new Error(`unknown upstream origin ${o.hostname}:${o.port}`), null); return; }
        let credentials: { context: SecureContext; sessions?: Map<string, Buffer> };
        try {
          // the credentials of now: a renewed minted certificate, not the one the pool started with
          credentials = binding.current ? binding.current() : binding;
        } catch (err) {
          cb(err as Error, null);
          return;
        }
        cluster.connectTo(server, { secureContext: credentials.context, alpn: ['http/1.1'], sessions: credentials.sessions }).then(
          (socket) => { socket.setNoDelay(true); cluster.markUp(server); cb(null, socket); },
          (err: Error) => { cluster.markFailed(server, Date.now(), err.message); cb(err, null); },
        );
      },
    };
    // one server needs no balancing layer in front of its pool
    pool = origins.length === 1 ? new Pool(origins[0], options) : new BalancedPool(origins, options);
    this.pools.set(key, pool);
    return pool;
  }

  get size(): number { return this.pools.size; }

  /** Destroys and forgets every pool of an identity, on every upstream. */
  forget(identityKey: string): void {
    for (const key of [...this.pools.keys()]) {
      if (key.slice(key.indexOf('\0') + 1) !== identityKey) continue;
      const pool = this.pools.get(key)!;
      this.pools.delete(key);
      pool.destroy().catch(() => {}); // its requests are not finished: the client is no longer trusted
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    for (const p of all) this.closing.add(p);
    this.pools.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }

  /** Destroys every pool, also those still closing (their requests outlived a graceful stop). */
  destroy(): void {
    for (const p of [...this.pools.values(), ...this.closing]) p.destroy().catch(() => {});
    this.pools.clear();
    this.closing.clear();
  }
}
