/**
 * The HTTP/1.1 side of a client connection: Node's own strict parser
 * (h1-parser.ts) reads each request head; each request is an Exchange
 * (exchange.ts) whose client side is an H1Request here, which frames the
 * answer for the client (Content-Length as it came, anything else re-framed
 * as chunks, until-close for HTTP/1.0) and moves the request body as bytes
 * with backpressure both ways. Requests are served one at a time, in order:
 * pipelined ones wait, parsed, until the one before is answered.
 *
 * What Node's http server adds on top of llhttp is repeated here: HTTP/1.1
 * needs a Host, `Expect: 100-continue` is answered by the proxy (other
 * expectations get 417), CONNECT is not served (405), and an Upgrade is an
 * exchange spliced after its 101 (tunnel.ts) — only as the connection's last
 * request, without a body. Timeouts as Node's server: the head within
 * timeouts.request (408), no body gap over it (408, the connection closed), and
 * the keep-alive time between requests.
 */
import { http } from '../../node-http.js';
import type { TLSSocket } from 'node:tls';
import type { ClientConnection } from '../client-connection.js';
import { isHopByHop, NO_TOKENS, rawConnectionTokens, teAcceptsTrailers } from '../hop-by-hop.js';
import { Exchange, type ClientSide, type ExchangeContext } from './exchange.js';
import { METHODS, createParser, type NativeHttpParser, type ParseError, type ParserEvents } from './h1-parser.js';
import { rawOwnAnswer } from './own-answers.js';
import { namingKeptFields } from './request-head.js';
import { splice } from './tunnel.js';
import { Watchdog } from './watchdog.js';

export interface H1DownstreamOptions {
  ctx: ExchangeContext;
  maxHeaderSize: number;
  maxHeaderCount: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** the proxy is stopping: answers say Connection: close */
  closing(): boolean;
  /** a request refused by the parser (no request record: it never was one) */
  logRefused(conn: ClientConnection, reason: string): void;
  /** the connection is no longer served (closed, or a tunnel) */
  forget(c: H1Downstream): void;
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const NONE = 0, LENGTH = 1, CHUNKED = 2, UNTIL_CLOSE = 3;
type Framing = typeof NONE | typeof LENGTH | typeof CHUNKED | typeof UNTIL_CLOSE;

/** A refusal decided while parsing, answered when the request's turn comes. */
interface Refusal {
  status: number;
  message: string;
  reason: string;
  close: boolean;
  /** refused as Node's parser layer refuses (empty body, a `request refused` line, no request record) */
  parseLevel?: boolean;
}

/** One request of the connection: the client side of its exchange. */
class H1Request implements ClientSide {
  readonly version = 1 as const;
  exchange: Exchange | undefined;
  refusal: Refusal | undefined;
  reqBody: Framing = NONE;
  /** the whole request (body included) has been parsed */
  reqDone = false;
  expectContinue = false;
  continued = false;
  /** an Upgrade: the bytes after its head, for the tunnel */
  upgradeHead: Buffer | undefined;
  /** the client asked for trailers (TE: trailers) */
  acceptsTrailers = false;
  /** the protocol an Upgrade asks for */
  upgradeTo: string | undefined;
  /** the exchange stopped taking the body (its upstream is full, or not there yet) */
  paused = false;
  resFraming: Framing = NONE;
  headSent = false;
  done = false;
  /** an own answer waiting for the rest of the request body to be read (the connection stays usable) */
  deferred: string | undefined;

  constructor(
    readonly d: H1Downstream,
    readonly method: string,
    readonly url: string,
    readonly http10: boolean,
    readonly raw: string[],
    /** the client's keep-alive (HTTP/1.1 without Connection: close, or 1.0 with keep-alive) */
    readonly keepAlive: boolean,
  ) {}

  get conn(): ClientConnection { return this.d.conn; }

  respond(status: number, raw: readonly string[]): void { this.d.respond(this, status, raw); }
  write(chunk: Buffer): boolean { return this.d.writeBody(this, chunk); }
  end(trailers: readonly string[]): void { this.d.endBody(this, trailers); }
  abort(): void { this.d.socket.destroy(); }
  ownAnswer(status: number, message: string, close: boolean): void { this.d.ownAnswer(this, status, message, close); }
  pauseRequest(): void { this.paused = true; this.d.updateReading(); }
  resumeRequest(): void { this.paused = false; this.d.updateReading(); }
  proceed(): void {
    // the client waits for it before sending the body: the proxy answers 100 itself (the upstream never sees Expect)
    if (this.expectContinue && !this.continued && !this.reqDone) { this.continued = true; this.d.put(CONTINUE); }
  }
  whenParsed(run: () => void): void { this.d.whenParsed(run); }
  get watchdog(): Watchdog { return this.d.watchdog; }
  cork(): void { this.d.batch(); }
  uncork(): void { this.d.flush(); }
  tunnel(upstream: TLSSocket, head: Buffer, closed: () => void): void { this.d.tunnel(this, upstream, head, closed); }
  finished(): void { this.d.finished(this); }
}

export class H1Downstream implements ParserEvents {
  private readonly parser: NativeHttpParser;
  private readonly queue: H1Request[] = [];
  /** the request whose head or body the parser is in */
  private parsing: H1Request | undefined;
  private inHead = false;
  private headStartedAt = 0;
  private parseError: ParseError | undefined;
  private dead = false;
  /** the socket belongs to a tunnel now */
  private tunneled = false;
  private reading = true;
  /** no request after the current one is served (Connection: close, an upgrade, a refusal) */
  private endAfter = false;
  private requests = 0;
  private readonly reqTimer: NodeJS.Timeout;
  private reqTimerPending = true;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleSince = 0;
  private idleTimerPending = false;
  private lastBodyAt = 0;
  private inExecute = false;
  /** what waits for the current chunk to be parsed whole (an exchange's head going upstream) */
  private afterParse: (() => void)[] | undefined;
  /**
   * What is written while an upstream read is reported (batch() … flush()):
   * the answer's head, body bytes, the last chunk. Sent as one Buffer in one
   * socket write, so one TLS record, and none of Writable's cork machinery
   * (a buffered entry per write, a writev of strings and buffers that the TLS
   * layer copies together again). Every write of the connection goes through
   * put() so that nothing overtakes what is batched.
   */
  private out: (string | Buffer)[] = [];
  private outBytes = 0;
  private batching = false;

  /** the timer of this connection's exchanges (one at a time) */
  readonly watchdog: Watchdog;
  private readonly onData = (d: Buffer) => this.data(d);
  private readonly onClose = () => this.closed();
  private readonly onError = () => {};
  private readonly onDrain = () => this.queue[0]?.exchange?.clientDrain();

  constructor(readonly socket: TLSSocket, readonly conn: ClientConnection, private readonly opts: H1DownstreamOptions) {
    this.parser = createParser('request', opts.maxHeaderSize, this);
    this.watchdog = new Watchdog(opts.ctx.requestTimeoutMs);
    // as Node's http server does (its noDelay default): a response head must not wait for an ACK
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('drain', this.onDrain);
    // the first request's head must arrive within timeouts.request (Node's headersTimeout)
    this.headStartedAt = performance.now();
    this.reqTimer = setTimeout(() => this.reqTimeout(), opts.requestTimeoutMs);
    this.reqTimer.unref();
  }

  /** Idle now (no request in progress): closed (graceful stop). */
  closeIfIdle(): void {
    if (this.queue.length === 0 && !this.inHead && !this.dead && !this.tunneled) this.socket.destroy();
  }

  destroy(): void { this.socket.destroy(); }

  // ---- reading the client ------------------------------------------------------

  private data(chunk: Buffer): void {
    if (this.dead || this.parseError || this.tunneled) return;
    const up = this.queue[0];
    if (up?.upgradeHead) { up.upgradeHead = Buffer.concat([up.upgradeHead, chunk]); return; }
    this.inExecute = true;
    const r = this.parser.execute(chunk);
    this.inExecute = false;
    const after = this.afterParse;
    this.afterParse = undefined;
    if (typeof r !== 'number') {
      this.parseError = r;
      this.stopReading();
      const first = this.queue[0];
      if (first && !first.done && !first.headSent) {
        // As Node's server answers a parse error at once (the request before it
        // included, unless its answer is under way): nothing half-read goes on.
        first.done = true;
        first.exchange?.clientGone();
        this.queue.length = 0;
      }
      if (this.queue.length === 0) this.refuseParse();
      return;
    }
    // an upgrade (or CONNECT) stops the parser after its head: the rest is the tunnel's
    const last = this.queue[this.queue.length - 1];
    if (last?.upgradeHead && r < chunk.length) last.upgradeHead = chunk.subarray(r);
    if (after) for (const run of after) run();
    if (this.inHead && !this.reqTimerPending) this.armReqTimer();
    if (this.parsing && !this.parsing.reqDone) { this.lastBodyAt = performance.now(); this.armReqTimer(true); }
    this.updateReading();
  }

  messageBegin(): void {
    this.inHead = true;
    this.idleSince = 0;
    if (this.requests > 0) this.headStartedAt = performance.now();
  }

  headersComplete(major: number, minor: number, raw: string[], methodNum: number | undefined, url: string, _s: number | undefined, _sm: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    this.inHead = false;
    // nothing after a request that closes the connection is served
    if (this.dead || this.endAfter) return 1;
    this.requests++;
    const method = METHODS[methodNum ?? -1] ?? 'GET';
    const r = new H1Request(this, method, url, major === 1 && minor === 0, raw, keepAlive);
    let hosts = 0, count = 0, expect: string | undefined, upgradeTo: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      count++;
      const n = raw[i];
      const len = n.length;
      // only the names this side cares about are lower-cased
      if (len === 4 && n.toLowerCase() === 'host') hosts++;
      else if (len === 6 && n.toLowerCase() === 'expect') expect = raw[i + 1];
      else if (len === 14 && n.toLowerCase() === 'content-length') { if (r.reqBody === NONE) r.reqBody = LENGTH; }
      else if (len === 17 && n.toLowerCase() === 'transfer-encoding') r.reqBody = CHUNKED;
      else if (len === 7 && n.toLowerCase() === 'upgrade') r.upgradeTo = upgradeTo = raw[i + 1];
      else if (len === 2 && n.toLowerCase() === 'te') { if (teAcceptsTrailers(raw[i + 1])) r.acceptsTrailers = true; }
    }
    this.queue.push(r);
    this.parsing = r;
    let skip = 0;
    if (count > this.opts.maxHeaderCount + 1) {
      // Node's parser stops at maxHeaderCount + 1 fields (maxHeadersCount): HPE_HEADER_OVERFLOW, 431, closed
      r.refusal = { status: 431, message: '', reason: 'HPE_HEADER_OVERFLOW', close: true, parseLevel: true };
    } else if (major === 1 && minor === 1 && hosts === 0) {
      // Node's requireHostHeader: 400, connection closed
      r.refusal = { status: 400, message: '', reason: 'missing Host header', close: true, parseLevel: true };
    } else if (method === 'CONNECT') {
      r.refusal = { status: 405, message: 'CONNECT is not served', reason: 'CONNECT', close: true };
      skip = 2;
    } else if (upgrade) {
      // an upgrade is the connection's last request: the parser stops after its head (2: llhttp's "upgrade")
      skip = 2;
      r.upgradeHead = Buffer.alloc(0);
      if (r.reqBody !== NONE) r.refusal = { status: 400, message: 'an upgrade request must not have a body', reason: 'upgrade with a body', close: true };
      else if (this.queue.length > 1) r.refusal = { status: 400, message: 'an upgrade is not served behind pipelined requests', reason: 'pipelined upgrade', close: true };
    } else if (expect !== undefined && expect.toLowerCase() !== '100-continue') {
      // Node's server: an expectation it cannot meet
      r.refusal = { status: 417, message: 'expectation not supported', reason: `Expect: ${expect}`, close: true };
    } else if (count > this.opts.maxHeaderCount) {
      r.refusal = { status: 431, message: 'too many request header fields', reason: 'more header fields than limits.maxHeaderCount', close: false };
    }
    if (skip === 2) { this.endAfter = true; r.reqDone = true; this.parsing = undefined; }
    r.expectContinue = expect !== undefined && r.refusal === undefined;
    if (!r.refusal) {
      r.exchange = new Exchange(r, this.opts.ctx, {
        method, target: url, raw, body: r.reqBody === NONE ? 'none' : r.reqBody === LENGTH ? 'length' : 'stream',
        upgrade: upgrade && skip === 2 ? upgradeTo ?? 'websocket' : undefined,
      });
    }
    if (this.queue.length === 1) this.start(r);
    return skip;
  }

  body(chunk: Buffer): void {
    const r = this.parsing;
    if (!r || r.done || !r.exchange) return;
    r.exchange.requestData(chunk);
  }

  messageComplete(trailers: string[]): void {
    const r = this.parsing;
    this.parsing = undefined;
    if (!r) return;
    r.reqDone = true;
    if (r.deferred !== undefined) { const answer = r.deferred; r.deferred = undefined; this.writeAndNext(r, answer, false); return; }
    // a chunked body's trailer section goes on (filtered by the exchange)
    if (!r.done) r.exchange?.requestEnd(trailers.length ? trailers : undefined);
  }

  /** Reading stops while the upstream is full or not there yet, or a request waits behind another. */
  updateReading(): void {
    if (this.dead || this.tunneled) return;
    const r = this.queue[0];
    const want = !this.endAfter && !this.parseError && this.queue.length <= 1
      && !(r && !r.reqDone && r.deferred === undefined && !r.done && r.paused);
    if (want !== this.reading) {
      this.reading = want;
      if (want) this.socket.resume(); else this.socket.pause();
    }
  }

  private stopReading(): void {
    if (this.reading) { this.reading = false; this.socket.pause(); }
  }

  whenParsed(run: () => void): void {
    if (this.inExecute) (this.afterParse ??= []).push(run);
    else run();
  }

  private armReqTimer(refresh = false): void {
    if (!this.reqTimerPending || refresh) { this.reqTimer.refresh(); this.reqTimerPending = true; }
  }

  private reqTimeout(): void {
    this.reqTimerPending = false;
    if (this.dead || this.tunneled) return;
    const now = performance.now();
    const limit = this.opts.requestTimeoutMs;
    if (this.inHead || (this.requests === 0 && this.queue.length === 0)) {
      if (now - this.headStartedAt >= limit - 1) {
        // Node's headersTimeout: 408, connection closed
        this.opts.logRefused(this.conn, 'ERR_HTTP_REQUEST_TIMEOUT');
        this.endWith(rawOwnAnswer(408, '', { close: true }));
      } else this.armReqTimer();
      return;
    }
    const r = this.parsing;
    if (r && !r.reqDone) {
      // a request body with a gap over timeouts.request: 408 (nothing answered yet) and the connection closed
      if (now - this.lastBodyAt >= limit - 1) {
        if (r.exchange) r.exchange.clientTimedOut();
        else this.socket.destroy();
      } else this.armReqTimer();
    }
  }

  /**
   * The keep-alive wait begins. Its timer is started once and re-checks when
   * it fires (closing the connection if it has been idle that long since,
   * else waiting for the rest of the time), rather than being refreshed after
   * every request: a timer per keep-alive period, not per request.
   */
  private becomeIdle(): void {
    this.idleSince = performance.now();
    if (this.idleTimerPending) return;
    this.armIdleTimer(this.opts.keepAliveTimeoutMs);
  }

  private armIdleTimer(ms: number): void {
    this.idleTimerPending = true;
    this.idleTimer = setTimeout(this.onIdleTimer, ms);
    this.idleTimer.unref();
  }

  private readonly onIdleTimer = (): void => {
    this.idleTimerPending = false;
    if (this.dead || this.idleSince === 0 || this.queue.length || this.inHead) return;
    const left = this.opts.keepAliveTimeoutMs - (performance.now() - this.idleSince);
    if (left <= 1) this.socket.destroy();
    else this.armIdleTimer(left);
  };

  private closed(): void {
    if (this.dead) return;
    this.dead = true;
    this.watchdog.stop();
    clearTimeout(this.reqTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const r = this.queue[0];
    if (r && !r.done) { r.done = true; r.exchange?.clientGone(); }
    this.queue.length = 0;
    this.opts.forget(this);
    setImmediate(() => this.parser.close());
  }

  /** A request the parser refused, answered as Node's server answers it, once its turn comes. */
  private refuseParse(): void {
    const err = this.parseError!;
    this.opts.logRefused(this.conn, err.code ?? err.message);
    this.endWith(rawOwnAnswer(err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, '', { close: true }));
  }

  private endWith(answer: string): void {
    this.stopReading();
    this.endAfter = true;
    this.flush();
    if (this.socket.writable) this.socket.end(answer, 'latin1'); else this.socket.destroy();
  }

  // ---- one request's turn ----------------------------------------------------------

  private start(r: H1Request): void {
    this.idleSince = 0;
    const refusal = r.refusal;
    if (refusal?.parseLevel) {
      r.done = true;
      this.opts.logRefused(this.conn, refusal.reason);
      this.queue.length = 0;
      this.endWith(rawOwnAnswer(refusal.status, '', { close: true }));
      return;
    }
    if (refusal) {
      r.exchange = Exchange.refused(r, this.opts.ctx, { method: r.method, target: r.url, raw: r.raw, body: 'none' }, refusal);
      return;
    }
    r.exchange!.start();
  }

  /** @internal an exchange (or a refusal) is over: the next request's turn, or the connection's end */
  finished(r: H1Request): void {
    // an own answer has taken its turn already (written, or waiting for the body to be read)
    if (r.done) return;
    r.done = true;
    this.next(r);
  }

  private next(r: H1Request): void {
    // (pop when it is the only one: shift() of a one-element array is a call into V8's C++ each request)
    if (this.queue[0] === r) { if (this.queue.length === 1) this.queue.pop(); else this.queue.shift(); }
    if (this.dead || this.tunneled) return;
    if (this.endAfter) { this.queue.length = 0; this.flush(); if (this.socket.writable) this.socket.end(); else this.socket.destroy(); return; }
    const next = this.queue[0];
    if (next) { this.start(next); this.updateReading(); return; }
    if (this.parseError) { this.refuseParse(); return; }
    if (this.opts.closing()) { this.flush(); this.socket.end(); return; }
    if (!this.inHead) this.becomeIdle();
    this.updateReading();
  }

  private writeAndNext(r: H1Request, answer: string, close: boolean): void {
    r.done = true;
    if (close) {
      this.queue.length = 0;
      this.endWith(answer);
      return;
    }
    this.put(answer);
    this.next(r);
  }

  // ---- the answer ------------------------------------------------------------------

  /** @internal */
  ownAnswer(r: H1Request, status: number, message: string, close: boolean): void {
    const closeIt = close || !r.keepAlive || this.opts.closing() || r.upgradeHead !== undefined || (r.expectContinue && !r.continued && !r.reqDone);
    const answer = rawOwnAnswer(status, message, { close: closeIt, http10: r.http10 });
    // a request whose body is not read to its end leaves the connection unusable:
    // read it to its end first, as Node's server does (the connection stays usable)
    if (!closeIt && !r.reqDone && this.parsing === r) {
      r.deferred = answer;
      r.done = true;
      this.updateReading();
      return;
    }
    this.writeAndNext(r, answer, closeIt || !r.reqDone);
  }

  /** @internal the answer's head from the upstream */
  respond(r: H1Request, status: number, raw: readonly string[]): void {
    if (r.done) return;
    // hung up (its FIN ended the socket) before the answer came
    if (!this.socket.writable) { r.done = true; r.exchange?.clientGone(); return; }
    const listed = namingKeptFields(rawConnectionTokens(raw));
    let length = false, chunked = false, upgradeTo: string | undefined;
    let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'unknown'}\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      const c = answerFieldClass(n);
      if (c === A_LENGTH) length = true;
      else if (c === A_CHUNKED) chunked = true;
      else if (c === A_UPGRADE) upgradeTo = raw[i + 1];
      if (c !== A_KEEP && c !== A_LENGTH) continue;
      // a name the upstream's Connection header lists is hop-by-hop too
      if (listed.length && isHopByHop(n.toLowerCase(), listed)) continue;
      head += `${n}: ${raw[i + 1]}\r\n`;
    }
    r.headSent = true;
    if (status === 101) {
      // the tunnel follows (tunnel())
      head += `connection: upgrade\r\nupgrade: ${upgradeTo ?? r.upgradeTo}\r\n`;
      this.put(head + '\r\n');
      return;
    }
    const noBody = r.method === 'HEAD' || status === 204 || status === 304;
    if (noBody) r.resFraming = NONE;
    else if (length && !chunked) r.resFraming = LENGTH;
    else if (!r.http10) { r.resFraming = CHUNKED; head += 'transfer-encoding: chunked\r\n'; }
    else r.resFraming = UNTIL_CLOSE;
    if (r.resFraming === UNTIL_CLOSE || !r.keepAlive || this.opts.closing() || !r.reqDone || r.upgradeHead !== undefined) {
      this.endAfter = true;
      head += 'connection: close\r\n';
    } else if (r.http10) {
      head += 'connection: keep-alive\r\n';
    }
    // (within an upstream read a batch is open already: head and body leave together)
    if (this.batching) { this.put(head + '\r\n'); return; }
    this.batch();
    this.put(head + '\r\n');
    process.nextTick(flushLater, this);
  }

  /** @internal */
  writeBody(r: H1Request, chunk: Buffer): boolean {
    if (r.done || this.dead) return true;
    if (r.resFraming !== CHUNKED) return this.put(chunk);
    this.put(`${chunk.length.toString(16)}\r\n`);
    this.put(chunk);
    return this.put(CRLF);
  }

  /** @internal */
  endBody(r: H1Request, trailers: readonly string[]): void {
    if (r.done || this.dead) return;
    if (r.resFraming !== CHUNKED) return;
    if (!trailers.length || !r.acceptsTrailers) { this.put(LAST_CHUNK); return; }
    let t = '0\r\n';
    for (let i = 0; i < trailers.length; i += 2) t += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
    this.put(t + '\r\n');
  }

  // ---- writing to the client -----------------------------------------------------

  /** @internal From now, writes wait for flush() (they leave as one). */
  batch(): void { this.batching = true; }

  /**
   * @internal A write to the client (strings are latin1: header text as the
   * parser gave it). Returns false when the client is full, as socket.write
   * does (then 'drain' comes).
   */
  put(data: string | Buffer): boolean {
    if (!this.batching) return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
    this.out.push(data);
    this.outBytes += data.length;
    return this.socket.writableLength + this.outBytes < this.socket.writableHighWaterMark;
  }

  /** @internal What was batched leaves in one write. */
  flush(): void {
    this.batching = false;
    const out = this.out;
    if (out.length === 0) return;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    // nothing is written to a socket that is gone (as socket.write after destroy, without its error)
    if (this.socket.destroyed) return;
    if (out.length === 1) { const one = out[0]; if (typeof one === 'string') this.socket.write(one, 'latin1'); else this.socket.write(one); return; }
    const buf = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (const piece of out) at += typeof piece === 'string' ? buf.write(piece, at, 'latin1') : piece.copy(buf, at);
    this.socket.write(buf);
  }

  /** @internal after a 101: the socket is the tunnel's */
  tunnel(r: H1Request, upstream: TLSSocket, head: Buffer, closed: () => void): void {
    this.tunneled = true;
    this.watchdog.stop();
    r.done = true;
    this.queue.length = 0;
    clearTimeout(this.reqTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('drain', this.onDrain);
    s.removeListener('close', this.onClose);
    this.flush();
    this.opts.forget(this);
    setImmediate(() => this.parser.close());
    const clientHead = r.upgradeHead ?? Buffer.alloc(0);
    r.upgradeHead = undefined;
    splice(s, upstream, clientHead, head, (bytes) => {
      r.exchange?.tunnelBytes(bytes.fromClient, bytes.fromUpstream);
      closed();
    });
  }
}

const flushLater = (d: H1Downstream) => d.flush();

/** what the answer's framing makes of a field of the upstream's answer: kept, Content-Length (kept), hop-by-hop (Transfer-Encoding, Upgrade, the others) */
const A_KEEP = 0, A_LENGTH = 1, A_CHUNKED = 2, A_UPGRADE = 3, A_HOP = 4;
type AnswerFieldClass = typeof A_KEEP | typeof A_LENGTH | typeof A_CHUNKED | typeof A_UPGRADE | typeof A_HOP;
/** per name as sent (any spelling): an upstream sends the same few names each answer; bounded, the names are the upstream's */
const answerClassMemo = new Map<string, AnswerFieldClass>();
const MAX_ANSWER_MEMO = 512;

function answerFieldClass(name: string): AnswerFieldClass {
  let c = answerClassMemo.get(name);
  if (c !== undefined) return c;
  const lower = name.toLowerCase();
  c = lower === 'content-length' ? A_LENGTH : lower === 'transfer-encoding' ? A_CHUNKED : lower === 'upgrade' ? A_UPGRADE : isHopByHop(lower, NO_TOKENS) ? A_HOP : A_KEEP;
  if (answerClassMemo.size < MAX_ANSWER_MEMO) answerClassMemo.set(name, c);
  return c;
}
