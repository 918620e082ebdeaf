/**
 * Upstream HTTP connection pools, one per (upstream, identity): an upstream
 * connection authenticated as one client is never reused for another. Held in
 * an LRU so idle identities release their connections. Servers are picked by
 * the upstream cluster for each new connection (balance, health, failover).
 */
import { Pool, type Dispatcher } from 'undici';
import type { SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { UpstreamBinding } from './client-connection.js';

export interface IdentityPoolsOptions {
  /** max pools kept across identities; default 1000 */
  max?: number;
  /** keep-alive time of an idle upstream connection, ms; default 30 000 */
  keepAliveTimeoutMs?: number;
  /** time to wait for response headers, ms */
  headersTimeoutMs: number;
  /** time allowed between body chunks, ms */
  bodyTimeoutMs: number;
  /** connections per server per identity (a pool holds this many times the servers); default 16 */
  connectionsPerServer?: number;
}

export class IdentityPools {
  private readonly pools: LRUCache<string, Pool>;
  /** pools being closed by close(), kept so destroy() can still reach them */
  private readonly closing = new Set<Pool>();
  constructor(private readonly opts: IdentityPoolsOptions) {
    this.pools = new LRUCache({
      max: opts.max ?? 1000,
      dispose: (pool) => { pool.close().catch(() => pool.destroy().catch(() => {})); },
    });
  }

  get(binding: UpstreamBinding): Dispatcher {
    const { cluster } = binding;
    const key = `${cluster.name}\0${binding.identityKey}`;
    let pool = this.pools.get(key);
    if (pool) return pool;
    const first = cluster.servers[0];
    // The origin only names the pool: each new connection's server is picked by the
    // cluster (its balance policy, health, fail timeout, failover), as in connection mode.
    const origin = `https://${first.host.includes(':') ? `[${first.host}]` : first.host}:${first.port}`;
    pool = new Pool(origin, {
      connections: (this.opts.connectionsPerServer ?? 16) * cluster.servers.length,
      pipelining: 1,
      keepAliveTimeout: this.opts.keepAliveTimeoutMs ?? 30_000,
      headersTimeout: this.opts.headersTimeoutMs,
      bodyTimeout: this.opts.bodyTimeoutMs,
      // Our own connect: the identity's TLS context, and the configured servername
      // rather than undici's default of the Host header.
      connect: (_o, cb) => {
        let credentials: { context: SecureContext; sessions?: Map<string, Buffer> };
        try {
          // the credentials of now: a renewed minted certificate, not the one the pool started with
          credentials = binding.current ? binding.current() : binding;
        } catch (err) {
          cb(err as Error, null);
          return;
        }
        cluster.connect({ secureContext: credentials.context, alpn: ['http/1.1'], sessions: credentials.sessions, balanceKey: binding.balanceKey }).then(
          ({ socket, server }) => {
            socket.setNoDelay(true);
            server.active++;
            socket.once('close', () => { server.active--; });
            cb(null, socket);
          },
          (err: Error) => cb(err, null),
        );
      },
    });
    this.pools.set(key, pool);
    return pool;
  }

  get size(): number { return this.pools.size; }

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
