/**
 * The edge: a TLS listener that asks for client certificates, picks its server
 * certificate by SNI, and hands every completed handshake to the proxy. It never
 * rejects during the handshake itself (see client-verifier.ts), and a broken
 * client never affects the others.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { CountersignError } from '../errors.js';
import { readClientHello, type ClientHello } from './client-hello.js';
import { answerPostgresStarttls, peekBytes, readPrefix, type EdgeStarttls } from './preamble.js';
import { parseProxyHeader, unmap, V2_MAX, type Endpoint } from './proxy-protocol.js';
import { relayServerFirst, serverFirstError, type ServerFirstProtocol, type ServerFirstUpstream } from './server-first.js';
import { isServerFirst } from '../config/index.js';
import { ConnectionNotes } from './connection-notes.js';

/** the client's address from an accepted PROXY header, by connection */
const proxiedPeers = new ConnectionNotes<Endpoint>();

/** A TLS client's address: from its PROXY header when one was accepted, else the socket's. */
export function peerOf(s: TLSSocket | Socket): Endpoint {
  return proxiedPeers.get(s) ?? unmap({ address: s.remoteAddress ?? '', port: s.remotePort ?? 0 });
}

export interface ServerContexts {
  /** SNICallback for the TLS server */
  sniCallback: (servername: string, cb: (err: Error | null, ctx?: import('node:tls').SecureContext) => void) => void;
  /** options for the context used when a client sends no SNI (the certificate store keeps it current via setSecureContext) */
  defaultOptions(): SecureContextOptions;
}

export interface EdgeListenerOptions {
  /** what routes, logs and metrics call it (`main` for `listen`); `retarget` may change it */
  name: string;
  host: string;
  port: number;
  contexts: ServerContexts;
  /** ALPN protocols offered to clients, in preference order */
  alpn: string[];
  /**
   * Chooses the ALPN protocol per connection instead of `alpn` (the routes behind
   * a server name may speak different protocols): one of `offered`, or undefined
   * to refuse the handshake (no_application_protocol alert).
   */
  selectAlpn?: (servername: string | undefined, offered: string[], listener: string) => string | undefined;
  /** max time for a TLS handshake, ms */
  handshakeTimeoutMs: number;
  /**
   * Max concurrent client connections (limits.maxConnections), counted from
   * accept to close, handshakes in progress included. One more is closed at
   * once and reported to `onLimit`. Counted here rather than by net.Server's
   * own maxConnections: with node:cluster that one makes the primary hand the
   * refused connection back and forth in a busy loop (measured on Node 24),
   * and it gives the caller no say in how a refusal is reported.
   */
  maxConnections: number;
  /** a connection was closed on arrival because maxConnections was reached */
  onLimit?(remoteAddress: string | undefined): void;
  /**
   * The count maxConnections applies to; default this listener's own. Every
   * listener of a process shares one budget (listener-set.ts sums them).
   */
  openConnections?: () => number;
  onSecureConnection(socket: TLSSocket, listener: string): void;
  /** a handshake that failed: garbage, wrong protocol, timeout, disconnect */
  onClientError(err: Error & { code?: string }, remoteAddress: string | undefined, listener: string): void;
  /**
   * Optional hook after the ClientHello was read (ACME tls-alpn-01): returns true
   * if it took the raw socket over; otherwise the TLS server gets it.
   */
  takeOver?: (socket: Socket, hello: ClientHello) => boolean;
  /** PROXY protocol: sources for which a header is required (and from which alone it is accepted) */
  proxyProtocol?: { trusted(address: string): boolean };
  /** what comes before TLS on this listener (PostgreSQL SSLRequest); `retarget` may change it */
  starttls?: EdgeStarttls;
  /**
   * Where the server speaks first (`starttls: mysql | nats`): opens the
   * upstream of listener `listener`'s route and reads its greeting, for the
   * client `peer` that connected to `local` (server-first.ts).
   */
  dialServerFirst?: (listener: string, peer: Endpoint, local: Endpoint) => Promise<ServerFirstUpstream>;
  /** session-ticket keys (48 bytes) shared with the other worker processes */
  ticketKeys?: Buffer;
  /**
   * OpenSSL's session id context. Node's default (with requestCert) hashes the
   * process's command line, so instances started with different --config paths
   * would never resume each other's sessions even with one ticket key.
   */
  sessionIdContext?: string;
}

export class EdgeListener {
  /** the TLS server for clients that offer an ALPN protocol the edge accepts */
  readonly tls: TlsServer;
  /** the same, negotiating no ALPN: a client whose protocols the upstream does not speak, or that offers none */
  readonly tlsNoAlpn: TlsServer;
  private net?: NetServer;
  private readonly sockets = new Set<Socket>();
  /** resolved when the last open connection closes */
  private readonly idleWaiters: (() => void)[] = [];
  private ticketKeys: Buffer | undefined;
  private current: { name: string; starttls?: EdgeStarttls };
  /** while set, accepted connections wait (a reload's new listener is bound before its config is current) */
  private gate?: { opened: Promise<boolean>; open(go: boolean): void };

  constructor(private readonly opts: EdgeListenerOptions) {
    this.ticketKeys = opts.ticketKeys;
    this.current = { name: opts.name, starttls: opts.starttls };
    const common = {
      ...opts.contexts.defaultOptions(),
      SNICallback: opts.contexts.sniCallback,
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: opts.handshakeTimeoutMs,
      ...(opts.sessionIdContext ? { sessionIdContext: opts.sessionIdContext } : {}),
      // A client's FIN during the handshake must close the socket at once (not
      // linger until handshakeTimeout); connection mode turns half-close on for
      // its sockets once the handshake is done.
      allowHalfOpen: false,
    };
    // Node's ALPNCallback can only pick a protocol or abort the handshake, so
    // "negotiate none" is a second server without ALPN; the ClientHello (read
    // before TLS) decides which of the two gets the socket.
    this.tls = createTlsServer({
      ...common,
      ...(opts.selectAlpn
        ? { ALPNCallback: ({ servername, protocols }: { servername: string; protocols: string[] }) => opts.selectAlpn!(servername || undefined, protocols, this.current.name) }
        : { ALPNProtocols: opts.alpn }),
    });
    this.tlsNoAlpn = createTlsServer(common);
    for (const server of [this.tls, this.tlsNoAlpn]) {
      if (this.ticketKeys) server.setTicketKeys(this.ticketKeys);
      server.on('secureConnection', (s: TLSSocket) => opts.onSecureConnection(s, this.current.name));
      server.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
        opts.onClientError(err, peerOf(s).address, this.current.name);
        s.destroy();
      });
    }
  }


  get name(): string { return this.current.name; }
  get starttls(): EdgeStarttls | undefined { return this.current.starttls; }

  /** The same socket under another name or preamble (a reload renamed the listener on this address). */
  retarget(spec: { name: string; starttls?: EdgeStarttls }): void {
    this.current = { name: spec.name, starttls: spec.starttls };
  }

  /**
   * Everything before TLS: PROXY header, PostgreSQL SSLRequest, ClientHello (for
   * ACME and the ALPN decision); bounded by the handshake timeout.
   */
  private async accept(raw: Socket): Promise<void> {
    this.track(raw);
    raw.on('error', () => { /* reported by the step that reads */ });
    const socketPeer = unmap({ address: raw.remoteAddress ?? '', port: raw.remotePort ?? 0 });
    const timer = setTimeout(() => {
      raw.destroy();
      this.opts.onClientError(new CountersignError('ERR_CLIENT_HELLO_TIMEOUT', `no complete ClientHello within edge.handshakeTimeout (${this.opts.handshakeTimeoutMs} ms)`), proxiedPeers.get(raw)?.address ?? socketPeer.address, this.current.name);
    }, this.opts.handshakeTimeoutMs);
    try {
      if (this.gate && !await this.gate.opened) throw new CountersignError('ERR_LISTEN', `listener ${this.current.name} was not opened (the reload that added it was refused)`);
      const pp = this.opts.proxyProtocol;
      if (pp && pp.trusted(socketPeer.address)) {
        const { value: h } = await readPrefix(raw, (b) => { const h = parseProxyHeader(b); return h ? { value: h, consumed: h.length } : null; }, V2_MAX + 1);
        if (!h.local && h.source) proxiedPeers.set(raw, unmap(h.source));
      } else if (pp && !isServerFirst(this.current.starttls)) {
        // the first byte of a v2 (\r) or v1 ("P") header is never that of TLS or PostgreSQL
        // (where the server speaks first the client waits for it: relayServerFirst looks instead)
        const first = await peekBytes(raw, 1);
        if (first[0] === 0x0d || first[0] === 0x50) {
          throw new CountersignError('ERR_PROXY_PROTOCOL', `PROXY protocol header from ${socketPeer.address}, which is not in edge.proxyProtocol.trusted`);
        }
      }
      const starttls = this.current.starttls;
      if (starttls === 'postgres') await answerPostgresStarttls(raw);
      else if (starttls === 'mysql' || starttls === 'nats') {
        await this.serverFirst(raw, starttls, Boolean(pp && !pp.trusted(socketPeer.address)));
        // the client left while the upstream was dialled: nothing to report
        if (raw.destroyed) { clearTimeout(timer); return; }
      }
      const hello = await readClientHello(raw, { timeoutMs: this.opts.handshakeTimeoutMs });
      clearTimeout(timer);
      if (raw.destroyed) return;
      if (this.opts.takeOver?.(raw, hello)) return;
      const chosen = hello.alpnProtocols.length ? (this.opts.selectAlpn ? this.opts.selectAlpn(hello.serverName, hello.alpnProtocols, this.current.name) : this.opts.alpn.find((p) => hello.alpnProtocols.includes(p))) : undefined;
      (chosen ? this.tls : this.tlsNoAlpn).emit('connection', raw);
    } catch (err) {
      clearTimeout(timer);
      if (raw.destroyed) return;
      const e = err as Error & { code?: string };
      this.opts.onClientError(e, proxiedPeers.get(raw)?.address ?? socketPeer.address, this.current.name);
      // a protocol error written with end() goes out before the socket is destroyed
      if (raw.writableEnded && !raw.writableFinished) {
        raw.once('finish', () => raw.destroy());
        setTimeout(() => raw.destroy(), 1000).unref();
      } else {
        raw.destroy();
      }
    }
  }

  /**
   * A server-first listener: the upstream is dialled now (the forwarder's
   * `dialServerFirst`), its greeting relayed, the client's TLS request read
   * (server-first.ts). Within the same handshake timeout as the rest.
   */
  private async serverFirst(raw: Socket, protocol: ServerFirstProtocol, proxyProtocolRefused: boolean): Promise<void> {
    const dial = this.opts.dialServerFirst;
    if (!dial) throw new CountersignError('ERR_EDGE_PREAMBLE', `listener ${this.current.name}: starttls ${protocol} without an upstream dialler`);
    let upstream: ServerFirstUpstream;
    try {
      upstream = await dial(this.current.name, peerOf(raw), { address: raw.localAddress ?? '', port: raw.localPort ?? 0 });
    } catch (err) {
      if (!raw.destroyed) raw.end(serverFirstError(protocol, 'the database is unavailable; try again later'));
      throw err;
    }
    if (raw.destroyed) { upstream.abort(); return; }
    await relayServerFirst(raw, protocol, upstream, { proxyProtocolRefused });
  }

  /**
   * Replaces the default (no-SNI) context, keeping the shared ticket keys:
   * node:cluster copies the first worker's keys to the others at listen time, but
   * Node's setSecureContext draws new random ones, after which this worker's
   * tickets would no longer resume on the others.
   */
  setSecureContext(options: SecureContextOptions): void {
    // (setSecureContext also resets the session id context to Node's default unless given)
    for (const server of [this.tls, this.tlsNoAlpn]) {
      server.setSecureContext({
        ...options,
        ...(this.ticketKeys ? { ticketKeys: this.ticketKeys } : {}),
        ...(this.opts.sessionIdContext ? { sessionIdContext: this.opts.sessionIdContext } : {}),
      });
    }
  }

  /** Replaces the session-ticket keys (a re-read key file): new tickets use them, older ones no longer resume. */
  setTicketKeys(keys: Buffer): void {
    this.ticketKeys = keys;
    for (const server of [this.tls, this.tlsNoAlpn]) server.setTicketKeys(keys);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      if (this.sockets.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  /** Resolves once no connection is open (at once when none is): what a drain waits for. */
  whenIdle(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.idleWaiters.push(resolve); });
  }

  /**
   * Binds the address. With `held`, connections are accepted but wait (within
   * the handshake timeout) until `open(true)`; `open(false)` closes them.
   */
  listen(o: { held?: boolean } = {}): Promise<{ host: string; port: number }> {
    if (o.held) {
      let open!: (go: boolean) => void;
      const opened = new Promise<boolean>((r) => { open = r; });
      this.gate = { opened, open: (go) => { open(go); if (go) this.gate = undefined; } };
    }
    const server: NetServer = this.net = createNetServer({ allowHalfOpen: false, pauseOnConnect: false }, (s) => {
      if ((this.opts.openConnections?.() ?? this.sockets.size) >= this.opts.maxConnections) {
        const remoteAddress = s.remoteAddress && unmap({ address: s.remoteAddress, port: 0 }).address;
        s.destroy();
        this.opts.onLimit?.(remoteAddress);
        return;
      }
      void this.accept(s);
    });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new CountersignError('ERR_LISTEN', `listen ${this.opts.host}:${this.opts.port}: ${err.code === 'EADDRINUSE' ? 'address already in use; stop the other process or change `listen`' : err.code === 'EACCES' ? 'permission denied; use a port above 1023 or grant CAP_NET_BIND_SERVICE' : err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen(this.opts.port, this.opts.host, () => {
        server.removeListener('error', onError);
        const a = server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: this.opts.host, port: this.opts.port });
      });
    });
  }

  /** Lets the connections held since `listen({ held: true })` go on (true) or closes them (false). */
  open(go = true): void {
    this.gate?.open(go);
  }

  /** Stops accepting; open connections are left to the caller's drain. */
  stopAccepting(): Promise<void> {
    const server = this.net;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  get openConnections(): number { return this.sockets.size; }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
