/**
 * One HTTP/1.1 client connection served by the relay: Node's parser reads each
 * request's head, the head is rewritten (hop-by-hop and identity headers out,
 * X-Forwarded-* and the route's identity headers in) and written to one of the
 * identity's keep-alive upstream connections; bodies move as bytes with
 * backpressure both ways (a Content-Length body as the slices the parser
 * hands over, a chunked one re-framed as chunks of the same bytes). Requests
 * are served one at a time in order: pipelined ones wait, parsed, until the
 * one before is answered.
 *
 * What it does not serve itself — Upgrade (WebSocket), CONNECT and Expect —
 * goes to Node's http server (the node path) with the bytes of that request
 * put back on the socket, when that request starts the data the relay has
 * not yet acted on; when pipelined behind other requests it is refused (400,
 * connection closed). Nothing is ever forwarded half-understood.
 */
import { STATUS_CODES } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ClientConnection, UpstreamBinding } from '../client-connection.js';
import type { UpstreamServer } from '../upstream-cluster.js';
import { isHopByHop, rawConnectionTokens } from '../hop-by-hop.js';
import { collectForwarding, forwardedHeaders, isForwardingHeader, trustsForwarding, type ClientForwarding } from '../forwarded-headers.js';
import { rawOwnAnswer } from '../own-answers.js';
import { isIdempotent } from '../request-target.js';
import { diagnosisFields, findDiagnosis, type HandshakeDiagnosis } from '../upstream-diagnosis.js';
import { METHODS, createParser, type NativeHttpParser, type ParseError, type ParserEvents } from '../http/h1-parser.js';
import type { RelayPools, UpstreamConn, UpstreamUser } from './upstream-pool.js';

/** What the relay asks of the http forwarder: the same checks, logs and fallback as the node path. */
export interface RelayHost {
  pools: RelayPools;
  maxHeaderSize: number;
  maxHeaderCount: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  admit(conn: ClientConnection, head: { raw: readonly string[]; target: string }):
    | { ok: true; route: { upstream: string }; binding: UpstreamBinding; strip: ReadonlySet<string>; target: string; host: string | undefined; trusted?: (address: string) => boolean }
    | { ok: false; status: number; message: string; outcome: string; reason?: string; route?: string; close?: boolean; rule?: string };
  logRequest(method: string, conn: ClientConnection, path: string, started: number, status: number, extra: Record<string, unknown>): void;
  logRefused(conn: ClientConnection, reason: string): void;
  /** the proxy is stopping: answer with Connection: close */
  closing(): boolean;
  /** gives the socket to Node's http server, `data` put back in front of what comes next */
  handOff(socket: TLSSocket, conn: ClientConnection, data: Buffer): void;
  /** the connection is no longer the relay's (closed or handed off) */
  forget(c: RelayConnection): void;
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const NONE = 0, LENGTH = 1, CHUNKED = 2, UNTIL_CLOSE = 3;
type Framing = typeof NONE | typeof LENGTH | typeof CHUNKED | typeof UNTIL_CLOSE;

const socketGone = (reason: string) => Object.assign(new Error(reason), { code: 'UND_ERR_SOCKET' });

/** One request and its answer. */
class Exchange implements UpstreamUser {
  started = performance.now();
  /** the client socket's byte counters when the exchange began (the audit log's bytesIn/bytesOut) */
  readAt = 0;
  writtenAt = 0;
  /** request body framing (NONE, LENGTH, CHUNKED) */
  reqBody: Framing = NONE;
  /** body bytes parsed before the upstream connection was ready */
  pending: Buffer[] | undefined;
  /** the whole request (body included) has been parsed */
  reqDone = false;
  /** ... and written upstream */
  reqSent = false;
  upstreamFull = false;
  clientFull = false;
  finished = false;
  retried = false;
  /** a refusal decided while parsing (answered when its turn comes) */
  refusal: { status: number; message: string; reason: string; close: boolean; parseLevel?: boolean } | undefined;
  /** the canonical Host (admit) */
  host: string | undefined;
  /** the normalized request target, what is forwarded (admit) */
  target = '';
  trusted: ((address: string) => boolean) | undefined;
  binding: UpstreamBinding | undefined;
  /** identity header names stripped for this request's routing (any case, `_` for `-`) */
  strip: ReadonlySet<string> | undefined;
  routeName = '';
  uc: UpstreamConn | undefined;
  /** the server the request went to (for a refusal diagnosed on it) */
  server: UpstreamServer | undefined;
  // response
  status = 0;
  headSent = false;
  resFraming: Framing = NONE;
  upstreamKeepAlive = false;
  stallTimer: NodeJS.Timeout | undefined;
  /** the proxy's own answer, sent once the request (body included) has been read */
  deferredReply: string | undefined;

  constructor(
    readonly c: RelayConnection,
    readonly method: string,
    readonly url: string,
    readonly http10: boolean,
    readonly rawHeaders: string[],
    readonly keepAlive: boolean,
  ) {}

  // UpstreamUser: the upstream connection's parser events, for this exchange
  messageBegin(): void {}
  headersComplete(_ma: number, _mi: number, raw: string[], _m: number | undefined, _u: string, status: number | undefined, _sm: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    return this.c.responseHead(this, status ?? 0, raw, upgrade, keepAlive);
  }
  body(chunk: Buffer): void { this.c.responseBody(this, chunk); }
  messageComplete(): void { this.c.responseEnd(this); }
  upstreamGone(err: Error): void { this.c.upstreamGone(this, err); }
  upstreamTimeout(): void { this.c.upstreamTimeout(this); }
  upstreamDrain(): void {
    if (this.upstreamFull) { this.upstreamFull = false; this.c.updateReading(); }
  }
}

export class RelayConnection implements ParserEvents {
  private readonly parser: NativeHttpParser;
  private readonly queue: Exchange[] = [];
  /** the exchange whose request the parser is in (its head is done, its body maybe not) */
  private parsing: Exchange | undefined;
  private inHead = false;
  private headStartedAt = 0;
  /** raw bytes of the current request head since its first byte, when it started at a chunk's start */
  private headChunks: Buffer[] | undefined;
  private chunkStartsClean = true;
  private completedInChunk = false;
  private current: Buffer | undefined;
  private parseError: ParseError | undefined;
  private handoffData: Buffer | undefined;
  private dead = false;
  private reading = true;
  private endAfter = false;
  private requests = 0;
  private readonly reqTimer: NodeJS.Timeout;
  private reqTimerPending = true;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleSince = 0;
  private lastBodyAt = 0;
  private inExecute = false;
  /** an upstream connection that arrived inside execute(): the head goes once the chunk is parsed whole */
  private deferredSend: [Exchange, UpstreamConn] | undefined;

  private readonly onData = (d: Buffer) => this.data(d);
  private readonly onClose = () => this.closed();
  private readonly onError = () => {};
  private readonly onDrain = () => this.clientDrain();

  constructor(readonly socket: TLSSocket, readonly conn: ClientConnection, private readonly h: RelayHost) {
    this.parser = createParser('request', h.maxHeaderSize, this);
    // as Node's http server does (its noDelay default): a response head must not wait for an ACK
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('drain', this.onDrain);
    // the first request's head must arrive within timeouts.request (Node's headersTimeout)
    this.headStartedAt = performance.now();
    this.reqTimer = setTimeout(() => this.reqTimeout(), h.requestTimeoutMs);
    this.reqTimer.unref();
  }

  /** idle now (no request in progress): close (graceful stop) */
  closeIfIdle(): void {
    if (this.queue.length === 0 && !this.inHead && !this.dead) this.socket.destroy();
  }

  destroy(): void { this.socket.destroy(); }

  // ---- client side -------------------------------------------------------

  private data(chunk: Buffer): void {
    if (this.dead || this.parseError || this.handoffData) return;
    this.current = chunk;
    this.chunkStartsClean = !this.inHead && this.parsing === undefined;
    this.completedInChunk = false;
    if (this.inHead && this.headChunks) this.headChunks.push(chunk);
    const up = this.queue[0]?.uc?.socket;
    up?.cork();
    this.inExecute = true;
    const r = this.parser.execute(chunk);
    this.inExecute = false;
    up?.uncork();
    this.current = undefined;
    if (this.handoffData) { this.handOff(); return; }
    const deferred = this.deferredSend;
    this.deferredSend = undefined;
    if (typeof r !== 'number') {
      this.parseError = r;
      this.stopReading();
      const ex = this.queue[0];
      if (ex && !ex.finished && !ex.headSent) {
        // As Node's server answers a parse error at once (the request before it
        // included, unless its response is under way): nothing half-read goes on.
        ex.finished = true;
        const uc = ex.uc ?? (deferred?.[0] === ex ? deferred[1] : undefined);
        ex.uc = undefined;
        if (uc) { if (uc === deferred?.[1]) uc.release(true); else uc.kill(); }
        this.queue.length = 0;
      }
      if (this.queue.length === 0) this.refuseParse();
      return;
    }
    if (deferred && !deferred[0].finished) this.send(deferred[0], deferred[1]);
    else if (deferred) deferred[1].release(true);
    if (this.inHead && !this.reqTimerPending) this.armReqTimer();
    if (this.parsing && !this.parsing.reqDone) { this.lastBodyAt = performance.now(); this.armReqTimer(true); }
    this.updateReading();
  }

  messageBegin(): void {
    this.inHead = true;
    this.idleSince = 0;
    if (this.requests > 0) this.headStartedAt = performance.now();
    this.headChunks = this.chunkStartsClean && !this.completedInChunk && this.current ? [this.current] : undefined;
  }

  headersComplete(major: number, minor: number, raw: string[], methodNum: number | undefined, url: string, _s: number | undefined, _sm: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    // nothing after a request that closes the connection is served
    if (this.handoffData || this.dead || this.endAfter) { this.inHead = false; return 1; }
    this.inHead = false;
    this.requests++;
    const headChunks = this.headChunks;
    this.headChunks = undefined;
    const method = METHODS[methodNum ?? -1] ?? 'GET';
    const ex = new Exchange(this, method, url, major === 1 && minor === 0, raw, keepAlive);
    ex.readAt = this.socket.bytesRead;
    ex.writtenAt = this.socket.bytesWritten;
    let hosts = 0, expect = false, count = 0;
    for (let i = 0; i < raw.length; i += 2) {
      count++;
      const n = raw[i];
      const len = n.length;
      // only the names the relay cares about are lower-cased
      if (len === 4 && n.toLowerCase() === 'host') hosts++;
      else if (len === 6 && n.toLowerCase() === 'expect') expect = true;
      else if (len === 14 && n.toLowerCase() === 'content-length') { if (ex.reqBody === NONE) ex.reqBody = LENGTH; }
      else if (len === 17 && n.toLowerCase() === 'transfer-encoding') ex.reqBody = CHUNKED;
    }
    this.queue.push(ex);
    this.parsing = ex;
    if (count > this.h.maxHeaderCount + 1) {
      // the node path's parser stops at maxHeaderCount + 1 fields (maxHeadersCount): HPE_HEADER_OVERFLOW, 431, closed
      ex.refusal = { status: 431, message: '', reason: 'HPE_HEADER_OVERFLOW', close: true, parseLevel: true };
    } else if (upgrade || method === 'CONNECT' || expect) {
      // Node's http server serves these (upgrade listener, 100-continue, CONNECT refusal) as the node path does
      if (this.queue.length === 1 && headChunks) {
        this.queue.pop();
        this.parsing = undefined;
        this.handoffData = headChunks.length === 1 ? headChunks[0] : Buffer.concat(headChunks);
        return 1;
      }
      ex.refusal = { status: 400, message: 'Upgrade, CONNECT and Expect are not served behind pipelined requests', reason: 'pipelined upgrade/expect', close: true };
    } else if (major === 1 && minor === 1 && hosts === 0) {
      // Node's requireHostHeader: 400, connection closed
      ex.refusal = { status: 400, message: '', reason: 'missing Host header', close: true, parseLevel: true };
    } else if (count > this.h.maxHeaderCount) {
      ex.refusal = { status: 431, message: 'too many request header fields', reason: 'more header fields than limits.maxHeaderCount', close: false };
    }
    if (this.queue.length === 1) this.start(ex);
    return 0;
  }

  body(chunk: Buffer): void {
    const ex = this.parsing;
    if (!ex || ex.finished || ex.refusal || ex.deferredReply !== undefined) return;
    if (ex === this.queue[0] && ex.uc) this.writeBody(ex, chunk);
    else (ex.pending ??= []).push(chunk);
  }

  messageComplete(): void {
    const ex = this.parsing;
    this.parsing = undefined;
    this.completedInChunk = true;
    if (!ex) return;
    ex.reqDone = true;
    if (ex.deferredReply !== undefined) { const r = ex.deferredReply; ex.deferredReply = undefined; this.finish(ex, false, r); return; }
    if (ex === this.queue[0] && ex.uc && !ex.finished) this.endBody(ex);
  }

  /** Reading the client stops while an upstream write waits for drain, or a request waits behind another. */
  updateReading(): void {
    if (this.dead) return;
    const ex = this.queue[0];
    const want = !this.endAfter && !this.parseError && this.queue.length <= 1 && !(ex && !ex.reqDone && ex.deferredReply === undefined && (!ex.uc || ex.upstreamFull));
    if (want !== this.reading) {
      this.reading = want;
      if (want) this.socket.resume(); else this.socket.pause();
    }
  }

  private stopReading(): void {
    if (this.reading) { this.reading = false; this.socket.pause(); }
  }

  private armReqTimer(refresh = false): void {
    if (!this.reqTimerPending || refresh) { this.reqTimer.refresh(); this.reqTimerPending = true; }
  }

  private reqTimeout(): void {
    this.reqTimerPending = false;
    if (this.dead) return;
    const now = performance.now();
    const limit = this.h.requestTimeoutMs;
    if (this.inHead || (this.requests === 0 && this.queue.length === 0)) {
      if (now - this.headStartedAt >= limit - 1) {
        // Node's headersTimeout: 408, as the node path's clientError handler answers
        this.h.logRefused(this.conn, 'ERR_HTTP_REQUEST_TIMEOUT');
        this.endWith(rawOwnAnswer(408, '', { close: true }));
      } else this.armReqTimer();
      return;
    }
    const ex = this.parsing;
    if (ex && !ex.reqDone) {
      // a request body with a gap over timeouts.request: the connection is closed (the request logs 499)
      if (now - this.lastBodyAt >= limit - 1) this.socket.destroy();
      else this.armReqTimer();
    }
  }

  private becomeIdle(): void {
    this.idleSince = performance.now();
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        if (this.dead || this.idleSince === 0 || this.queue.length || this.inHead) return;
        if (performance.now() - this.idleSince >= this.h.keepAliveTimeoutMs - 1) this.socket.destroy();
        else this.idleTimer!.refresh();
      }, this.h.keepAliveTimeoutMs);
      this.idleTimer.unref();
    }
  }

  private clientDrain(): void {
    const ex = this.queue[0];
    if (ex && ex.clientFull) {
      ex.clientFull = false;
      if (ex.stallTimer) { clearTimeout(ex.stallTimer); ex.stallTimer = undefined; }
      ex.uc?.socket.resume();
    }
  }

  private closed(): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.reqTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const ex = this.queue[0];
    if (ex && !ex.finished) this.clientLeft(ex);
    this.queue.length = 0;
    this.h.forget(this);
    setImmediate(() => this.parser.close());
  }

  /** nginx's 499: the client left first; the upstream request is aborted */
  private clientLeft(ex: Exchange): void {
    ex.finished = true;
    if (ex.stallTimer) clearTimeout(ex.stallTimer);
    const uc = ex.uc;
    ex.uc = undefined;
    uc?.kill();
    if (ex.binding) this.log(ex, 499, { outcome: 'client-closed', reason: 'client-closed', route: ex.routeName, upstream: ex.binding.cluster.name });
  }

  private handOff(): void {
    const data = this.handoffData!;
    this.dead = true;
    clearTimeout(this.reqTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('close', this.onClose);
    s.removeListener('error', this.onError);
    s.removeListener('drain', this.onDrain);
    this.h.forget(this);
    setImmediate(() => this.parser.close());
    this.h.handOff(s, this.conn, data);
  }

  /** A request the parser refused, answered like the node path's clientError handler, once its turn comes. */
  private refuseParse(): void {
    const err = this.parseError!;
    this.h.logRefused(this.conn, err.code ?? err.message);
    this.endWith(rawOwnAnswer(err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, '', { close: true }));
  }

  private endWith(response: string): void {
    this.stopReading();
    this.endAfter = true;
    if (this.socket.writable) this.socket.end(response, 'latin1'); else this.socket.destroy();
  }

  // ---- one exchange --------------------------------------------------------

  private start(ex: Exchange): void {
    this.idleSince = 0;
    const r = ex.refusal;
    if (r) {
      if (r.parseLevel) {
        this.h.logRefused(this.conn, r.reason);
        this.finish(ex, true, rawOwnAnswer(r.status, '', { close: true }));
      } else {
        this.reply(ex, r.status, r.message, r.close, { outcome: 'bad-request', reason: r.reason });
      }
      return;
    }
    const admitted = this.h.admit(this.conn, { raw: ex.rawHeaders, target: ex.url });
    if (!admitted.ok) {
      this.reply(ex, admitted.status, admitted.message, admitted.close ?? false, { outcome: admitted.outcome, reason: admitted.reason, route: admitted.route, ...(admitted.rule ? { rule: admitted.rule } : {}) });
      return;
    }
    ex.binding = admitted.binding;
    ex.strip = admitted.strip;
    ex.target = admitted.target;
    ex.host = admitted.host;
    ex.trusted = admitted.trusted;
    ex.routeName = admitted.route.upstream;
    if (ex.target.charCodeAt(0) !== 47 /* / */) {
      // asterisk-form (OPTIONS *): the node path's undici cannot send it and answers 502; so does the relay
      this.reply(ex, 502, 'upstream unavailable', false, { outcome: 'upstream-error', reason: 'UND_ERR_INVALID_ARG', route: ex.routeName, upstream: ex.binding.cluster.name });
      return;
    }
    this.acquire(ex);
  }

  private acquire(ex: Exchange): void {
    this.h.pools.for(ex.binding!).acquire((err, uc) => {
      if (ex.finished) { uc?.release(true); return; }
      if (err) { this.upstreamFailed(ex, err); return; }
      if (this.inExecute) { this.deferredSend = [ex, uc!]; return; }
      this.send(ex, uc!);
    });
  }

  /** Writes the rewritten head and what is already parsed of the body. */
  private send(ex: Exchange, uc: UpstreamConn): void {
    ex.uc = uc;
    ex.server = uc.server;
    uc.user = ex;
    uc.received = 0;
    const s = uc.socket;
    s.cork();
    s.write(this.requestHead(ex), 'latin1');
    if (ex.pending) { for (const b of ex.pending) this.writeBody(ex, b); ex.pending = undefined; }
    if (ex.reqDone) this.endBody(ex);
    s.uncork();
    this.updateReading();
  }

  private writeBody(ex: Exchange, chunk: Buffer): void {
    const s = ex.uc!.socket;
    let ok: boolean;
    if (ex.reqBody === CHUNKED) {
      s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      ok = s.write(CRLF);
    } else ok = s.write(chunk);
    if (!ok) ex.upstreamFull = true;
  }

  private endBody(ex: Exchange): void {
    if (ex.reqBody === CHUNKED && !ex.reqSent) ex.uc!.socket.write(LAST_CHUNK);
    ex.reqSent = true;
    // the answer's headers are awaited from here, as undici's headersTimeout (a slow upload is the client's body-gap timer's business)
    ex.uc!.armTimer(this.h.requestTimeoutMs);
  }

  /**
   * The head sent upstream: request line, the client's fields in their order and
   * spelling except hop-by-hop ones (and those Connection names), identity
   * headers of any spelling, Host and X-Forwarded-*; then Host, X-Forwarded-*
   * and the route's identity headers. As http-forwarder.ts's upstreamHeaders.
   */
  private requestHead(ex: Exchange): string {
    const raw = ex.rawHeaders;
    let te: string | undefined;
    // Connection tokens first (they may come after the fields they name)
    const listed = rawConnectionTokens(raw);
    const names = ex.strip!;
    const fwd = { peer: this.conn.remoteAddress, host: ex.host, trusted: ex.trusted };
    const client: ClientForwarding | undefined = trustsForwarding(fwd) ? {} : undefined;
    let head = `${ex.method} ${ex.target} HTTP/1.1\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i].toLowerCase();
      if (lower === 'te') { te = te === undefined ? raw[i + 1] : `${te}, ${raw[i + 1]}`; continue; }
      if (isHopByHop(lower, listed) || names.has(lower)) continue;
      // X-Forwarded-*, Forwarded, X-Real-IP: ours, built below (a trusted proxy's collected)
      if (isForwardingHeader(lower)) { if (client) collectForwarding(client, raw[i], raw[i + 1]); continue; }
      head += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    if (ex.reqBody === CHUNKED) head += 'transfer-encoding: chunked\r\n';
    if (te === 'trailers') head += 'te: trailers\r\n';
    if (ex.host) head += `host: ${ex.host}\r\n`;
    for (const [k, v] of forwardedHeaders(fwd, client)) head += `${k}: ${v}\r\n`;
    const identity = ex.binding!.headers;
    if (identity) {
      for (const k in identity) {
        const v = identity[k];
        // one line per value (the front-proxy format's X-Remote-Group is one header per group)
        if (typeof v === 'string') head += `${k}: ${v}\r\n`;
        else for (const one of v) head += `${k}: ${one}\r\n`;
      }
    }
    return head + '\r\n';
  }

  // ---- the upstream's answer ----------------------------------------------

  /** @internal */
  responseHead(ex: Exchange, status: number, raw: string[], upgrade: boolean, keepAlive: boolean): number {
    if (ex.finished) return 1;
    if (status < 200 || upgrade) {
      if (status === 101 || upgrade) { this.upstreamGone(ex, Object.assign(new Error('upstream switched protocols unasked'), { code: 'UND_ERR_SOCKET' })); return 1; }
      return 0; // 100-continue and 103 stay between the relay and the upstream
    }
    ex.status = status;
    ex.upstreamKeepAlive = keepAlive;
    // hung up (its FIN ended the socket) before the answer came
    if (!this.socket.writable) { this.clientLeft(ex); return 1; }
    const noBody = ex.method === 'HEAD' || status === 204 || status === 304;
    const listed = rawConnectionTokens(raw);
    let length = false, chunked = false;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      if (n.length === 14 && n.toLowerCase() === 'content-length') length = true;
      else if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') chunked = true;
    }
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      if (isHopByHop(n.toLowerCase(), listed)) continue;
      head += `${n}: ${raw[i + 1]}\r\n`;
    }
    if (noBody) ex.resFraming = NONE;
    else if (length && !chunked) ex.resFraming = LENGTH;
    else if (!ex.http10) { ex.resFraming = CHUNKED; head += 'transfer-encoding: chunked\r\n'; }
    else ex.resFraming = UNTIL_CLOSE;
    if (ex.resFraming === UNTIL_CLOSE || !ex.keepAlive || this.h.closing() || !ex.reqDone) {
      this.endAfter = true;
      head += 'connection: close\r\n';
    } else {
      head += ex.http10 ? 'connection: keep-alive\r\n' : '';
    }
    ex.headSent = true;
    // from here the timer is the answer's body gap (also for an answer that came before the request's end)
    ex.uc?.armTimer(this.h.requestTimeoutMs);
    this.socket.cork();
    this.socket.write(head + '\r\n', 'latin1');
    process.nextTick(uncork, this.socket);
    return noBody ? 1 : 0;
  }

  /** @internal */
  responseBody(ex: Exchange, chunk: Buffer): void {
    if (ex.finished || this.dead) return;
    if (!this.socket.writable) { this.clientLeft(ex); return; }
    ex.uc?.refreshTimer();
    const s = this.socket;
    let ok: boolean;
    if (ex.resFraming === CHUNKED) {
      s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      ok = s.write(CRLF);
    } else ok = s.write(chunk);
    if (!ok && !ex.clientFull) {
      ex.clientFull = true;
      ex.uc?.socket.pause();
      // a client that stops reading must not hold the upstream connection forever (nginx's send_timeout)
      ex.stallTimer = setTimeout(() => {
        ex.stallTimer = undefined;
        if (ex.finished) return;
        ex.finished = true;
        ex.uc?.kill();
        ex.uc = undefined;
        this.log(ex, ex.status, { outcome: 'client-stalled', reason: 'client stopped reading for timeouts.request', route: ex.routeName, upstream: ex.binding!.cluster.name });
        this.socket.destroy();
      }, this.h.requestTimeoutMs);
      ex.stallTimer.unref();
    }
  }

  /** @internal */
  responseEnd(ex: Exchange): void {
    if (ex.finished) return;
    if (ex.status === 0) return; // an interim response (1xx) ended
    if (ex.resFraming === CHUNKED) this.socket.write(LAST_CHUNK);
    const uc = ex.uc!;
    ex.uc = undefined;
    uc.disarmTimer();
    // the connection goes back only when the request went whole and the upstream keeps it
    uc.release(ex.upstreamKeepAlive && ex.reqSent);
    this.log(ex, ex.status, { outcome: 'ok', route: ex.routeName, upstream: ex.binding!.cluster.name });
    this.finish(ex, this.endAfter);
  }

  /** @internal: the upstream connection failed or closed while serving `ex` */
  upstreamGone(ex: Exchange, err: Error): void {
    if (ex.finished) return;
    const uc = ex.uc;
    ex.uc = undefined;
    uc?.kill();
    // A reused keep-alive connection the server had closed meanwhile: once more on a new one,
    // only when sending it twice cannot do harm (an idempotent method, RFC 9110 §9.2.2, with no
    // body) and no byte of an answer came (the server may have acted on it otherwise).
    if (!ex.headSent && uc && uc.uses > 0 && uc.received === 0 && !ex.retried && ex.reqBody === NONE && isIdempotent(ex.method) && !this.dead) {
      ex.retried = true;
      this.acquire(ex);
      return;
    }
    this.upstreamFailed(ex, err);
  }

  /** @internal: no answer within timeouts.request (headers), or a body gap as long */
  upstreamTimeout(ex: Exchange): void {
    const err = Object.assign(new Error(ex.headSent ? 'Body Timeout Error' : 'Headers Timeout Error'), { code: ex.headSent ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT' });
    const uc = ex.uc;
    ex.uc = undefined;
    uc?.kill();
    this.upstreamFailed(ex, err, true);
  }

  private upstreamFailed(ex: Exchange, err: Error, timeout = false): void {
    if (ex.finished) return;
    // a TLS 1.3 refusal of our certificate shows as a closed socket; the server's alert was diagnosed a moment ago
    const refusal = ex.server?.lastRefusal;
    const e = err as Error & { diagnosis?: HandshakeDiagnosis; code?: string };
    if (!e.diagnosis && refusal && Date.now() - refusal.at < 2000 && e.code === 'UND_ERR_SOCKET') e.diagnosis = refusal.diagnosis;
    const diagnosis = findDiagnosis(err);
    // an upstream handshake failure names the server, its certificate and the key to change (as the node path)
    const reason = diagnosis?.message ?? e.code ?? err.message;
    const upstream: Record<string, unknown> = { route: ex.routeName, upstream: ex.binding?.cluster.name };
    if (diagnosis) Object.assign(upstream, { server: diagnosis.server }, diagnosisFields(diagnosis));
    if (!ex.headSent) {
      const s = timeout ? 504 : 502;
      this.reply(ex, s, timeout ? 'upstream timed out' : 'upstream unavailable', !ex.reqDone, { outcome: 'upstream-error', reason, ...upstream });
    } else {
      // mid-response: the client must see a broken response, not a short one
      ex.finished = true;
      if (ex.stallTimer) clearTimeout(ex.stallTimer);
      this.log(ex, ex.status, { outcome: 'upstream-error', reason, ...upstream });
      this.socket.destroy();
    }
  }

  /** One request line (and audit record): the minted serial, and the bytes this exchange moved on the client connection. */
  private log(ex: Exchange, status: number, extra: Record<string, unknown>): void {
    this.h.logRequest(ex.method, this.conn, ex.url, ex.started, status, {
      ...(ex.binding?.serial ? { serial: ex.binding.serial } : {}),
      bytesIn: this.socket.bytesRead - ex.readAt, bytesOut: this.socket.bytesWritten - ex.writtenAt,
      ...extra,
    });
  }

  /** An answer of the proxy's own (JSON, as the node path's reply()). */
  private reply(ex: Exchange, status: number, message: string, close: boolean, extra: Record<string, unknown>): void {
    // a request whose body is not read to its end leaves the connection unusable
    // (read to its end first, as Node's server does: the connection stays usable)
    const closeIt = close || !ex.keepAlive || this.h.closing();
    const answer = rawOwnAnswer(status, message, { close: closeIt, http10: ex.http10 });
    this.log(ex, status, extra);
    if (!closeIt && !ex.reqDone && this.parsing === ex) {
      ex.deferredReply = answer;
      ex.pending = undefined;
      this.updateReading();
      return;
    }
    this.finish(ex, closeIt || !ex.reqDone, answer);
  }

  private finish(ex: Exchange, close: boolean, response?: string): void {
    ex.finished = true;
    if (ex.stallTimer) { clearTimeout(ex.stallTimer); ex.stallTimer = undefined; }
    if (this.queue[0] === ex) this.queue.shift();
    if (this.dead) return;
    if (close) {
      this.queue.length = 0;
      this.endWith(response ?? '');
      return;
    }
    if (response !== undefined) this.socket.write(response, 'latin1');
    const next = this.queue[0];
    if (next) { this.start(next); return; }
    if (this.parseError) { this.refuseParse(); return; }
    if (this.h.closing()) { this.socket.end(); return; }
    if (!this.inHead) this.becomeIdle();
    this.updateReading();
  }
}

const uncork = (s: TLSSocket) => s.uncork();
