/**
 * An HTTP/2 upstream session (node:http2 over the TLS socket the pool's
 * connect race set up, authenticated as one identity): it carries as many
 * requests at once as the server's SETTINGS_MAX_CONCURRENT_STREAMS allow
 * (the pool counts them), each a stream with its body both ways, full duplex,
 * the client's request trailers and the server's answer trailers passed on
 * (gRPC). After a GOAWAY it takes no new
 * request; streams the server refused (REFUSED_STREAM, or past the GOAWAY's
 * last stream id) are failed as never processed, so they may go again.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { UpstreamServer } from '../upstream-cluster.js';
import { isHopByHop, NO_TOKENS } from '../hop-by-hop.js';
import { UpstreamFailure } from './failures.js';
import { http2Headers, RAW_REQUEST_HEADERS } from './h2-headers.js';
import type { PooledConnection } from './upstream-pool.js';
import type { UpstreamEvents, UpstreamHead, UpstreamRequest } from './upstream-request.js';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR } = constants;

/** streams a session carries at most, whatever the server allows (nginx's http2_max_concurrent_streams default) */
const MAX_STREAMS = 128;

export class H2Upstream implements PooledConnection {
  readonly protocol = 'h2' as const;
  inFlight = 0;
  uses = 0;
  onGone: (() => void) | undefined;
  readonly session: ClientHttp2Session;
  idleSince = 0;
  private goneAway = false;

  constructor(socket: TLSSocket, readonly server: UpstreamServer, authority: string) {
    this.session = connect(`https://${authority}`, {
      createConnection: () => socket,
      // one identity's session: a generous window, no push
      settings: { enablePush: false, initialWindowSize: 1 << 20 },
      maxSessionMemory: 32,
    });
    this.session.on('error', () => { /* the close below tells */ });
    this.session.on('goaway', () => { this.goneAway = true; });
    this.session.once('close', () => {
      this.goneAway = true;
      this.onGone?.();
    });
  }

  capacity(): number {
    return Math.min(MAX_STREAMS, this.session.remoteSettings?.maxConcurrentStreams ?? 100);
  }

  reusable(): boolean { return !this.goneAway && !this.session.closed && !this.session.destroyed; }

  request(): UpstreamRequest { return new H2UpstreamStream(this); }

  close(): void { if (!this.session.closed) this.session.close(); }

  destroy(err?: Error): void {
    if (!this.session.destroyed) this.session.destroy(err);
  }
}

/** One request on a session. */
class H2UpstreamStream implements UpstreamRequest {
  received = 0;
  private stream: ClientHttp2Stream | undefined;
  private events: UpstreamEvents | undefined;
  private trailers: string[] = [];
  /** the request's own trailers, sent when the stream asks for them */
  private requestTrailers: string[] | undefined;

  constructor(private readonly up: H2Upstream) {}

  start(head: UpstreamHead, events: UpstreamEvents): void {
    this.events = events;
    // a raw list (name, value, …), h2-headers.ts
    const headers: string[] = [':method', head.method, ':path', head.target, ':scheme', 'https'];
    if (head.host) headers.push(':authority', head.host);
    const f = head.fields;
    for (let i = 0; i < f.length; i += 2) {
      const name = f[i].toLowerCase();
      // connection-specific fields are not HTTP/2's (RFC 9113 §8.2.2); TE only as trailers
      if (isHopByHop(name, NO_TOKENS) && name !== 'te') continue;
      headers.push(name, f[i + 1]);
    }
    let stream: ClientHttp2Stream;
    try {
      // a request with a body may end with trailers (known only at its end): the stream waits for them (or for none)
      stream = this.up.session.request(http2Headers(headers, RAW_REQUEST_HEADERS) as OutgoingHttpHeaders, { endStream: head.body === 'none', waitForTrailers: head.body !== 'none' });
    } catch (err) {
      // the session went away between the lease and now: never sent
      queueMicrotask(() => this.fail(new UpstreamFailure('ERR_UPSTREAM_CLOSED', `the upstream session is closed: ${(err as Error).message}`, { cause: err }), true));
      return;
    }
    this.stream = stream;
    stream.on('response', (h: IncomingHttpHeaders, flags: number, raw: string[]) => {
      this.received++;
      const status = Number(h[':status']);
      events.head(status, withoutPseudo(raw), false, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    });
    stream.on('headers', (h: IncomingHttpHeaders, _flags: number, raw: string[]) => { this.received++; events.head(Number(h[':status']), withoutPseudo(raw), true); });
    stream.on('data', (d: Buffer) => { this.received += d.length; this.events?.data(d); });
    stream.on('trailers', (_h: IncomingHttpHeaders, _flags: number, raw: string[]) => { this.trailers = withoutPseudo(raw); });
    stream.on('end', () => {
      const ev = this.events;
      this.events = undefined;
      ev?.end(this.trailers);
    });
    stream.on('drain', () => this.events?.drain());
    if (head.body !== 'none') stream.once('wantTrailers', () => this.sendTrailers(stream));
    stream.on('error', () => { /* the close below tells */ });
    stream.once('close', () => {
      if (!this.events) return;
      const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
      // refused before the server processed it (RFC 9113 §8.7): safe to send again, whatever the method
      const unprocessed = code === NGHTTP2_REFUSED_STREAM || (this.received === 0 && this.up.session.destroyed && stream.id === undefined);
      this.fail(new UpstreamFailure('ERR_UPSTREAM_CLOSED', `the upstream reset the stream (HTTP/2 error code ${code}) before its answer was complete`), unprocessed);
    });
  }

  write(chunk: Buffer): boolean { return this.stream?.write(chunk) ?? true; }

  end(trailers?: string[]): void {
    this.requestTrailers = trailers;
    this.stream?.end();
  }

  /**
   * The body's last DATA frame went without END_STREAM (waitForTrailers): the
   * request's trailers (filtered by the exchange, rewriteTrailers) end the
   * stream, or, when it has none, an empty DATA frame with END_STREAM does
   * (node:http2 sends that for an empty object). sendTrailers takes an object
   * only, on every Node.
   */
  private sendTrailers(stream: ClientHttp2Stream): void {
    if (stream.destroyed) return;
    try {
      stream.sendTrailers(http2Headers(this.requestTrailers ?? [], false) as OutgoingHttpHeaders);
    } catch (err) {
      // a field node:http2 refuses: the request cannot be completed as sent; reset, never end it cut
      stream.destroy(err as Error);
    }
  }

  pause(): void { this.stream?.pause(); }

  resume(): void { this.stream?.resume(); }

  abort(): void {
    this.events = undefined;
    // destroy, not close(): close() ends the request first, and a server would take a cut body as whole
    if (this.stream && !this.stream.destroyed) this.stream.destroy(new Error('request abandoned'));
  }

  private fail(err: UpstreamFailure, unprocessed: boolean): void {
    const ev = this.events;
    this.events = undefined;
    err.unprocessed = unprocessed;
    ev?.failed(err);
  }
}

/** A received raw list (name, value, …) without its pseudo-headers (they come first: RFC 9113 §8.3). */
function withoutPseudo(raw: readonly string[]): string[] {
  let i = 0;
  while (i < raw.length && raw[i].charCodeAt(0) === 58 /* : */) i += 2;
  return raw.slice(i);
}
