/**
 * Notes the edge takes on a raw connection before its TLS handshake (the
 * ClientHello it read, the address a PROXY header gave, a server-first
 * handover), read back from the TLSSocket Node wraps around that connection.
 * They are keyed by the TCP connection's four-tuple, which the raw socket and
 * its TLSSocket share through public properties (remote and local address and
 * port), not by Node's internal `TLSSocket._parent`. A note goes when its raw
 * socket closes; the edge tests fail if the tuple ever stops matching.
 */
import type { Socket } from 'node:net';

type Addressed = Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>;

/** The four-tuple of a live TCP connection, or undefined once it is gone. */
function tupleOf(s: Addressed): string | undefined {
  if (!s.remoteAddress || s.remotePort === undefined) return undefined;
  return `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}

export class ConnectionNotes<T> {
  private readonly notes = new Map<string, T>();

  /** Notes `value` for the connection of `raw`, until `raw` closes. */
  set(raw: Socket, value: T): void {
    const key = tupleOf(raw);
    if (!key) return;
    this.notes.set(key, value);
    raw.once('close', () => { if (this.notes.get(key) === value) this.notes.delete(key); });
  }

  /** The note of the connection `socket` (the raw socket, or the TLSSocket around it) belongs to. */
  get(socket: Addressed): T | undefined {
    const key = tupleOf(socket);
    return key === undefined ? undefined : this.notes.get(key);
  }

  /** notes held now (for tests: none are left behind) */
  get size(): number { return this.notes.size; }
}
