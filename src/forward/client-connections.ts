/**
 * What happens to a connection the edge admitted (edge/admission.ts: the
 * verdict, the identity and the chain, decided once there): the route by SNI
 * and listener, the refusal (closed, or in http mode answered 400/403 by the
 * http engine), and otherwise the http engine or one upstream
 * connection (connection mode), with one `connection` log line at the end.
 * Forward never re-derives the admission: the edge re-verifies what it
 * admitted and tells forward (`revoked`) when it closes one. What forward
 * keeps of its own is what a reload may take away: a connection whose
 * listener, route, upstream or server a reload removed, or whose upstream is
 * now verified otherwise, is closed after the grace period.
 */
import type { TLSSocket } from 'node:tls';
import { DEFAULTS, MAIN_LISTENER, type Config } from '../config/index.js';
import { buildProxyHeader, serverFirstOf, type AdmittedConnection } from '../edge/index.js';
import { connectionChannel, type ConnectionEvent, type Logger } from '../observe/index.js';
import { IDENTITY_HEADER_CODECS } from '../identity-headers/index.js';
import type { ClientConnection, UpstreamBinding } from './client-connection.js';
import { delegatedIdentityKeys } from './identity-binder.js';
import { forwardConnection } from './connection-forwarder.js';
import type { HttpEngine, RequestRouting } from './http/index.js';
import type { UpstreamCluster, UpstreamServer } from './upstream-cluster.js';
import type { UpstreamProtocols } from './upstream-protocols.js';
import type { ServerFirstDial } from './server-first-dial.js';

/** What a connection is routed by: the proxy's current generation. */
export interface ConnectionRouting extends RequestRouting {
  config: Config;
  protocols: UpstreamProtocols;
  clusters: ReadonlyMap<string, UpstreamCluster>;
}

export interface ClientConnectionsOptions {
  /** the generation of now, read once per connection */
  routing: () => ConnectionRouting;
  /** http mode's engine; there (loaded) whenever the routing has an http-mode route */
  http: () => HttpEngine | undefined;
  logger: Logger;
  /** a client is no longer trusted: drop its minted credentials (the http pools are dropped here) */
  forget(certSha256: string): void;
}

interface OpenConnection {
  socket: TLSSocket;
  conn: ClientConnection;
  mode: 'connection' | 'http';
  /** connection mode: the upstream and server it is piped to, and the cluster that verified that server */
  upstream?: string;
  server?: UpstreamServer;
  cluster?: UpstreamCluster;
}

/** The fields every record of one connection starts with. */
type RecordBase = Pick<ConnectionEvent, 'conn' | 'listener' | 'remoteAddress' | 'sni' | 'identity' | 'subject' | 'namesVouched'>;

export class ClientConnections {
  private readonly open = new Map<number, OpenConnection>();
  /** connections whose route, upstream or server a reload removed: closed after the grace period */
  private readonly retireTimers = new Set<NodeJS.Timeout>();
  private readonly opts: ClientConnectionsOptions;

  constructor(opts: ClientConnectionsOptions) {
    this.opts = opts;
  }

  private publish(event: ConnectionEvent): void {
    if (connectionChannel.hasSubscribers) connectionChannel.publish(event);
  }

  private track(tracked: OpenConnection): void {
    this.open.set(tracked.conn.id, tracked);
    tracked.socket.once('close', () => this.open.delete(tracked.conn.id));
  }

  /**
   * The one refusal: the `connection` event, one log line (warn `client
   * refused`, or info for a connection with no route), and the socket closed
   * — or, in http mode, answered by the http engine with `conn.refusal`.
   */
  private refuse(admitted: AdmittedConnection, base: RecordBase, how: {
    route: string; mode: 'connection' | 'http'; reason: string; logged?: Record<string, unknown>; rule?: string; level?: 'info' | 'warn'; answer?: () => void;
  }): void {
    this.publish({ ...base, durationMs: performance.now() - admitted.startedAt, route: how.route, mode: how.mode, outcome: 'refused', reason: how.reason, ...(how.rule ? { rule: how.rule } : {}), bytesIn: 0, bytesOut: 0 });
    const line = { ...base, ...(how.route ? { route: how.route } : {}), outcome: 'refused', reason: how.reason, ...(how.rule ? { rule: how.rule } : {}), ...how.logged };
    if (how.level === 'info') this.opts.logger.info(line, 'connection');
    else this.opts.logger.warn(line, 'client refused');
    if (how.answer) how.answer(); else admitted.socket.destroy();
  }

  /** Takes a connection the edge has decided on. */
  readonly handle = (admitted: AdmittedConnection): void => {
    const { logger } = this.opts;
    const { socket, id, listener, sni, verdict } = admitted;
    // one generation for the whole decision, even if a reload swaps it meanwhile
    const generation = this.opts.routing();
    socket.on('error', () => { /* handled by the forwarders; never crash on a client's reset */ });
    const remoteAddress = admitted.peer.address;
    const client = verdict.client;
    // a subject no CA vouched for is logged as what it is: a claim
    const base: RecordBase = { conn: id, listener, remoteAddress, sni, identity: client?.identity, subject: client?.subject, ...(client && !admitted.namesVouched ? { namesVouched: false as const } : {}) };
    const routes = generation.router.forConnection(sni, listener);
    if (!routes) {
      this.refuse(admitted, base, { route: '', mode: 'connection', reason: 'no route', logged: { reason: 'no route for this server name' }, level: 'info' });
      return;
    }
    const route = routes.primary;
    // there whenever a route is in http mode: a generation with one is built only after it is loaded
    const http = this.opts.http();
    const conn: ClientConnection = {
      id, client: admitted.client, namesVouched: admitted.namesVouched, chain: [], sni, listener, remoteAddress, routes, router: generation.router, headerCache: new Map(),
    };
    if (!verdict.ok) {
      const answer = route.mode === 'http'
        ? () => {
          conn.refusal = { status: verdict.reason === 'denied identity' ? 403 : 400, reason: verdict.reason === 'denied identity' ? 'forbidden' : verdict.reason, detail: verdict.detail };
          http!.accept(socket, conn);
        }
        : undefined;
      this.refuse(admitted, base, { route: route.upstream, mode: route.mode, reason: verdict.reason, rule: admitted.rule, logged: admitted.rule ? {} : { detail: verdict.detail }, answer });
      return;
    }
    if (route.mode === 'http') {
      if (conn.client && IDENTITY_HEADER_CODECS[route.header]?.sendsChain) conn.chain = admitted.chain(); // rfc9440
      // below info nothing is logged: no listener, no log object per connection
      this.track({ socket, conn, mode: 'http' });
      socket.once('close', () => {
        const outcome = conn.revoked ? 'revoked' : conn.retired ? 'retired' : 'closed';
        const reason = conn.revoked ?? conn.retired;
        this.publish({ ...base, durationMs: performance.now() - admitted.startedAt, route: route.upstream, mode: 'http', outcome, reason, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten });
        if (reason) logger.warn({ ...base, mode: 'http', outcome, reason, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, durationMs: Math.round(performance.now() - admitted.startedAt) }, 'connection');
        else if (logger.isLevelEnabled('info')) logger.info({ ...base, mode: 'http', outcome, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, durationMs: Math.round(performance.now() - admitted.startedAt) }, 'connection');
      });
      http!.accept(socket, conn);
      return;
    }
    if (!conn.client && !route.allowAnonymous) {
      this.refuse(admitted, base, { route: route.upstream, mode: 'connection', reason: 'no certificate' });
      return;
    }
    let binding: UpstreamBinding;
    try {
      binding = generation.bind(route, conn);
    } catch (err) {
      this.refuse(admitted, base, { route: route.upstream, mode: 'connection', reason: 'mint failed', logged: { reason: (err as Error).message } });
      return;
    }
    // a server-first listener: the upstream was dialled as the client connected; it must be this route's
    const handover = serverFirstOf<ServerFirstDial>(socket);
    if (handover && handover.upstream.cluster !== binding.cluster) {
      this.refuse(admitted, base, { route: route.upstream, mode: 'connection', reason: 'reloaded', logged: { reason: 'a reload changed the upstream during the client\'s handshake; it may reconnect' } });
      return;
    }
    // half-close passes through: a client's FIN must not end the upstream's reply
    socket.allowHalfOpen = true;
    const tracked: OpenConnection = { socket, conn, mode: 'connection', upstream: route.upstream, cluster: binding.cluster };
    this.track(tracked);
    const upstreamConfig = generation.config.upstreams[route.upstream];
    forwardConnection(socket, {
      cluster: binding.cluster, secureContext: binding.context,
      ...generation.protocols.upstreamAlpn(route.upstream, socket.alpnProtocol || undefined),
      onAlpnMismatch: (server) => generation.protocols.mismatch(route.upstream, server?.address),
      onConnected: (server) => { tracked.server = server; },
      proxyHeader: upstreamConfig.proxyProtocol
        ? buildProxyHeader(upstreamConfig.proxyProtocol, admitted.peer, { address: socket.localAddress ?? '', port: socket.localPort ?? 0 })
        : undefined,
      idleTimeoutMs: generation.config.timeouts.idle, drainAfterUpstreamCloseMs: DEFAULTS.upstreamCloseDrainMs, sessions: binding.sessions, balanceKey: binding.balanceKey, presenting: binding.presenting,
      over: handover && { socket: handover.upstream.socket, server: handover.upstream.server, request: handover.request },
    }).then((result) => {
      const outcome = conn.revoked ? 'revoked' : conn.retired ? 'retired' : result.outcome;
      const reason = conn.revoked ?? conn.retired ?? result.reason;
      this.publish({ ...base, durationMs: result.durationMs, route: route.upstream, upstream: binding.cluster.name, server: result.server, serial: binding.serial, mode: 'connection', outcome, reason, bytesIn: result.bytesIn, bytesOut: result.bytesOut });
      const level = outcome === 'closed' ? 'info' : 'warn';
      if (!logger.isLevelEnabled(level)) return;
      logger[level]({ ...base, mode: 'connection', route: route.upstream, upstream: binding.cluster.name, server: result.server, outcome, reason, ...result.diagnosis, bytesIn: result.bytesIn, bytesOut: result.bytesOut, durationMs: result.durationMs }, 'connection');
    });
  };

  /**
   * The edge no longer admits `admitted` (a re-verification refused it; it
   * closes the socket next): the connection is logged as `revoked`, and the
   * client's minted credentials and upstream pools are dropped.
   */
  readonly revoked = (admitted: AdmittedConnection, reason: string): void => {
    const tracked = this.open.get(admitted.id);
    if (tracked) tracked.conn.revoked = reason;
    if (!admitted.client) return;
    this.opts.forget(admitted.client.certSha256);
    for (const key of delegatedIdentityKeys(admitted.client.certSha256)) this.opts.http()?.forgetIdentity(key);
  };

  /**
   * After a reload: a connection whose listener the current generation no
   * longer has, or a connection-mode one whose upstream, server or route it no
   * longer has, or whose server was verified under a CA or servername the
   * upstream no longer has, may go on for `graceMs`, then is closed (logged as
   * `retired`).
   */
  retireRemoved(graceMs: number): void {
    const generation = this.opts.routing();
    for (const tracked of this.open.values()) {
      if (tracked.conn.revoked || tracked.conn.retired) continue;
      const why = removedFor(tracked, generation);
      if (!why) continue;
      tracked.conn.retired = `${why} by a reload`;
      const timer = setTimeout(() => { this.retireTimers.delete(timer); tracked.socket.destroy(); }, graceMs);
      timer.unref();
      this.retireTimers.add(timer);
      tracked.socket.once('close', () => { clearTimeout(timer); this.retireTimers.delete(timer); });
    }
  }

  /** At stop: no retirement is pending any more (the listener closes what is left). */
  stop(): void {
    for (const t of this.retireTimers) clearTimeout(t);
    this.retireTimers.clear();
  }
}

/** Why an open connection has lost what it uses in `generation`, or undefined. */
function removedFor(tracked: OpenConnection, generation: ConnectionRouting): string | undefined {
  const { conn, upstream, server, cluster } = tracked;
  if (conn.listener !== MAIN_LISTENER && !generation.config.listeners.some((l) => l.name === conn.listener)) return `listener ${conn.listener} removed`;
  if (tracked.mode !== 'connection') return undefined;
  const settings = generation.config.upstreams[upstream!];
  if (!settings) return `upstream ${upstream} removed`;
  if (server && !settings.servers.includes(server.address)) return `server ${server.address} of upstream ${upstream} removed`;
  if (cluster && generation.clusters.get(upstream!)?.tlsDigest !== cluster.tlsDigest) return `verification of upstream ${upstream} (ca, servername, minVersion) changed`;
  const route = generation.router.forConnection(conn.sni, conn.listener)?.primary;
  if (!route || route.mode !== 'connection' || route.upstream !== upstream) return `route to upstream ${upstream} removed`;
  return undefined;
}

