/**
 * The relay's upstream connections: keep-alive TLS connections per (upstream,
 * identity, server), opened with the identity's credentials of now through
 * UpstreamCluster.attempt() (balancing, passive health, connect events), as
 * identity-pools.ts does for undici. An upstream connection authenticated as
 * one client is never used for another. Identities are held in an LRU: one
 * idle for the keep-alive time is closed and forgotten.
 *
 * As with the node path's undici Pool, an identity has at most 16 connections
 * per server; requests past that wait for one to be released (first come,
 * first served).
 */
import { maxHeaderSize as defaultMaxHeaderSize } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { UpstreamBinding } from '../client-connection.js';
import type { UpstreamCluster, UpstreamServer } from '../upstream-cluster.js';
import { createParser, type NativeHttpParser, type ParserEvents } from '../http/h1-parser.js';

export interface RelayPoolsOptions {
  /** max identities whose connections are kept */
  max: number;
  /** keep-alive time of an idle upstream connection, ms; default 30 000 */
  keepAliveTimeoutMs?: number;
  /** idle connections kept per server per identity; default 16 */
  maxIdlePerServer?: number;
  /** connections per server per identity (as undici's Pool `connections` on the node path); more requests wait; default 16 */
  maxConnectionsPerServer?: number;
}

/** The exchange an upstream connection is busy with: gets its parser events and its end. */
export interface UpstreamUser extends ParserEvents {
  /** the connection failed or closed while in use (after the parser had its say) */
  upstreamGone(err: Error): void;
  upstreamDrain(): void;
  /** no response headers, or a response body gap, within the armed time */
  upstreamTimeout(): void;
}

/** a response head larger than Node's default max header size is a 502, as undici's HeadersOverflowError on the node path */
const MAX_RESPONSE_HEAD = defaultMaxHeaderSize;

export class UpstreamConn {
  readonly parser: NativeHttpParser;
  user: UpstreamUser | undefined;
  /** requests sent on it before (a reused connection may have been closed by the server meanwhile) */
  uses = 0;
  /** bytes received since its current user took it (0: the server has said nothing to this request) */
  received = 0;
  dead = false;
  private readonly events: ParserEvents;
  private timer: NodeJS.Timeout | undefined;
  private timerOn = false;

  constructor(readonly socket: TLSSocket, readonly server: UpstreamServer, private readonly owner: IdentityUpstreams) {
    this.events = {
      messageBegin: () => { if (!this.user) this.kill(); else this.user.messageBegin(); },
      headersComplete: (a, b, h, m, u, s, sm, up, ka) => this.user?.headersComplete(a, b, h, m, u, s, sm, up, ka),
      body: (c) => this.user?.body(c),
      messageComplete: (t) => this.user?.messageComplete(t),
    };
    this.parser = createParser('response', MAX_RESPONSE_HEAD, this.events);
    socket.on('data', (d: Buffer) => {
      this.received += d.length;
      const r = this.parser.execute(d);
      if (typeof r !== 'number') this.fail(r);
    });
    socket.on('end', () => {
      const r = this.parser.finish();
      if (r) this.fail(r); else this.fail(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })));
    socket.on('drain', () => this.user?.upstreamDrain());
    // only armed while idle (release): the keep-alive time
    socket.on('timeout', () => { if (!this.user) this.kill(); });
  }

  private fail(err: Error): void {
    const user = this.user;
    this.kill();
    user?.upstreamGone(err);
  }

  /** Starts the exchange's upstream timer (response headers, then each body gap: refreshTimer). */
  armTimer(ms: number): void {
    this.timerOn = true;
    if (this.timer) { this.timer.refresh(); return; }
    this.timer = setTimeout(() => { if (this.timerOn) { this.timerOn = false; this.user?.upstreamTimeout(); } }, ms);
    this.timer.unref();
  }

  refreshTimer(): void { if (this.timerOn) this.timer!.refresh(); }

  disarmTimer(): void { this.timerOn = false; }

  /** Destroys the connection; its user, if any, is not told (it asked for it). */
  kill(): void {
    if (!this.dead) {
      this.dead = true;
      this.user = undefined;
      this.owner.dropped(this);
      if (this.timer) clearTimeout(this.timer);
      this.socket.destroy();
      // never freed inside its own execute() (this may run in one of its callbacks)
      setImmediate(() => this.parser.close());
    }
  }

  /** Done with it: back to the idle list when `reusable`, else closed. */
  release(reusable: boolean): void {
    this.user = undefined;
    // paused for a slow client in the exchange's last chunk: read again (closes are seen, the next user reads its answer)
    if (this.socket.isPaused()) this.socket.resume();
    this.owner.release(this, reusable && !this.dead && this.socket.writable);
  }
}

export class RelayPools {
  private readonly identities: LRUCache<string, IdentityUpstreams>;
  private readonly closing = new Set<IdentityUpstreams>();

  constructor(private readonly opts: RelayPoolsOptions) {
    this.identities = new LRUCache({
      max: opts.max,
      ttl: opts.keepAliveTimeoutMs ?? 30_000,
      updateAgeOnGet: true,
      ttlAutopurge: true,
      dispose: (d) => d.close(),
    });
  }


  /** The connections of this binding's (upstream, identity). */
  for(binding: UpstreamBinding): IdentityUpstreams {
    const key = `${binding.cluster.id}\0${binding.identityKey}`;
    let d = this.identities.get(key);
    if (!d || d.closed) {
      d = new IdentityUpstreams(binding, this.opts);
      this.identities.set(key, d);
    }
    return d;
  }

  /** Destroys every connection of an identity (idle and busy), on every upstream. */
  forget(identityKey: string): void {
    for (const key of [...this.identities.keys()]) {
      if (key.slice(key.indexOf('\0') + 1) !== identityKey) continue;
      const d = this.identities.get(key)!;
      this.identities.delete(key);
      d.destroy();
    }
  }

  /** A reload replaced this cluster: its idle connections close, busy ones when their exchange is done. */
  retire(cluster: UpstreamCluster): void {
    const id = cluster.id;
    for (const key of [...this.identities.keys()]) {
      if (!key.startsWith(`${id}\0`)) continue;
      const d = this.identities.get(key)!;
      this.identities.delete(key); // dispose closes it
      this.closing.add(d);
    }
  }

  /** Closes idle connections; busy ones close when their exchange is done. */
  close(): void {
    for (const d of this.identities.values()) this.closing.add(d);
    this.identities.clear();
  }

  destroy(): void {
    for (const d of [...this.identities.values(), ...this.closing]) d.destroy();
    this.identities.clear();
    this.closing.clear();
  }
}

/** One identity's connections to one upstream's servers. */
export class IdentityUpstreams {
  /** no new idle connections (graceful stop, or evicted) */
  closed = false;
  private destroyed = false;
  private readonly idle = new Map<UpstreamServer, UpstreamConn[]>();
  private readonly busy = new Set<UpstreamConn>();
  /** connections per server, connecting, busy and idle: at most maxConnectionsPerServer */
  private readonly open = new Map<UpstreamServer, number>();
  /** requests waiting for a connection to a server at its cap, first come first served */
  private readonly waiters = new Map<UpstreamServer, Acquired[]>();

  constructor(private readonly binding: UpstreamBinding, private readonly opts: RelayPoolsOptions) {}

  /**
   * A connection to the server balancing picks: an idle one of that server, a
   * new one, or — at the server's cap — the next one released. A connect
   * failure moves on to the next server (nothing was sent). `cb` is called
   * once; an exchange that no longer wants it releases it.
   */
  acquire(cb: Acquired, tried = new Set<UpstreamServer>()): void {
    const { cluster, balanceKey } = this.binding;
    const server = cluster.pick(tried, Date.now(), balanceKey)!;
    tried.add(server);
    server.active++;
    const list = this.idle.get(server);
    while (list && list.length) {
      const uc = list.pop()!;
      if (uc.dead || !uc.socket.writable) { uc.kill(); continue; }
      uc.socket.setTimeout(0);
      this.busy.add(uc);
      cb(null, uc);
      return;
    }
    if ((this.open.get(server) ?? 0) >= (this.opts.maxConnectionsPerServer ?? 16)) {
      let q = this.waiters.get(server);
      if (!q) this.waiters.set(server, q = []);
      q.push(cb);
      return;
    }
    this.connect(server, cb, tried);
  }

  /** A new connection to `server` (its `active` already counts the request). */
  private connect(server: UpstreamServer, cb: Acquired, tried: Set<UpstreamServer>): void {
    const { cluster } = this.binding;
    this.open.set(server, (this.open.get(server) ?? 0) + 1);
    const failed = (err: Error, retry: boolean) => {
      this.open.set(server, this.open.get(server)! - 1);
      server.active--;
      if (retry && tried.size < cluster.servers.length && !this.destroyed) this.acquire(cb, tried);
      else cb(err);
      this.nextWaiter(server);
    };
    let credentials;
    try {
      // the credentials of now: a renewed minted certificate, not the one the binding started with
      credentials = this.binding.current ? this.binding.current() : this.binding;
    } catch (err) {
      failed(err as Error, false);
      return;
    }
    cluster.attempt(server, { secureContext: credentials.context, alpn: ['http/1.1'], sessions: credentials.sessions, presenting: this.binding.presenting }).then(
      (socket: TLSSocket) => {
        if (this.destroyed) {
          socket.destroy();
          failed(Object.assign(new Error('upstream connections of this identity were closed'), { code: 'ERR_IDENTITY_FORGOTTEN' }), false);
          return;
        }
        socket.setNoDelay(true);
        const uc = new UpstreamConn(socket, server, this);
        this.busy.add(uc);
        cb(null, uc);
      },
      (err: Error) => failed(err, true),
    );
  }

  /** A slot at `server` came free: the first waiter gets a new connection. */
  private nextWaiter(server: UpstreamServer): void {
    const w = this.waiters.get(server)?.shift();
    if (w) this.connect(server, w, new Set([server]));
  }

  /** @internal from UpstreamConn */
  release(uc: UpstreamConn, reusable: boolean): void {
    if (!this.busy.has(uc)) return;
    if (reusable && !uc.dead) {
      uc.server.active--;
      uc.uses++;
      // straight to a waiting request (its acquire counted it in `active` already)
      const w = this.waiters.get(uc.server)?.shift();
      if (w) { w(null, uc); return; }
      let list = this.idle.get(uc.server);
      if (!this.closed && (!list || list.length < (this.opts.maxIdlePerServer ?? 16))) {
        this.busy.delete(uc);
        if (!list) this.idle.set(uc.server, list = []);
        list.push(uc);
        uc.socket.setTimeout(this.opts.keepAliveTimeoutMs ?? 30_000);
        return;
      }
      uc.server.active++; // dropped() below counts it out
    }
    uc.kill();
  }

  /** @internal from UpstreamConn.kill */
  dropped(uc: UpstreamConn): void {
    if (this.busy.delete(uc)) {
      uc.server.active--;
    } else {
      const list = this.idle.get(uc.server);
      const i = list ? list.indexOf(uc) : -1;
      if (i === -1) return;
      list!.splice(i, 1);
    }
    this.open.set(uc.server, this.open.get(uc.server)! - 1);
    this.nextWaiter(uc.server);
  }

  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const uc of [...list]) uc.kill();
    this.idle.clear();
  }

  destroy(): void {
    this.destroyed = true;
    this.close();
    const gone = () => Object.assign(new Error('upstream connections of this identity were closed'), { code: 'ERR_IDENTITY_FORGOTTEN' });
    for (const [server, q] of this.waiters) for (const w of q.splice(0)) { server.active--; w(gone()); }
    for (const uc of [...this.busy]) {
      const user = uc.user;
      uc.kill();
      user?.upstreamGone(gone());
    }
  }
}

type Acquired = (err: Error | null, uc?: UpstreamConn) => void;
