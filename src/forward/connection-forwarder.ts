/**
 * L4 forwarding: one upstream TLS connection per client connection, bytes piped
 * both ways by streams (backpressure and half-close included; no per-chunk
 * JavaScript of ours on the path).
 */
import type { TLSSocket } from 'node:tls';
import type { SecureContext } from 'node:tls';
import type { UpstreamCluster } from './upstream-cluster.js';

export interface ConnectionOutcome {
  outcome: 'closed' | 'upstream-unavailable' | 'upstream-error' | 'client-error' | 'idle-timeout';
  reason?: string;
  server?: string;
  /** bytes received from the client */
  bytesIn: number;
  /** bytes sent to the client */
  bytesOut: number;
  durationMs: number;
}

export interface ForwardConnectionOptions {
  cluster: UpstreamCluster;
  secureContext: SecureContext;
  /** the ALPN protocol the client negotiated, offered upstream as the only choice */
  alpn?: string;
  idleTimeoutMs: number;
  sessions?: Map<string, Buffer>;
  /** the client identity, for balance: identity-hash */
  balanceKey?: string;
}

export function forwardConnection(client: TLSSocket, o: ForwardConnectionOptions): Promise<ConnectionOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let upstream: TLSSocket | undefined;
    let server: string | undefined;
    let outcome: ConnectionOutcome['outcome'] = 'closed';
    let reason: string | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      client.destroy();
      upstream?.destroy();
      resolve({ outcome, reason, server, bytesIn: client.bytesRead, bytesOut: client.bytesWritten, durationMs: Math.round((performance.now() - started) * 1000) / 1000 });
    };
    const setOutcome = (o: ConnectionOutcome['outcome'], r: string) => {
      if (outcome === 'closed') { outcome = o; reason = r; }
    };
    client.on('error', (err) => { setOutcome('client-error', err.message); finish(); });
    client.once('close', () => { if (!upstream) setOutcome('client-error', 'client left before the upstream answered'); finish(); });
    client.setTimeout(o.idleTimeoutMs, () => { setOutcome('idle-timeout', `no traffic for ${o.idleTimeoutMs} ms`); finish(); });
    client.pause();

    o.cluster.connect({ secureContext: o.secureContext, alpn: o.alpn ? [o.alpn] : undefined, sessions: o.sessions, balanceKey: o.balanceKey }).then(
      ({ socket, server: s }) => {
        if (done) { socket.destroy(); return; }
        upstream = socket;
        server = s.address;
        s.active++;
        socket.once('close', () => { s.active--; });
        socket.on('error', (err) => { setOutcome('upstream-error', err.message); finish(); });
        socket.once('close', () => {
          // The upstream finished: let what it sent drain to the client, then close.
          if (!client.writableEnded) client.end();
          client.once('finish', finish);
          setTimeout(finish, 1000).unref();
        });
        socket.setTimeout(o.idleTimeoutMs, () => { setOutcome('idle-timeout', `no traffic for ${o.idleTimeoutMs} ms`); finish(); });
        client.pipe(socket);
        socket.pipe(client);
        client.resume();
      },
      (err: Error) => {
        setOutcome('upstream-unavailable', err.message);
        server = undefined;
        finish();
      },
    );
  });
}
