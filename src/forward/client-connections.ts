/**
 * What happens to a client connection once its TLS handshake is done: the
 * verdict of the current generation's verifier, the route by SNI, the refusal
 * (closed, or in http mode answered 400/403 by the http forwarder), and
 * otherwise the http forwarder or one upstream connection (connection mode),
 * with one `connection` log line at the end. Admitted connections are kept so
 * they can be checked again: when the client trust changes (CRL, CA) or a
 * reload puts a client on edge.deny (closed at once), and when a reload
 * removes what a connection-mode connection uses, or changes how its upstream
 * is verified (CA, servername: closed after the grace period).
 */
import { channel } from 'node:diagnostics_channel';
import type { TLSSocket } from 'node:tls';
import { DEFAULTS, MAIN_LISTENER, type Config } from '../config/index.js';
import { buildProxyHeader, peerChainDer, serverFirstOf, type AccessRules, type ClientTrust, type ClientVerdict, type ClientVerifier, type Endpoint } from '../edge/index.js';
import { connectionChannel, type ConnectionEvent, type Logger } from '../observe/index.js';
import { IDENTITY_HEADER_CODECS } from '../identity-headers/index.js';
import type { ClientConnection, UpstreamBinding } from './client-connection.js';
import { delegatedIdentityKeys } from './identity-binder.js';
import { forwardConnection } from './connection-forwarder.js';
import type { HttpEngine, RequestRouting } from './http/index.js';
import type { UpstreamCluster, UpstreamServer } from './upstream-cluster.js';
import type { UpstreamProtocols } from './upstream-protocols.js';
import type { ServerFirstDial } from './server-first-dial.js';

/** published after each verification: `{ id, sni, verdict, durationMs }` */
export const handshakeChannel = channel('countersign:edge:handshake');

/** What a connection is decided by: the proxy's current generation. */
export interface ConnectionRouting extends RequestRouting {
  config: Config;
  verifier: ClientVerifier;
  access: AccessRules;
  protocols: UpstreamProtocols;
  clusters: ReadonlyMap<string, UpstreamCluster>;
}

export interface ClientConnectionsOptions {
  /** the generation of now, read once per connection */
  routing: () => ConnectionRouting;
  /** http mode's engine; there (loaded) whenever the routing has an http-mode route */
  http: () => HttpEngine | undefined;
  logger: Logger;
  /** the client's address (from its PROXY header when one was accepted) */
  peerOf(socket: TLSSocket): Endpoint;
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

export class ClientConnections {
  private nextId = 1;
  private readonly open = new Map<number, OpenConnection>();
  /** connections whose route, upstream or server a reload removed: closed after the grace period */
  private readonly retireTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: ClientConnectionsOptions) {}

  private publish(e: ConnectionEvent): void {
    if (connectionChannel.hasSubscribers) connectionChannel.publish(e);
  }

  private track(o: OpenConnection): void {
    this.open.set(o.conn.id, o);
    o.socket.once('close', () => this.open.delete(o.conn.id));
  }

  /** Takes a client connection whose handshake is done, on listener `listener`. */
  readonly handle = (socket: TLSSocket, listener: string): void => {
    const { logger } = this.o;
    const t0 = performance.now();
    const id = this.nextId++;
    // one generation for the whole decision, even if a reload swaps it meanwhile
    const g = this.o.routing();
    socket.on('error', () => { /* handled by the forwarders; never crash on a client's reset */ });
    const sni = (socket as TLSSocket & { servername?: string | false }).servername || undefined;
    const peer = this.o.peerOf(socket);
    const remoteAddress = peer.address;
    const verdict: ClientVerdict = g.verifier.verify(socket);
    if (handshakeChannel.hasSubscribers) handshakeChannel.publish({ id, sni, listener, verdict, durationMs: performance.now() - t0 });
    const routes = g.router.forConnection(sni, listener);
    const base = { conn: id, listener, remoteAddress, sni, identity: verdict.client?.identity, subject: verdict.client?.subject };
    if (!routes) {
      this.publish({ ...base, durationMs: performance.now() - t0, route: '', mode: 'connection', outcome: 'refused', reason: 'no route', bytesIn: 0, bytesOut: 0 });
      logger.info({ ...base, outcome: 'refused', reason: 'no route for this server name' }, 'connection');
      socket.destroy();
      return;
    }
    const route = routes.primary;
    // there whenever a route is in http mode: a generation with one is built only after it is loaded
    const http = this.o.http();
    const conn: ClientConnection = {
      id, client: verdict.ok ? verdict.client : undefined, path: verdict.ok ? verdict.path : undefined, namesVouched: verdict.ok && verdict.namesVouched, chain: [], sni, listener, remoteAddress, routes, router: g.router, headerCache: new Map(),
    };
    if (!verdict.ok) {
      this.publish({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: route.mode, outcome: 'refused', reason: verdict.reason, bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: verdict.reason, detail: verdict.detail }, 'client refused');
      if (route.mode === 'http') {
        conn.refusal = { status: verdict.reason === 'denied identity' ? 403 : 400, reason: verdict.reason === 'denied identity' ? 'forbidden' : verdict.reason, detail: verdict.detail };
        http!.accept(socket, conn);
      } else {
        socket.destroy();
      }
      return;
    }
    if (route.mode === 'http') {
      if (conn.client && IDENTITY_HEADER_CODECS[route.header]?.sendsChain) conn.chain = peerChainDer(socket); // rfc9440
      // below info nothing is logged: no listener, no log object per connection
      this.track({ socket, conn, mode: 'http' });
      socket.once('close', () => {
        const outcome = conn.revoked ? 'revoked' : conn.retired ? 'retired' : 'closed';
        const reason = conn.revoked ?? conn.retired;
        this.publish({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'http', outcome, reason, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten });
        if (reason) logger.warn({ ...base, mode: 'http', outcome, reason, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, durationMs: Math.round(performance.now() - t0) }, 'connection');
        else if (logger.isLevelEnabled('info')) logger.info({ ...base, mode: 'http', outcome, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, durationMs: Math.round(performance.now() - t0) }, 'connection');
      });
      http!.accept(socket, conn);
      return;
    }
    if (!conn.client && !route.allowAnonymous) {
      this.publish({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'connection', outcome: 'refused', reason: 'no certificate', bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: 'no certificate' }, 'client refused');
      socket.destroy();
      return;
    }
    // the access rules (allow) of the route, on every connection, resumed sessions too
    const rule = g.access.refusedBy(route, conn.client, conn.namesVouched);
    if (rule) {
      this.publish({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'connection', outcome: 'refused', reason: 'not allowed', rule, bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: 'not allowed', rule }, 'client refused');
      socket.destroy();
      return;
    }
    let binding: UpstreamBinding;
    try {
      binding = g.bind(route, conn);
    } catch (err) {
      this.publish({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'connection', outcome: 'refused', reason: 'mint failed', bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: (err as Error).message }, 'client refused');
      socket.destroy();
      return;
    }
    // a server-first listener: the upstream was dialled as the client connected; it must be this route's
    const handover = serverFirstOf<ServerFirstDial>(socket);
    if (handover && handover.upstream.cluster !== binding.cluster) {
      this.publish({ ...base, durationMs: performance.now() - t0, route: route.upstream, mode: 'connection', outcome: 'refused', reason: 'reloaded', bytesIn: 0, bytesOut: 0 });
      logger.warn({ ...base, route: route.upstream, outcome: 'refused', reason: 'a reload changed the upstream during the client\'s handshake; it may reconnect' }, 'client refused');
      socket.destroy();
      return;
    }
    // half-close passes through: a client's FIN must not end the upstream's reply
    socket.allowHalfOpen = true;
    const tracked: OpenConnection = { socket, conn, mode: 'connection', upstream: route.upstream, cluster: binding.cluster };
    this.track(tracked);
    const upstreamConfig = g.config.upstreams[route.upstream];
    forwardConnection(socket, {
      cluster: binding.cluster, secureContext: binding.context,
      ...g.protocols.upstreamAlpn(route.upstream, socket.alpnProtocol || undefined),
      onAlpnMismatch: (server) => g.protocols.mismatch(route.upstream, server?.address),
      onConnected: (server) => { tracked.server = server; },
      proxyHeader: upstreamConfig.proxyProtocol
        ? buildProxyHeader(upstreamConfig.proxyProtocol, peer, { address: socket.localAddress ?? '', port: socket.localPort ?? 0 })
        : undefined,
      idleTimeoutMs: g.config.timeouts.idle, drainAfterUpstreamCloseMs: DEFAULTS.upstreamCloseDrainMs, sessions: binding.sessions, balanceKey: binding.balanceKey, presenting: binding.presenting,
      over: handover && { socket: handover.upstream.socket, server: handover.upstream.server, request: handover.request },
    }).then((o) => {
      const outcome = conn.revoked ? 'revoked' : conn.retired ? 'retired' : o.outcome;
      this.publish({ ...base, durationMs: o.durationMs, route: route.upstream, upstream: binding.cluster.name, server: o.server, serial: binding.serial, mode: 'connection', outcome, reason: conn.revoked ?? conn.retired ?? o.reason, bytesIn: o.bytesIn, bytesOut: o.bytesOut });
      const level = outcome === 'closed' ? 'info' : 'warn';
      if (!logger.isLevelEnabled(level)) return;
      logger[level]({ ...base, mode: 'connection', route: route.upstream, upstream: binding.cluster.name, server: o.server, outcome, reason: conn.revoked ?? conn.retired ?? o.reason, ...o.diagnosis, bytesIn: o.bytesIn, bytesOut: o.bytesOut, durationMs: o.durationMs }, 'connection');
    });
  };

  /**
   * Every open connection checked again against `trust`, the current
   * verifier (its deny list) and, in connection mode, the current access rules:
   * those of clients now refused are closed at once,
   * their credentials and upstream pools dropped, logged as `revoked`.
   */
  recheck(trust: ClientTrust): void {
    const g = this.o.routing();
    const verifier = g.verifier;
    for (const { socket, conn, mode } of [...this.open.values()]) {
      const client = conn.client;
      if (!client) continue;
      // the whole path (leaf, intermediates) against the new CRLs and CAs, as a handshake is
      let verdict = verifier.recheck({ client, path: conn.path, namesVouched: conn.namesVouched }, trust);
      if (verdict.ok) conn.path = verdict.path;
      // a reload that narrows a connection-mode route's access rule closes who it no longer admits
      // (http mode checks the rule of the current config on every request)
      if (verdict.ok && mode === 'connection') {
        const route = g.router.forConnection(conn.sni, conn.listener)?.primary;
        const rule = route && g.access.refusedBy(route, client, conn.namesVouched);
        if (rule) verdict = { ok: false, reason: 'not allowed', detail: `${rule} no longer admits this client`, client };
      }
      if (verdict.ok) continue;
      conn.revoked = verdict.reason;
      this.o.forget(client.certSha256);
      for (const key of delegatedIdentityKeys(client.certSha256)) this.o.http()?.forgetIdentity(key);
      socket.destroy();
    }
  }

  /**
   * After a reload: a connection whose listener the current generation no
   * longer has, or a connection-mode one whose upstream, server or route it no
   * longer has, or whose server was verified under a CA or servername the
   * upstream no longer has, may go on for `graceMs`, then is closed (logged as
   * `retired`).
   */
  retireRemoved(graceMs: number): void {
    const g = this.o.routing();
    for (const o of this.open.values()) {
      if (o.conn.revoked || o.conn.retired) continue;
      const why = removedFor(o, g);
      if (!why) continue;
      o.conn.retired = `${why} by a reload`;
      const t = setTimeout(() => { this.retireTimers.delete(t); o.socket.destroy(); }, graceMs);
      t.unref();
      this.retireTimers.add(t);
      o.socket.once('close', () => { clearTimeout(t); this.retireTimers.delete(t); });
    }
  }

  /** At stop: no retirement is pending any more (the listener closes what is left). */
  stop(): void {
    for (const t of this.retireTimers) clearTimeout(t);
    this.retireTimers.clear();
  }
}

/** Why an open connection has lost what it uses in generation `g`, or undefined. */
function removedFor(o: OpenConnection, g: ConnectionRouting): string | undefined {
  if (o.conn.listener !== MAIN_LISTENER && !g.config.listeners.some((l) => l.name === o.conn.listener)) return `listener ${o.conn.listener} removed`;
  if (o.mode !== 'connection') return undefined;
  const u = g.config.upstreams[o.upstream!];
  if (!u) return `upstream ${o.upstream} removed`;
  if (o.server && !u.servers.includes(o.server.address)) return `server ${o.server.address} of upstream ${o.upstream} removed`;
  if (o.cluster && g.clusters.get(o.upstream!)?.tlsDigest !== o.cluster.tlsDigest) return `verification of upstream ${o.upstream} (ca, servername, minVersion) changed`;
  const route = g.router.forConnection(o.conn.sni, o.conn.listener)?.primary;
  if (!route || route.mode !== 'connection' || route.upstream !== o.upstream) return `route to upstream ${o.upstream} removed`;
  return undefined;
}

