/**
 * The edge: a TLS listener that asks for client certificates, picks its server
 * certificate by SNI, and hands every completed handshake to the proxy. It never
 * rejects during the handshake itself (see client-verifier.ts), and a broken
 * client never affects the others.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { CountersignError } from '../errors.js';

export interface ServerContexts {
  /** SNICallback for the TLS server */
  sniCallback: (servername: string, cb: (err: Error | null, ctx?: import('node:tls').SecureContext) => void) => void;
  /** options for the context used when a client sends no SNI (the certificate store keeps it current via setSecureContext) */
  defaultOptions(): SecureContextOptions;
}

export interface EdgeListenerOptions {
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
  selectAlpn?: (servername: string | undefined, offered: string[]) => string | undefined;
  /** max time for a TLS handshake, ms */
  handshakeTimeoutMs: number;
  maxConnections?: number;
  onSecureConnection(socket: TLSSocket): void;
  /** a handshake that failed: garbage, wrong protocol, timeout, disconnect */
  onClientError(err: Error & { code?: string }, remoteAddress: string | undefined): void;
  /**
   * Optional pre-TLS hook (ACME tls-alpn-01): gets the raw socket first and
   * returns true if it took it over; otherwise the TLS server gets it.
   */
  preTls?: (socket: Socket, next: (socket: Socket) => void) => void;
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
  readonly tls: TlsServer;
  private net?: NetServer;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly o: EdgeListenerOptions) {
    this.tls = createTlsServer({
      ...o.contexts.defaultOptions(),
      SNICallback: o.contexts.sniCallback,
      requestCert: true,
      rejectUnauthorized: false,
      ...(o.selectAlpn
        ? { ALPNCallback: ({ servername, protocols }: { servername: string; protocols: string[] }) => o.selectAlpn!(servername || undefined, protocols) }
        : { ALPNProtocols: o.alpn }),
      handshakeTimeout: o.handshakeTimeoutMs,
      ...(o.sessionIdContext ? { sessionIdContext: o.sessionIdContext } : {}),
      // A client's FIN during the handshake must close the socket at once (not
      // linger until handshakeTimeout); connection mode turns half-close on for
      // its sockets once the handshake is done.
      allowHalfOpen: false,
    });
    if (o.ticketKeys) this.tls.setTicketKeys(o.ticketKeys);
    this.tls.on('secureConnection', (s: TLSSocket) => o.onSecureConnection(s));
    this.tls.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
      o.onClientError(err, s.remoteAddress);
      s.destroy();
    });
    this.tls.on('connection', (s: Socket) => this.track(s));
    if (o.maxConnections) this.tls.maxConnections = o.maxConnections;
  }

  /**
   * Replaces the default (no-SNI) context, keeping the shared ticket keys:
   * node:cluster copies the first worker's keys to the others at listen time, but
   * Node's setSecureContext draws new random ones, after which this worker's
   * tickets would no longer resume on the others.
   */
  setSecureContext(options: SecureContextOptions): void {
    // (setSecureContext also resets the session id context to Node's default unless given)
    this.tls.setSecureContext({
      ...options,
      ...(this.o.ticketKeys ? { ticketKeys: this.o.ticketKeys } : {}),
      ...(this.o.sessionIdContext ? { sessionIdContext: this.o.sessionIdContext } : {}),
    });
  }

  /** Replaces the session-ticket keys (a re-read key file): new tickets use them, older ones no longer resume. */
  setTicketKeys(keys: Buffer): void {
    this.o.ticketKeys = keys;
    this.tls.setTicketKeys(keys);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  listen(): Promise<{ host: string; port: number }> {
    const server: NetServer = this.o.preTls
      ? (this.net = createNetServer({ allowHalfOpen: false, pauseOnConnect: false }, (s) => this.o.preTls!(s, (sock) => this.tls.emit('connection', sock))))
      : this.tls;
    if (this.net && this.o.maxConnections) this.net.maxConnections = this.o.maxConnections;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new CountersignError('ERR_LISTEN', `listen ${this.o.host}:${this.o.port}: ${err.code === 'EADDRINUSE' ? 'address already in use; stop the other process or change `listen`' : err.code === 'EACCES' ? 'permission denied; use a port above 1023 or grant CAP_NET_BIND_SERVICE' : err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen(this.o.port, this.o.host, () => {
        server.removeListener('error', onError);
        const a = server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: this.o.host, port: this.o.port });
      });
    });
  }

  /** Stops accepting; open connections are left to the caller's drain. */
  stopAccepting(): Promise<void> {
    const server = this.net ?? this.tls;
    return new Promise((resolve) => server.close(() => resolve()));
  }

  get openConnections(): number { return this.sockets.size; }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
