/**
 * The one upstream pool of http mode: keep-alive connections (HTTP/1.1) and
 * sessions (HTTP/2) per group, a group being (upstream generation, identity):
 * the cluster object a generation built and the identity a binding presents.
 * An upstream connection authenticated as one client is never used for
 * another, and a reload's new cluster of the same name never reaches the old
 * one's connections. Pingora's connection pool is the model: a group key that
 * includes the client certificate, and unit tests beside the pool
 * (test/unit/upstream-pool.test.ts).
 *
 * A request takes a **lease**: the server balancing picks (the cluster's
 * policy, health and fail timeout), then an idle connection of that server, an
 * HTTP/2 session with a free stream, a new connection — set up with connection
 * mode's connect race (connect-race.ts: the next server's connect starts when
 * one is slow, failover when one fails; nothing was sent, so it is safe) — or,
 * at the server's cap, the next connection released (first come, first
 * served). The lease owns the count of its server (`active`, which
 * least-connections balances on and /status shows) from the pick to its end;
 * nothing else touches it.
 *
 * Idle connections close after the keep-alive time; groups are held in an LRU
 * (`maxGroups`, least recently used closed first, and a group unused for the
 * keep-alive time is dropped); `forget` destroys an identity's connections
 * (its client was revoked), `retire` closes a replaced cluster's once their
 * requests are done.
 */
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { UpstreamBinding } from '../client-connection.js';
import { raceConnect } from '../connect-race.js';
import type { UpstreamCluster, UpstreamServer } from '../upstream-cluster.js';
import { UpstreamFailure } from './failures.js';

export type UpstreamProtocol = 'http/1.1' | 'h2';

/** An upstream connection as the pool keeps it (h1-upstream.ts, h2-upstream.ts). */
export interface PooledConnection {
  readonly protocol: UpstreamProtocol;
  readonly server: UpstreamServer;
  /** requests it may carry at once now: 1 for HTTP/1.1, the peer's stream limit for HTTP/2 */
  capacity(): number;
  /** the object a leased request is driven through: the connection itself (HTTP/1.1), a new stream (HTTP/2) */
  request(): import('./upstream-request.js').UpstreamRequest;
  /** requests it carries now (counted by the pool) */
  inFlight: number;
  /** requests it carried before this one (a reused HTTP/1.1 connection may have been closed by the server meanwhile) */
  uses: number;
  /** it may take another request once free (open, no GOAWAY, the last answer kept it alive) */
  reusable(): boolean;
  /** when its last request ended (ms since epoch; 0 while a request uses it): the pool's sweep closes it after the keep-alive time */
  idleSince: number;
  /** closes it once no request uses it (HTTP/2: GOAWAY) */
  close(): void;
  destroy(err?: Error): void;
  /** set by the pool: called once when the connection is gone (closed, failed, destroyed) */
  onGone: (() => void) | undefined;
}

/** Turns a connected socket into a pooled connection of the protocol its handshake negotiated. */
export type ConnectionFactory = (socket: TLSSocket, server: UpstreamServer, protocol: UpstreamProtocol) => PooledConnection;

export interface UpstreamPoolOptions {
  /** max groups (upstream generation, identity) kept: limits.agentsPerUpstream */
  maxGroups: number;
  /** an idle connection closes, and an unused group is dropped, after this long, ms */
  keepAliveTimeoutMs: number;
  /** connections per server per group; requests past that wait for one (HTTP/2 sessions count too) */
  maxConnectionsPerServer: number;
  /** idle HTTP/1.1 connections kept per server per group */
  maxIdlePerServer: number;
  connection: ConnectionFactory;
}

/** What a request asks of the pool: which group, and what protocol it can go over. */
export interface LeaseRequest {
  binding: UpstreamBinding;
  /** `http/1.1` or `h2` only, or `any` (offer both; an HTTP/2 session with room first) */
  protocol: UpstreamProtocol | 'any';
}

export type LeaseCallback = (err: UpstreamFailure | null, lease?: Lease) => void;

/**
 * One request's use of one upstream connection. Holds its server's `active`
 * count from the pick until `release`, `discard` or `detach` — exactly once.
 */
export class Lease {
  connection: PooledConnection | undefined;
  private ended = false;

  constructor(
    private readonly slot: ServerSlot,
    /** the server the request goes to (moves when the connect race is won by another) */
    public server: UpstreamServer,
  ) {
    server.active++;
    slot.group.pool.leases++;
  }

  /** the connection was used before: the server may have closed it meanwhile */
  get reused(): boolean { return (this.connection?.uses ?? 0) > 0; }

  /** Done with it: the connection goes back (or to the next waiter) when `reusable` and it says it can. */
  release(reusable = true): void {
    if (!this.end()) return;
    const c = this.connection;
    if (!c) return;
    this.connection = undefined;
    this.slot.group.slotOf(c.server).returned(c, reusable);
  }

  /** The connection is broken (or was cut for this request): destroyed, not reused. */
  discard(err?: Error): void {
    if (!this.end()) return;
    const c = this.connection;
    if (!c) return;
    this.connection = undefined;
    this.slot.group.slotOf(c.server).returned(c, false);
    c.destroy(err);
  }

  /** The connection leaves the pool with the request (an upgrade's tunnel): no longer counted or reused. */
  detach(): void {
    if (!this.end()) return;
    const c = this.connection;
    if (!c) return;
    this.connection = undefined;
    this.slot.group.slotOf(c.server).forgetConnection(c);
  }

  /** @internal the connect race was won by `server`, not the one picked */
  moveTo(server: UpstreamServer): void {
    if (server === this.server) return;
    this.server.active--;
    server.active++;
    this.server = server;
  }

  /** @internal no connection came (connect failed, group destroyed): the count goes */
  abandon(): void { this.end(); }

  private end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.server.active--;
    this.slot.group.pool.leases--;
    return true;
  }
}

interface Waiter { protocol: UpstreamProtocol | 'any'; lease: Lease; cb: LeaseCallback }

const accepts = (want: UpstreamProtocol | 'any', c: PooledConnection) => want === 'any' || want === c.protocol;

/** One group's connections to one server. */
class ServerSlot {
  /** idle HTTP/1.1 connections, most recently used last */
  readonly idle: PooledConnection[] = [];
  /** HTTP/2 sessions (idle or not): they take requests while they have room */
  readonly sessions: PooledConnection[] = [];
  /** every live connection of this slot, busy or idle, HTTP/1.1 or HTTP/2 */
  readonly connections = new Set<PooledConnection>();
  /** connects started and not finished */
  connecting = 0;
  /** of those, the ones that offered h2: requests that can go over HTTP/2 wait for their session rather than open more */
  h2Connecting = 0;
  readonly waiters: Waiter[] = [];

  constructor(readonly group: Group, readonly server: UpstreamServer) {}

  get open(): number { return this.connections.size + this.connecting; }

  /** A connection this slot has now for `want`, or undefined. */
  take(want: UpstreamProtocol | 'any'): PooledConnection | undefined {
    if (want !== 'http/1.1') {
      for (const s of this.sessions) if (s.reusable() && s.inFlight < s.capacity()) return s;
    }
    if (want !== 'h2') {
      while (this.idle.length) {
        const c = this.idle.pop()!;
        if (c.reusable()) return c;
        this.drop(c);
        c.destroy();
      }
    }
    return undefined;
  }

  /** `c` starts carrying one more request. */
  use(c: PooledConnection): void {
    if (c.inFlight === 0) { c.idleSince = 0; this.group.pool.busyConnections++; }
    c.inFlight++;
  }

  /** A new connection from the race: registered, then used by the lease. */
  adopt(c: PooledConnection): void {
    this.connections.add(c);
    this.group.pool.connections++;
    if (c.protocol === 'h2') this.sessions.push(c);
    c.onGone = () => this.gone(c);
  }

  /** A lease is done with `c`. */
  returned(c: PooledConnection, reusable: boolean): void {
    if (!this.connections.has(c)) return;
    c.inFlight--;
    c.uses++;
    if (c.inFlight === 0) this.group.pool.busyConnections--;
    const keep = reusable && c.reusable() && !this.group.destroyed;
    if (!keep) {
      if (c.protocol === 'http/1.1' || c.inFlight === 0) { this.drop(c); c.destroy(); }
      else c.close();
      this.serveWaiters();
      return;
    }
    // straight to the first waiter it suits
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      if (!accepts(w.protocol, c)) continue;
      this.waiters.splice(i, 1);
      this.give(w, c);
      if (c.protocol === 'http/1.1' || c.inFlight >= c.capacity()) return;
      i--;
    }
    if (c.inFlight > 0) return;
    if (this.group.closed) { this.drop(c); c.close(); return; }
    if (c.protocol === 'http/1.1') {
      if (this.idle.length >= this.group.pool.opts.maxIdlePerServer) { this.drop(c); c.destroy(); return; }
      this.idle.push(c);
    }
    c.idleSince = Date.now();
  }

  /** `c` leaves the pool with its request (a tunnel): it is the request's now. */
  forgetConnection(c: PooledConnection): void {
    if (!this.connections.has(c)) return;
    c.inFlight--;
    if (c.inFlight === 0) this.group.pool.busyConnections--;
    this.drop(c);
    c.onGone = undefined;
    this.serveWaiters();
  }

  give(w: Waiter, c: PooledConnection): void {
    w.lease.moveTo(c.server);
    w.lease.connection = c;
    this.use(c);
    w.cb(null, w.lease);
  }

  /** A connection went on its own (closed by the server, timed out, failed). */
  private gone(c: PooledConnection): void {
    if (!this.connections.has(c)) return;
    this.drop(c);
    this.serveWaiters();
  }

  drop(c: PooledConnection): void {
    if (!this.connections.delete(c)) return;
    this.group.pool.connections--;
    // requests still on it end with it (their leases end on their own)
    if (c.inFlight > 0) { this.group.pool.busyConnections--; c.inFlight = 0; }
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    const j = this.sessions.indexOf(c);
    if (j !== -1) this.sessions.splice(j, 1);
    if (this.group.closed) this.group.pool.finished(this.group);
  }

  /** A slot came free (a connection went, or one that was full has room): waiters get a connection or a connect. */
  serveWaiters(): void {
    while (this.waiters.length) {
      const w = this.waiters[0];
      const c = this.take(w.protocol);
      if (c) { this.waiters.shift(); this.give(w, c); continue; }
      if (this.open >= this.group.pool.opts.maxConnectionsPerServer || (w.protocol !== 'http/1.1' && this.h2Connecting > 0)) return;
      this.waiters.shift();
      this.group.connect(w, new Set(), this.server);
    }
  }
}

/** One (upstream generation, identity): its slots per server. */
class Group {
  readonly slots = new Map<UpstreamServer, ServerSlot>();
  /** when the LRU last saw this group used (Date.now()): its idle clock is reset at most once per GROUP_TOUCH_MS */
  touchedAt = 0;
  /** no new idle connections (evicted, retired, graceful stop) */
  closed = false;
  destroyed = false;

  constructor(readonly pool: UpstreamPool, public binding: UpstreamBinding) {}

  slotOf(server: UpstreamServer): ServerSlot {
    let s = this.slots.get(server);
    if (!s) { s = new ServerSlot(this, server); this.slots.set(server, s); }
    return s;
  }

  lease(want: UpstreamProtocol | 'any', cb: LeaseCallback): void {
    const { cluster, balanceKey } = this.binding;
    const server = cluster.pick(undefined, Date.now(), balanceKey)!;
    const slot = this.slotOf(server);
    const lease = new Lease(slot, server);
    const c = slot.take(want);
    if (c) { lease.connection = c; slot.use(c); cb(null, lease); return; }
    const w: Waiter = { protocol: want, lease, cb };
    if (slot.open >= this.pool.opts.maxConnectionsPerServer || (want !== 'http/1.1' && slot.h2Connecting > 0)) { slot.waiters.push(w); return; }
    this.connect(w, new Set(), server);
  }

  /**
   * A new connection for waiter `w`, starting with `first` (then the others
   * the cluster picks, as the connect race goes): the first handshake to
   * complete serves it. A failure of all is the waiter's error.
   */
  connect(w: Waiter, tried: Set<UpstreamServer>, first: UpstreamServer): void {
    const { cluster, balanceKey } = this.binding;
    let credentials: { context: import('node:tls').SecureContext; sessions?: Map<string, Buffer> };
    try {
      // the credentials of now: a renewed minted certificate, not the one the binding started with
      credentials = this.binding.current ? this.binding.current() : this.binding;
    } catch (err) {
      w.lease.abandon();
      w.cb(UpstreamFailure.from(err, 'ERR_UPSTREAM_UNAVAILABLE'));
      return;
    }
    const alpn = w.protocol === 'any' ? ['h2', 'http/1.1'] : [w.protocol];
    let winner = false;
    raceConnect<UpstreamServer>({
      // the server balancing picked first, then the others the cluster picks (healthy first)
      pick: (attempted) => (!attempted.has(first) && !tried.has(first) ? first : cluster.pick(new Set([...tried, ...attempted]), Date.now(), balanceKey)),
      attempt: (server) => {
        const slot = this.slotOf(server);
        const h2 = alpn.includes('h2');
        slot.connecting++;
        if (h2) slot.h2Connecting++;
        this.pool.connecting++;
        const settle = () => { slot.connecting--; if (h2) slot.h2Connecting--; this.pool.connecting--; };
        return cluster.attempt(server, { secureContext: credentials.context, alpn, sessions: credentials.sessions, presenting: this.binding.presenting }).then(
          (socket) => {
            settle();
            // a loser of the race: raceConnect closes it
            if (winner) { slot.serveWaiters(); return socket; }
            winner = true;
            return socket;
          },
          (err: Error) => { settle(); slot.serveWaiters(); throw err; },
        );
      },
      raceDelayMs: cluster.connectRaceMs,
      failed: () => {},
      succeeded: () => {},
    }).then(({ socket, server }) => {
      const slot = this.slotOf(server);
      if (this.destroyed) {
        socket.destroy();
        w.lease.abandon();
        w.cb(forgotten());
        slot.serveWaiters();
        return;
      }
      const protocol: UpstreamProtocol = socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1';
      socket.setNoDelay(true);
      const c = this.pool.opts.connection(socket, server, protocol);
      slot.adopt(c);
      slot.give(w, c);
      // an HTTP/2 session has room for more: the server's other waiters
      if (protocol === 'h2') slot.serveWaiters();
    }, (err: Error) => {
      w.lease.abandon();
      w.cb(UpstreamFailure.from(err, 'ERR_UPSTREAM_UNAVAILABLE'));
    });
  }

  /** Idle connections close now, busy ones when their request is done; no new idle ones. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots.values()) {
      for (const c of [...slot.connections]) if (c.inFlight === 0) { slot.drop(c); c.close(); }
    }
  }

  /** Every connection destroyed, waiters failed (the identity is no longer trusted, or the pool stops). */
  destroy(): void {
    this.destroyed = true;
    this.closed = true;
    for (const slot of this.slots.values()) {
      for (const w of slot.waiters.splice(0)) { w.lease.abandon(); w.cb(forgotten()); }
      for (const c of [...slot.connections]) { slot.drop(c); c.destroy(forgotten()); }
    }
  }

  /** nothing left: no connection, connect or waiter */
  get empty(): boolean {
    for (const slot of this.slots.values()) if (slot.connecting || slot.waiters.length || slot.connections.size) return false;
    return true;
  }
}

const forgotten = () => new UpstreamFailure('ERR_UPSTREAM_FORGOTTEN', 'the upstream connections of this identity were closed (its client is no longer trusted, or the proxy stops)');

/** Counts of the pool, for /status and the load tests (they end at zero but for idle connections). */
export interface UpstreamPoolStats {
  groups: number;
  /** live connections (HTTP/1.1 connections and HTTP/2 sessions) */
  connections: number;
  /** of those, carrying a request now */
  busy: number;
  connecting: number;
  leases: number;
  waiting: number;
}

/** how often a busy group's LRU entry is touched (its age reset): well under keepAliveTimeoutMs, its TTL */
const GROUP_TOUCH_MS = 1000;

export class UpstreamPool {
  private readonly groups: LRUCache<string, Group>;
  /**
   * The group a binding (a connection's identity on a route) last leased
   * from, so that a keep-alive connection's requests skip building the key and
   * the LRU lookup: used while the group is open (evicted, expired, retired
   * and forgotten groups are closed) and touched in the LRU once a second.
   */
  private readonly byBinding = new WeakMap<UpstreamBinding, Group>();
  /** groups closed (evicted, retired, stopping) whose busy connections are still finishing */
  private readonly closing = new Set<Group>();
  /** @internal counters kept by the slots and leases */
  connections = 0;
  busyConnections = 0;
  connecting = 0;
  leases = 0;

  /** closes connections idle for the keep-alive time: one timer for the pool, not one per connection */
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly opts: UpstreamPoolOptions) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.floor(opts.keepAliveTimeoutMs / 4)));
    this.sweeper.unref();
    this.groups = new LRUCache({
      max: opts.maxGroups,
      ttl: opts.keepAliveTimeoutMs,
      updateAgeOnGet: true,
      ttlAutopurge: true,
      dispose: (g, _key, reason) => {
        // replaced by set() for the same key never happens (one group a key); evicted or expired: closed
        if (reason === 'delete' && g.destroyed) return;
        this.retireGroup(g);
      },
    });
  }

  /** A connection (or HTTP/2 stream) for one request of `binding`'s group; `cb` is called once. */
  lease(r: LeaseRequest, cb: LeaseCallback): void {
    const now = Date.now();
    const memo = this.byBinding.get(r.binding);
    if (memo && !memo.closed && now - memo.touchedAt < GROUP_TOUCH_MS) { memo.lease(r.protocol, cb); return; }
    const key = `${r.binding.cluster.id}\0${r.binding.identityKey}`;
    let g = this.groups.get(key);
    if (!g) {
      g = new Group(this, r.binding);
      this.groups.set(key, g);
    } else if (g.binding !== r.binding) {
      // the same group from another connection: its credentials are equivalent; keep the latest for new connects
      g.binding = r.binding;
    }
    g.touchedAt = now;
    this.byBinding.set(r.binding, g);
    g.lease(r.protocol, cb);
  }

  /** Destroys every connection of an identity (idle and busy), on every upstream. */
  forget(identityKey: string): void {
    for (const [key, g] of [...this.groups.entries()]) {
      if (key.slice(key.indexOf('\0') + 1) !== identityKey) continue;
      g.destroy();
      this.groups.delete(key);
    }
    for (const g of this.closing) if (g.binding.identityKey === identityKey) { g.destroy(); this.closing.delete(g); }
  }

  /** A reload replaced this cluster: its idle connections close, busy ones when their request is done. */
  retire(cluster: UpstreamCluster): void {
    const prefix = `${cluster.id}\0`;
    for (const key of [...this.groups.keys()]) if (key.startsWith(prefix)) this.groups.delete(key);
  }

  /** Closes idle connections; busy ones close when their request is done (graceful stop). */
  close(): void {
    this.groups.clear();
  }

  /** Destroys everything, also what is still finishing. */
  destroy(): void {
    clearInterval(this.sweeper);
    for (const g of [...this.groups.values(), ...this.closing]) g.destroy();
    this.closing.clear();
    this.groups.clear();
  }

  stats(): UpstreamPoolStats {
    let waiting = 0;
    for (const g of [...this.groups.values(), ...this.closing]) for (const s of g.slots.values()) waiting += s.waiters.length;
    return { groups: this.groups.size, connections: this.connections, busy: this.busyConnections, connecting: this.connecting, leases: this.leases, waiting };
  }

  /** Idle connections past the keep-alive time close (between it and 1¼ of it). */
  private sweep(): void {
    const now = Date.now();
    for (const g of [...this.groups.values(), ...this.closing]) {
      for (const slot of g.slots.values()) {
        for (const c of [...slot.connections]) {
          if (c.inFlight === 0 && c.idleSince > 0 && now - c.idleSince >= this.opts.keepAliveTimeoutMs) { slot.drop(c); c.close(); }
        }
      }
    }
  }

  private retireGroup(g: Group): void {
    g.close();
    if (!g.empty) this.closing.add(g);
  }

  /** @internal a closed group lost a connection: forgotten once nothing is left */
  finished(g: Group): void {
    if (g.empty) this.closing.delete(g);
  }
}
