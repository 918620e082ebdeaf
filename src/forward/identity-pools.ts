/**
 * Upstream HTTP connection pools, one per (upstream, identity, server): an
 * upstream connection authenticated as one client is never reused for another.
 * Each request's server is picked by the upstream cluster — its balance policy
 * (identity-hash included), active health and fail timeout — the same logic as
 * connection mode; a request whose connection could not be set up is sent to
 * the next server (nothing was sent yet, so it is safe). Held in an LRU so idle
 * identities release their connections.
 */
import { Pool, type Dispatcher } from 'undici';
import type { SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { UpstreamBinding } from './client-connection.js';
import type { HandshakeDiagnosis } from './upstream-diagnosis.js';
import type { UpstreamCluster, UpstreamServer } from './upstream-cluster.js';

export interface IdentityPoolsOptions {
  /** max identities whose pools are kept (limits.agentsPerUpstream; its default is the schema's) */
  max: number;
  /** keep-alive time of an idle upstream connection, ms; default 30 000 */
  keepAliveTimeoutMs?: number;
  /** time to wait for response headers, ms */
  headersTimeoutMs: number;
  /** time allowed between body chunks, ms */
  bodyTimeoutMs: number;
  /** connections per server per identity; default 16 */
  connectionsPerServer?: number;
}

/** What the http forwarder dispatches requests to. */
export interface UpstreamDispatcher {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
}

/** how long a server's last diagnosed refusal explains an undici socket error on it */
const REFUSAL_MEMORY_MS = 2000;

/** marks the errors of our connect function: the request never left, it may go elsewhere */
const CONNECT_FAILED = Symbol('countersign.connectFailed');

export class IdentityPools {
  private readonly identities: LRUCache<string, IdentityDispatcher>;
  /** identities being closed by close(), kept so destroy() can still reach them */
  private readonly closing = new Set<IdentityDispatcher>();
  constructor(private readonly opts: IdentityPoolsOptions) {
    this.identities = new LRUCache({
      max: opts.max,
      // An identity nobody used for its keep-alive time has no connection left
      // worth keeping: it is closed and forgotten (it holds an identity's TLS state).
      ttl: opts.keepAliveTimeoutMs ?? 30_000,
      updateAgeOnGet: true,
      ttlAutopurge: true,
      dispose: (d) => { d.close().catch(() => d.destroy()); },
    });
  }


  get(binding: UpstreamBinding): UpstreamDispatcher {
    const key = `${binding.cluster.id}\0${binding.identityKey}`;
    let d = this.identities.get(key);
    if (!d) {
      d = new IdentityDispatcher(binding, this.opts);
      this.identities.set(key, d);
    }
    return d;
  }

  get size(): number { return this.identities.size; }

  /** Destroys and forgets every pool of an identity, on every upstream. */
  forget(identityKey: string): void {
    for (const key of [...this.identities.keys()]) {
      if (key.slice(key.indexOf('\0') + 1) !== identityKey) continue;
      const d = this.identities.get(key)!;
      this.identities.delete(key); // (dispose closes it; destroy below cuts what is still running)
      d.destroy(); // its requests are not finished: the client is no longer trusted
    }
  }

  /** Closes every pool of a cluster (replaced by a reload): requests in flight finish first, new ones never come. */
  retire(cluster: UpstreamCluster): void {
    const id = cluster.id;
    const prefix = `${id}\0`;
    for (const key of [...this.identities.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const d = this.identities.get(key)!;
      this.closing.add(d);
      this.identities.delete(key); // dispose closes it gracefully
      d.close().finally(() => this.closing.delete(d)).catch(() => {});
    }
  }

  async close(): Promise<void> {
    const all = [...this.identities.values()];
    for (const d of all) this.closing.add(d);
    this.identities.clear();
    await Promise.allSettled(all.map((d) => d.close()));
  }

  /** Destroys every pool, also those still closing (their requests outlived a graceful stop). */
  destroy(): void {
    for (const d of [...this.identities.values(), ...this.closing]) d.destroy();
    this.identities.clear();
    this.closing.clear();
  }
}

/** One identity's pools, one per server, created on first use. */
class IdentityDispatcher implements UpstreamDispatcher {
  private readonly pools = new Map<UpstreamServer, Pool>();
  constructor(private readonly binding: UpstreamBinding, private readonly opts: IdentityPoolsOptions) {}

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, tried = new Set<UpstreamServer>()): boolean {
    const { cluster, balanceKey } = this.binding;
    const server = cluster.pick(tried, Date.now(), balanceKey)!;
    tried.add(server);
    server.active++;
    let released = false;
    const release = () => { if (!released) { released = true; server.active--; } };
    const retry = (err: Error & { diagnosis?: HandshakeDiagnosis }): boolean => {
      // undici reports a TLS 1.3 refusal of our client certificate as "other side
      // closed"; the socket's alert was diagnosed on the server a moment ago
      const refusal = server.lastRefusal;
      if (!err.diagnosis && refusal && Date.now() - refusal.at < REFUSAL_MEMORY_MS && (err as { code?: string }).code === 'UND_ERR_SOCKET') err.diagnosis = refusal.diagnosis;
      const body = options.body as { readableDidRead?: boolean } | null | undefined;
      const untouched = body == null || (typeof body === 'object' && 'readableDidRead' in body && !body.readableDidRead);
      if (!(err as { [CONNECT_FAILED]?: boolean })[CONNECT_FAILED] || !untouched || tried.size >= cluster.servers.length) return false;
      this.dispatch(options, handler, tried);
      return true;
    };
    return this.poolFor(server).dispatch(options, new ConnectFailover(handler, release, retry));
  }

  private poolFor(server: UpstreamServer): Pool {
    let pool = this.pools.get(server);
    if (pool) return pool;
    const { cluster } = this.binding;
    const binding = this.binding;
    pool = new Pool(`https://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`, {
      connections: this.opts.connectionsPerServer ?? 16,
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
        cluster.attempt(server, { secureContext: credentials.context, alpn: ['http/1.1'], sessions: credentials.sessions, presenting: binding.presenting }).then(
          (socket) => { socket.setNoDelay(true); cb(null, socket); },
          (err: Error) => cb(Object.assign(err, { [CONNECT_FAILED]: true }), null),
        );
      },
    });
    this.pools.set(server, pool);
    return pool;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
  }

  destroy(): void {
    for (const p of this.pools.values()) p.destroy().catch(() => {});
  }
}

/**
 * Passes everything to the real handler, except a connect failure before any
 * answer: that request is given to `retry` (another server), if it takes it.
 */
class ConnectFailover implements Dispatcher.DispatchHandler {
  private answered = false;
  constructor(private readonly inner: Dispatcher.DispatchHandler, private readonly release: () => void, private readonly retry: (err: Error) => boolean) {}

  onRequestStart(c: Dispatcher.DispatchController, context: unknown): void { this.inner.onRequestStart?.(c, context); }
  onRequestUpgrade(c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, socket: import('node:stream').Duplex): void {
    this.answered = true;
    this.release();
    this.inner.onRequestUpgrade?.(c, status, headers, socket);
  }
  onResponseStart(c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    this.answered = true;
    this.inner.onResponseStart?.(c, status, headers, message ?? '');
  }
  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void { this.inner.onResponseData?.(c, chunk); }
  onResponseEnd(c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.release();
    this.inner.onResponseEnd?.(c, trailers);
  }
  onResponseError(c: Dispatcher.DispatchController, err: Error): void {
    this.release();
    if (!this.answered && this.retry(err)) return;
    this.inner.onResponseError?.(c, err);
  }
}
