/**
 * http mode's one engine: a client connection is taken by the downstream
 * adapter of the protocol it negotiated (h1-downstream.ts, h2-downstream.ts),
 * every request is an Exchange (exchange.ts) on the one upstream pool
 * (upstream-pool.ts), and every exchange ends in one record: the `request`
 * log line, the request event (audit log, metrics).
 */
import type { TLSSocket } from 'node:tls';
import type { ClientConnection } from '../client-connection.js';
import type { UpstreamCluster } from '../upstream-cluster.js';
import type { ResetLimitOptions } from '../http2-reset-limit.js';
import { requestChannel, type Logger, type RequestEvent } from '../../observe/index.js';
import type { RequestRouting } from './admission.js';
import type { ExchangeContext, ExchangeRecord } from './exchange.js';
import { H1Downstream } from './h1-downstream.js';
import { H1Upstream } from './h1-upstream.js';
import { H2Downstream } from './h2-downstream.js';
import { H2Upstream } from './h2-upstream.js';
import { UpstreamPool, type UpstreamPoolStats } from './upstream-pool.js';

export interface HttpEngineOptions {
  /**
   * The routing of now, read once per request: after a reload, requests on a
   * connection that was open before it go by the new config.
   */
  routing: () => RequestRouting;
  logger: Logger;
  /** max request header bytes (limits.maxHeaderSize) */
  maxHeaderSize: number;
  /** max request header fields; more gets 431 (limits.maxHeaderCount) */
  maxHeaderCount: number;
  /** time for request heads, upstream answer heads, and any gap in a body, ms (timeouts.request) */
  requestTimeoutMs: number;
  /** how long a client connection may wait for its next request (HTTP/1.1 keep-alive, an idle HTTP/2 session), ms (timeouts.keepAlive) */
  keepAliveTimeoutMs: number;
  /** groups (upstream, identity) the pool keeps (limits.agentsPerUpstream) */
  maxPools: number;
  /** HTTP/2 stream resets a client connection may send (burst, then per second) before GOAWAY */
  http2Resets: ResetLimitOptions;
}

/** idle upstream connections close after this long, ms (undici's default is 4 s, nginx's upstream keepalive_timeout 60 s) */
const UPSTREAM_KEEPALIVE_MS = 30_000;
/** upstream connections per server per identity; more requests wait */
const CONNECTIONS_PER_SERVER = 16;

export class HttpEngine {
  readonly pool: UpstreamPool;
  private readonly ctx: ExchangeContext;
  private readonly h1 = new Set<H1Downstream>();
  private readonly h2: H2Downstream;
  /** set by close(): HTTP/1.1 answers say Connection: close */
  private closing = false;

  constructor(private readonly opts: HttpEngineOptions) {
    this.pool = new UpstreamPool({
      maxGroups: opts.maxPools, keepAliveTimeoutMs: UPSTREAM_KEEPALIVE_MS,
      maxConnectionsPerServer: CONNECTIONS_PER_SERVER, maxIdlePerServer: CONNECTIONS_PER_SERVER,
      connection: (socket, server, protocol) => protocol === 'h2'
        ? new H2Upstream(socket, server, socket.servername || server.host)
        : new H1Upstream(socket, server),
    });
    this.ctx = {
      pool: this.pool, routing: opts.routing, requestTimeoutMs: opts.requestTimeoutMs,
      record: (r) => this.record(r),
      recording: () => requestChannel.hasSubscribers || opts.logger.isLevelEnabled('info'),
    };
    this.h2 = new H2Downstream({
      ctx: this.ctx, logger: opts.logger, maxHeaderSize: opts.maxHeaderSize, maxHeaderCount: opts.maxHeaderCount,
      idleTimeoutMs: opts.keepAliveTimeoutMs, resets: opts.http2Resets,
    });
  }

  /** Takes over a client connection whose TLS handshake is done, by the protocol it negotiated. */
  accept(socket: TLSSocket, conn: ClientConnection): void {
    if (socket.alpnProtocol === 'h2') { this.h2.accept(socket, conn); return; }
    const d = new H1Downstream(socket, conn, {
      ctx: this.ctx, maxHeaderSize: this.opts.maxHeaderSize, maxHeaderCount: this.opts.maxHeaderCount, requestTimeoutMs: this.opts.requestTimeoutMs,
      keepAliveTimeoutMs: this.opts.keepAliveTimeoutMs,
      closing: () => this.closing,
      logRefused: (c, reason) => this.opts.logger.info({ conn: c.id, identity: c.client?.identity, outcome: 'bad-request', reason }, 'request refused'),
      forget: (x) => this.h1.delete(x),
    });
    this.h1.add(d);
  }

  /** One record per exchange: the request event (audit log, metrics), and a line at info (nothing is built when info is off). */
  private record(r: ExchangeRecord): void {
    const conn = r.conn;
    const durationMs = performance.now() - r.started;
    if (requestChannel.hasSubscribers) {
      requestChannel.publish({
        route: r.route ?? '', status: r.status, outcome: r.outcome, durationMs,
        conn: conn?.id, remoteAddress: conn?.remoteAddress, identity: conn?.client?.identity, subject: conn?.client?.subject,
        method: r.method, path: r.path, upstream: r.upstream, serial: r.serial, reason: r.reason, rule: r.rule, bytesIn: r.bytesIn, bytesOut: r.bytesOut,
      } satisfies RequestEvent);
    }
    if (!this.opts.logger.isLevelEnabled('info')) return;
    this.opts.logger.info({
      conn: conn?.id, identity: conn?.client?.identity, subject: conn?.client?.subject, method: r.method, path: r.path, status: r.status,
      durationMs: Math.round(durationMs * 1000) / 1000, outcome: r.outcome,
      ...(r.reason !== undefined ? { reason: r.reason } : {}), ...(r.route ? { route: r.route } : {}), ...(r.upstream ? { upstream: r.upstream } : {}),
      ...(r.server ? { server: r.server } : {}), ...(r.serial ? { serial: r.serial } : {}), ...(r.rule ? { rule: r.rule } : {}),
      bytesIn: r.bytesIn, bytesOut: r.bytesOut, ...r.extra,
    }, 'request');
  }

  /** Stop taking requests; in-flight ones finish (HTTP/2: GOAWAY; HTTP/1.1: Connection: close, idle ones closed). */
  async close(): Promise<void> {
    this.closing = true;
    this.closeIdle();
    this.h2.close();
    this.pool.close();
  }

  /** Closes the upstream connections of a cluster that a reload replaced, once their requests are done. */
  retireCluster(cluster: UpstreamCluster): void { this.pool.retire(cluster); }

  /** Closes the upstream connections of an identity (its client was revoked). */
  forgetIdentity(identityKey: string): void { this.pool.forget(identityKey); }

  /** During a graceful stop: closes HTTP/1.1 keep-alive connections that are idle now. */
  closeIdle(): void { for (const c of [...this.h1]) c.closeIfIdle(); }

  destroy(): void {
    for (const c of [...this.h1]) c.destroy();
    this.h2.destroy();
    this.pool.destroy();
  }

  /** The pool's counts (for /status): leases, busy connections and waiters are back at zero when no request is in flight. */
  stats(): UpstreamPoolStats { return this.pool.stats(); }
}
