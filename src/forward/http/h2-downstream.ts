/**
 * The HTTP/2 side of client connections: Node's http2 sessions (nghttp2),
 * each stream an Exchange (exchange.ts) whose client side is an H2Request
 * here — the request body read from the stream with backpressure, the answer
 * written with `respond()` (trailers when the client asked for them: gRPC), a
 * failure after the answer began a reset stream (INTERNAL_ERROR). Header
 * limits are checked here (nghttp2 only resets past a much higher bound);
 * rapid resets are limited per connection (http2-reset-limit.ts).
 */
import { constants, createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { ClientConnection } from '../client-connection.js';
import { isHopByHop, NO_TOKENS, rawConnectionTokens } from '../hop-by-hop.js';
import { limitResets, nativeResetLimit, resetOwnStream, type ResetLimitOptions } from '../http2-reset-limit.js';
import type { Logger } from '../../observe/index.js';
import { Exchange, type ClientSide, type ExchangeContext } from './exchange.js';
import { ownAnswerBody, ownAnswerHeaders } from './own-answers.js';
import { Watchdogs, type Watchdog } from './watchdog.js';
import { http2Headers, RAW_RESPONSE_HEADERS } from './h2-headers.js';

export interface H2DownstreamOptions {
  ctx: ExchangeContext;
  logger: Logger;
  maxHeaderSize: number;
  maxHeaderCount: number;
  idleTimeoutMs: number;
  resets: ResetLimitOptions;
}

const { HTTP2_HEADER_STATUS } = constants;

/** One stream: the client side of its exchange. */
class H2Request implements ClientSide {
  readonly version = 2 as const;
  exchange: Exchange | undefined;
  /** the stream has been answered (respond) */
  private answered = false;
  private ended = false;
  private trailers: OutgoingHttpHeaders | undefined;
  private waitsForTrailers = false;

  /** this exchange's timer, from its connection's pool (exchange.ts reads it once, when it begins) */
  watchdog: Watchdog | undefined;

  constructor(readonly stream: ServerHttp2Stream, readonly conn: ClientConnection | undefined, private readonly expectContinue: boolean, private readonly watchdogs: Watchdogs | undefined) {
    this.watchdog = watchdogs?.take();
  }

  respond(status: number, raw: readonly string[], trailers: boolean, complete: boolean): void {
    if (this.gone()) return;
    const listed = rawConnectionTokens(raw);
    // a raw list (name, value, …), h2-headers.ts
    const headers: string[] = [HTTP2_HEADER_STATUS, String(status)];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (isHopByHop(name, listed)) continue;
      headers.push(name, raw[i + 1]);
    }
    this.answered = true;
    if (complete) {
      // the whole answer is this head (gRPC's trailers-only answer carries grpc-status here)
      this.ended = true;
      this.stream.respond(http2Headers(headers, RAW_RESPONSE_HEADERS) as OutgoingHttpHeaders, { endStream: true });
      return;
    }
    this.waitsForTrailers = trailers;
    if (trailers) this.stream.once('wantTrailers', () => { if (!this.stream.destroyed) this.stream.sendTrailers(this.trailers ?? {}); });
    this.stream.respond(http2Headers(headers, RAW_RESPONSE_HEADERS) as OutgoingHttpHeaders, { waitForTrailers: trailers });
  }

  write(chunk: Buffer): boolean {
    if (this.gone()) return true;
    return this.stream.write(chunk);
  }

  end(trailers: readonly string[]): void {
    if (this.gone() || this.ended) return;
    this.ended = true;
    if (this.waitsForTrailers && trailers.length) this.trailers = toHeaders(trailers);
    this.stream.end();
  }

  abort(): void {
    if (!this.stream.destroyed) resetOwnStream(this.stream, 'the answer could not be completed');
  }

  ownAnswer(status: number, message: string): void {
    if (this.gone() || this.answered) return;
    this.answered = true;
    const body = ownAnswerBody(message);
    this.stream.respond({ [HTTP2_HEADER_STATUS]: status, ...ownAnswerHeaders(body) });
    this.stream.end(body);
  }

  pauseRequest(): void { this.stream.pause(); }
  resumeRequest(): void { this.stream.resume(); }

  proceed(): void {
    if (this.expectContinue && !this.gone() && !this.answered) this.stream.additionalHeaders({ [HTTP2_HEADER_STATUS]: 100 });
  }

  whenParsed(run: () => void): void { run(); }

  tunnel(upstream: TLSSocket): void { upstream.destroy(); }

  finished(): void {
    // once: a watchdog given back twice would time two exchanges at once
    const w = this.watchdog;
    this.watchdog = undefined;
    if (w) this.watchdogs!.give(w);
  }

  private gone(): boolean { return this.stream.destroyed || this.stream.closed; }
}

function toHeaders(raw: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (isHopByHop(name, NO_TOKENS)) continue;
    const v = out[name];
    if (v === undefined) out[name] = raw[i + 1];
    else if (Array.isArray(v)) v.push(raw[i + 1]);
    else out[name] = [v as string, raw[i + 1]];
  }
  return out;
}

/** Header fields of a request, pseudo-headers (`:path` …) not counted. */
function headerCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].charCodeAt(0) !== 58 /* : */) n++;
  return n;
}

/** Size of a header list as HTTP/2 counts it (RFC 9113 6.5.2): name + value + 32 per field. */
function headerBytes(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) n += raw[i].length + raw[i + 1].length + 32;
  return n;
}

export class H2Downstream {
  private readonly server: Http2Server;
  private readonly sessions = new Set<Http2Session>();
  private readonly bySession = new WeakMap<Http2Session, ClientConnection>();
  private readonly watchdogsOf = new WeakMap<Http2Session, Watchdogs>();
  private pending: ClientConnection | undefined;

  constructor(private readonly opts: H2DownstreamOptions) {
    this.server = createServer({
      maxSessionMemory: 32, ...nativeResetLimit(opts.resets),
      // nghttp2 resets a stream past this (ENHANCE_YOUR_CALM); set well above the
      // limit so that a request over it is answered 431
      maxHeaderListPairs: Math.max(128, opts.maxHeaderCount * 2 + 8),
    });
    this.server.on('session', (session: Http2Session) => {
      const conn = this.pending;
      if (conn) this.bySession.set(session, conn);
      limitResets(session, opts.resets, (resets) => {
        opts.logger.warn({ conn: conn?.id, identity: conn?.client?.identity, remoteAddress: conn?.remoteAddress, outcome: 'reset-flood', reason: 'too many HTTP/2 stream resets (limits.http2Resets)', resets }, 'connection closed with GOAWAY');
      });
      this.sessions.add(session);
      const watchdogs = new Watchdogs(opts.ctx.requestTimeoutMs);
      this.watchdogsOf.set(session, watchdogs);
      session.once('close', () => {
        this.sessions.delete(session);
        watchdogs.stop();
      });
      session.setTimeout(opts.idleTimeoutMs, () => session.close());
    });
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => this.onStream(stream, headers, flags, raw));
  }

  /** Takes over a client connection that negotiated h2. */
  accept(socket: TLSSocket, conn: ClientConnection): void {
    // An HTTP/2 session never ends its side on the client's FIN: a half-open
    // socket would stay open forever (and hold up a graceful stop).
    socket.allowHalfOpen = false;
    this.pending = conn;
    this.server.emit('connection', socket);
    this.pending = undefined;
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
    const session = stream.session as Http2Session;
    const conn = this.bySession.get(session);
    stream.on('error', () => { /* a reset stream; its exchange hears of it on close */ });
    const method = String(headers[':method'] ?? 'GET');
    const target = String(headers[':path'] ?? '');
    const hasBody = (flags & constants.NGHTTP2_FLAG_END_STREAM) === 0;
    const r = new H2Request(stream, conn, String(headers.expect ?? '').toLowerCase() === '100-continue', this.watchdogsOf.get(session));
    const req = {
      method, target, raw, authority: headers[':authority'] as string | undefined,
      body: !hasBody ? 'none' as const : headers['content-length'] !== undefined ? 'length' as const : 'stream' as const,
    };
    // HTTP/2 header size is the list's (HPACK-decoded), checked here; the count too
    let refusal: { status: number; message: string; reason: string } | undefined;
    if (headerBytes(raw) > this.opts.maxHeaderSize) refusal = { status: 431, message: 'request header fields too large', reason: 'headers larger than limits.maxHeaderSize' };
    else if (headerCount(raw) > this.opts.maxHeaderCount) refusal = { status: 431, message: 'too many request header fields', reason: 'more header fields than limits.maxHeaderCount' };
    else if (method === 'CONNECT') refusal = { status: 405, message: 'CONNECT is not served', reason: 'CONNECT' };
    if (refusal) {
      r.exchange = Exchange.refused(r, this.opts.ctx, { ...req, body: 'none' }, { ...refusal, close: false });
      if (hasBody) stream.resume();
      return;
    }
    const exchange = new Exchange(r, this.opts.ctx, req);
    r.exchange = exchange;
    if (hasBody) {
      let trailers: string[] | undefined;
      stream.on('data', (chunk: Buffer) => exchange.requestData(chunk));
      stream.once('trailers', (_h: IncomingHttpHeaders, _f: number, rawTrailers: string[]) => { trailers = rawTrailers; });
      stream.once('end', () => exchange.requestEnd(trailers));
    }
    stream.on('drain', () => exchange.clientDrain());
    // a stream closed before its answer is complete: the client reset it or went away
    stream.once('close', () => {
      exchange.clientGone();
      // over either way: its watchdog goes back to the connection's pool (once)
      r.finished();
    });
    exchange.start();
  }

  /** Graceful stop: GOAWAY, streams in progress finish. */
  close(): void { for (const s of this.sessions) s.close(); }

  destroy(): void { for (const s of this.sessions) s.destroy(); }
}
