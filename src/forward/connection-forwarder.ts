/**
 * L4 forwarding: one upstream TLS connection per client connection, bytes piped
 * both ways by streams (backpressure and half-close included; no per-chunk
 * JavaScript of ours on the path).
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { isAlpnRefusal, type ConnectOptions, type UpstreamCluster, type UpstreamServer } from './upstream-cluster.js';
import { diagnoseAlpnMismatch, diagnosisFields, findDiagnosis, type HandshakeDiagnosis } from './upstream-diagnosis.js';

export interface ConnectionOutcome {
  outcome: 'closed' | 'upstream-unavailable' | 'upstream-error' | 'client-error' | 'idle-timeout' | 'alpn-mismatch';
  reason?: string;
  server?: string;
  /** bytes received from the client */
  bytesIn: number;
  /** bytes sent to the client */
  bytesOut: number;
  durationMs: number;
  /** an upstream handshake failure: what is wrong and the key to change (upstream-diagnosis.ts), as log fields */
  diagnosis?: Record<string, unknown>;
}

export interface ForwardConnectionOptions {
  cluster: UpstreamCluster;
  secureContext: SecureContext;
  /** the ALPN protocol offered upstream as the only choice (the one the client negotiated) */
  alpn?: string;
  /**
   * The protocol the upstream must have negotiated (default: `alpn`, or none).
   * Anything else closes both sides (outcome `alpn-mismatch`) and calls
   * `onAlpnMismatch`; the server is not marked as failed.
   */
  expectAlpn?: string | false;
  onAlpnMismatch?(server: UpstreamServer | undefined): void;
  /** the upstream connection is up and piping, to `server` */
  onConnected?(server: UpstreamServer): void;
  /** PROXY protocol header for the upstream */
  proxyHeader?: Buffer;
  idleTimeoutMs: number;
  /**
   * After the upstream closed, how long what it sent may take to reach the
   * client before both sides are closed, ms: a client that stops reading
   * must not hold the connection (and its socket) open. The schema's
   * `DEFAULTS.upstreamCloseDrainMs` (1 s).
   */
  drainAfterUpstreamCloseMs: number;
  sessions?: Map<string, Buffer>;
  /** the client identity, for balance: identity-hash */
  balanceKey?: string;
  /** what the presented client certificate is, for a diagnosis when the server refuses it */
  presenting?: ConnectOptions['presenting'];
  /**
   * A server-first upstream already open (its greeting relayed to the client):
   * TLS is started on it after `request` (MySQL: the client's SSLRequest), on
   * that server alone (the client answers its nonce: no failover).
   */
  over?: { socket: Socket; server: UpstreamServer; request: Buffer };
}

export function forwardConnection(client: TLSSocket, opts: ForwardConnectionOptions): Promise<ConnectionOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let upstream: TLSSocket | undefined;
    let server: string | undefined;
    let outcome: ConnectionOutcome['outcome'] = 'closed';
    let reason: string | undefined;
    let diagnosis: HandshakeDiagnosis | undefined;
    let done = false;
    /** each side's FIN (or close_notify) received */
    let clientEnded = false;
    let upstreamEnded = false;
    const finish = () => {
      if (done) return;
      done = true;
      client.destroy();
      upstream?.destroy();
      resolve({ outcome, reason, server, bytesIn: client.bytesRead, bytesOut: client.bytesWritten, durationMs: Math.round((performance.now() - started) * 1000) / 1000, ...(diagnosis ? { diagnosis: diagnosisFields(diagnosis) } : {}) });
    };
    const setOutcome = (kind: ConnectionOutcome['outcome'], why: string, found?: HandshakeDiagnosis) => {
      if (outcome === 'closed') { outcome = kind; reason = why; diagnosis = found; }
    };
    // a reset by one side once either side has closed its half ends the connection normally: the exchange
    // is over (MySQL after COM_QUIT: each side closes without waiting for the other's close_notify)
    const isLateReset = (err: Error & { code?: string }) => (clientEnded || upstreamEnded) && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
    client.on('error', (err: Error & { code?: string }) => {
      if (!isLateReset(err)) setOutcome('client-error', err.message);
      finish();
    });
    client.once('close', () => { if (!upstream) setOutcome('client-error', 'client left before the upstream answered'); finish(); });
    client.setTimeout(opts.idleTimeoutMs, () => { setOutcome('idle-timeout', `no traffic for ${opts.idleTimeoutMs} ms`); finish(); });
    client.pause();
    client.once('end', () => { clientEnded = true; });

    const connectOptions = { secureContext: opts.secureContext, alpn: opts.alpn ? [opts.alpn] : undefined, sessions: opts.sessions, proxyHeader: opts.proxyHeader, balanceKey: opts.balanceKey, presenting: opts.presenting };
    const over = opts.over;
    const connecting = over
      ? opts.cluster.attempt(over.server, connectOptions, over).then((socket) => ({ socket, server: over.server }))
      : opts.cluster.connect(connectOptions);
    connecting.then(
      ({ socket, server: s }) => {
        if (done) { socket.destroy(); return; }
        const expected = opts.expectAlpn ?? opts.alpn ?? false;
        const got = socket.alpnProtocol || false;
        if (got !== expected) {
          server = s.address;
          socket.destroy();
          const d = diagnoseAlpnMismatch({ upstream: opts.cluster.name, server: s.address, checked: '' }, expected, got);
          setOutcome('alpn-mismatch', `the client negotiated ALPN ${expected || 'none'} but server ${s.address} answered ${got || 'none'}; re-learning what it speaks (to override: ${d.fix})`, d);
          opts.onAlpnMismatch?.(s);
          finish();
          return;
        }
        upstream = socket;
        server = s.address;
        s.active++;
        socket.once('close', () => { s.active--; });
        // a refusal of our client certificate after a TLS 1.3 handshake arrives here, diagnosed by the cluster
        socket.on('error', (err: Error & { code?: string }) => {
          if (isLateReset(err)) { finish(); return; }
          const d = findDiagnosis(err);
          setOutcome('upstream-error', d?.message ?? err.message, d);
          finish();
        });
        socket.once('end', () => { upstreamEnded = true; });
        socket.once('close', () => {
          // The upstream finished: let what it sent drain to the client, then close.
          if (!client.writableEnded) client.end();
          client.once('finish', finish);
          setTimeout(finish, opts.drainAfterUpstreamCloseMs).unref();
        });
        socket.setTimeout(opts.idleTimeoutMs, () => { setOutcome('idle-timeout', `no traffic for ${opts.idleTimeoutMs} ms`); finish(); });
        // request/response protocols: a small write goes out now, not after the peer's delayed ACK
        client.setNoDelay(true);
        socket.setNoDelay(true);
        client.pipe(socket);
        socket.pipe(client);
        client.resume();
        opts.onConnected?.(s);
      },
      (err: Error) => {
        if (isAlpnRefusal(err.cause ?? err)) {
          const d = findDiagnosis(err);
          setOutcome('alpn-mismatch', `the client negotiated ALPN ${opts.alpn} but ${d ? `server ${d.server}` : 'the servers'} refused it (no_application_protocol); re-learning what they speak (to override: upstreams.${opts.cluster.name}.alpn)`, d);
          opts.onAlpnMismatch?.(undefined);
          finish();
          return;
        }
        setOutcome('upstream-unavailable', err.message, findDiagnosis(err));
        server = undefined;
        finish();
      },
    );
  });
}
