/**
 * After a 101 (an upgrade, e.g. WebSocket): the client's socket and the
 * upstream's are spliced, bytes moving both ways with backpressure, counted
 * for the request's record; either side closing or failing closes the other.
 */
import type { Duplex } from 'node:stream';

export interface TunnelBytes { fromClient: number; fromUpstream: number }

/**
 * Splices `client` and `upstream`; `clientHead` and `upstreamHead` are bytes
 * each sent before the splice (read along with the heads). `closed` is called
 * once, when both are gone.
 */
export function splice(client: Duplex, upstream: Duplex, clientHead: Buffer, upstreamHead: Buffer, closed: (bytes: TunnelBytes) => void): void {
  const bytes: TunnelBytes = { fromClient: clientHead.length, fromUpstream: upstreamHead.length };
  let open = 2;
  const gone = () => { if (--open === 0) closed(bytes); };
  const close = () => { client.destroy(); upstream.destroy(); };
  if (upstreamHead.length) client.write(upstreamHead);
  if (clientHead.length) upstream.write(clientHead);
  pump(client, upstream, (n) => { bytes.fromClient += n; });
  pump(upstream, client, (n) => { bytes.fromUpstream += n; });
  for (const s of [client, upstream]) {
    s.on('error', close);
    s.once('close', () => { close(); gone(); });
  }
  client.resume();
  upstream.resume();
}

/** `from`'s data to `to`, pausing `from` while `to` is full; `from`'s end ends `to`. */
function pump(from: Duplex, to: Duplex, count: (n: number) => void): void {
  from.on('data', (d: Buffer) => {
    count(d.length);
    if (!to.write(d)) { from.pause(); to.once('drain', () => from.resume()); }
  });
  from.once('end', () => to.end());
}
