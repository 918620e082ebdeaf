/**
 * Answers tls-alpn-01 (RFC 8737) on the edge's main TLS listener. The listener
 * peeks the ClientHello (src/edge/client-hello.ts) and offers the raw socket
 * here first:
 *
 *   const hello = await readClientHello(socket);
 *   if (!responder.handle(socket, hello)) tlsServer.emit('connection', socket);
 *
 * A validation connection offers ALPN `acme-tls/1` with the domain as SNI. When
 * a challenge is pending for that name, the handshake is completed with the
 * challenge certificate (critical id-pe-acmeIdentifier extension holding the
 * SHA-256 of the key authorization, made by acme-client), `acme-tls/1` is
 * selected, and the connection is closed: no application data is ever
 * exchanged on it. Everything else goes to the normal server untouched.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ClientHello } from '../client-hello.js';
import { silentLogger, reasonOf, type EdgeLogger } from '../logger.js';
import type { ChallengeRegistry } from './challenge-registry.js';

export const ACME_TLS_ALPN_PROTOCOL = 'acme-tls/1';
/** A validator that stalls mid-handshake is dropped after this long. */
export const DEFAULT_TLS_ALPN_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsAlpnResponder {
  /**
   * Takes the socket and answers the challenge when `hello` offers `acme-tls/1`
   * for a name with a pending challenge; returns true then. Returns false, and
   * leaves the socket (with its peeked bytes) untouched, otherwise.
   */
  handle(socket: Socket, hello: ClientHello): boolean;
}

export interface TlsAlpnResponderOptions {
  challenges: ChallengeRegistry;
  /** default 10 000 */
  handshakeTimeoutMs?: number;
  logger?: EdgeLogger;
}

export function createTlsAlpnResponder(opts: TlsAlpnResponderOptions): TlsAlpnResponder {
  const logger = opts.logger ?? silentLogger;
  const timeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_TLS_ALPN_HANDSHAKE_TIMEOUT_MS;
  return {
    handle(socket, hello) {
      if (!hello.serverName || !hello.alpnProtocols.includes(ACME_TLS_ALPN_PROTOCOL)) return false;
      const secureContext = opts.challenges.tlsAlpnContext(hello.serverName);
      if (!secureContext) return false;
      const domain = hello.serverName;
      const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL] });
      const timer = setTimeout(() => tlsSocket.destroy(), timeoutMs);
      timer.unref();
      tlsSocket.once('secure', () => {
        logger.info({ domain, remoteAddress: socket.remoteAddress }, 'answered tls-alpn-01 validation');
        tlsSocket.end();
      });
      tlsSocket.on('error', (err) => {
        logger.warn({ domain, remoteAddress: socket.remoteAddress, ...reasonOf(err) }, 'tls-alpn-01 validation connection failed');
        tlsSocket.destroy();
      });
      tlsSocket.once('close', () => clearTimeout(timer));
      return true;
    },
  };
}
