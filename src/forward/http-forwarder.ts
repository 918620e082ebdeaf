/**
 * L7 forwarding: HTTP/1.1 and HTTP/2 from clients (by ALPN), HTTP/1.1 upstream
 * through per-identity undici pools. Hop-by-hop and client-sent identity headers
 * are removed before anything is added.
 */
import { STATUS_CODES, createServer as createHttp1Server, type IncomingMessage, type ServerResponse, type Server as Http1Server } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { Logger } from '../observe/index.js';
import type { ClientConnection } from './client-connection.js';
import { connectionTokens, isHopByHop } from './hop-by-hop.js';
import { diagnosisFields, findDiagnosis } from './upstream-diagnosis.js';
import { IdentityPools } from './identity-pools.js';
import { requestChannel, type RequestEvent } from '../observe/index.js';
import { admit, type Admission, type Admitted, type RequestHead, type RequestRouting } from './http/admission.js';
import { collectForwarding, forwardedHeaders, isForwardingHeader, trustsForwarding, type ClientForwarding } from './forwarded-headers.js';
import { ownAnswerBody, ownAnswerHeaders, rawOwnAnswer } from './http/own-answers.js';
import type { UpstreamCluster } from './upstream-cluster.js';
import { limitResets, nativeResetLimit, resetOwnStream, type ResetLimitOptions } from './http2-reset-limit.js';
import { H1Downstream } from './http/h1-downstream.js';
import { H1Upstream } from './http/h1-upstream.js';
import { UpstreamPool } from './http/upstream-pool.js';
import type { ExchangeContext, ExchangeRecord } from './http/exchange.js';

export type { RequestRouting, RequestHead } from './http/admission.js';

export interface HttpForwarderOptions {
  /**
   * The routing of now, read once per request: after a reload, requests on a
   * connection that was open before it go by the new config.
   */
  routing: () => RequestRouting;
  logger: Logger;
  /** max request header bytes; default 16 KiB */
  maxHeaderSize: number;
  /** time for the upstream to answer (headers), and max gap between body chunks, ms */
  requestTimeoutMs: number;
  /** idle keep-alive time of a client connection, ms */
  idleTimeoutMs: number;
  /** max upstream pools across identities */
  maxPools: number;
  /** max request header fields; more gets 431 */
  maxHeaderCount: number;
  /** HTTP/2 stream resets a client connection may send (burst, then per second) before GOAWAY */
  http2Resets: ResetLimitOptions;
  /**
   * who serves HTTP/1.1 client connections: `node` (Node's http server and undici
   * pools) or `relay` (h1-relay/: heads parsed, bodies moved as bytes); default here node,
   * the config's `http.http1` default is relay
   */
  http1?: 'node' | 'relay';
}

type AnyRequest = IncomingMessage | Http2ServerRequest;


type AnyResponse = ServerResponse | Http2ServerResponse;

export class HttpForwarder {
  private readonly h1: Http1Server;
  private readonly h2: Http2Server;
  private readonly pools: IdentityPools;
  /** the identity header names to strip, per routing (a reload may rename one) */
  private readonly bySocket = new WeakMap<object, ClientConnection>();
  private readonly bySession = new WeakMap<Http2Session, ClientConnection>();
  private pendingH2: ClientConnection | undefined;
  /** set by close(): responses ask HTTP/1.1 clients not to reuse the connection */
  private closing = false;
  private readonly sessions = new Set<Http2Session>();
  private readonly isClosing = () => this.closing;
  /** the one upstream pool of the exchange (issue 24) */
  readonly pool: UpstreamPool;
  private readonly h1Connections = new Set<H1Downstream>();
  private readonly useEngine: boolean;
  private readonly ctx: ExchangeContext;

  constructor(private readonly o: HttpForwarderOptions) {
    this.pools = new IdentityPools({ max: o.maxPools, headersTimeoutMs: o.requestTimeoutMs, bodyTimeoutMs: o.requestTimeoutMs });
    this.useEngine = o.http1 === 'relay';
    this.pool = new UpstreamPool({
      maxGroups: o.maxPools, keepAliveTimeoutMs: 30_000, maxConnectionsPerServer: 16, maxIdlePerServer: 16,
      connection: (socket, server) => new H1Upstream(socket, server),
    });
    this.ctx = {
      pool: this.pool,
      routing: () => this.o.routing(),
      requestTimeoutMs: o.requestTimeoutMs,
      record: (r) => this.record(r),
    };
    this.h1 = createHttp1Server({
      // Headers must arrive within timeouts.request; a body may take as long as it
      // keeps moving (no gap over timeouts.request: bodyGapTimeout in onRequest), as
      // with nginx's client_header_timeout and client_body_timeout. Node's
      // requestTimeout would cut a large upload that is simply slower in total.
      maxHeaderSize: o.maxHeaderSize, headersTimeout: o.requestTimeoutMs, requestTimeout: 0, keepAliveTimeout: Math.min(o.idleTimeoutMs, 60_000),
      // how often slow headers (headersTimeout) are looked for; Node's default is 30 s
      connectionsCheckingInterval: Math.max(100, Math.min(5000, Math.floor(o.requestTimeoutMs / 2))),
    }, (req, res) => this.onRequest(req, res));
    // This server never listens (sockets come from the edge), but Node starts its
    // connection tracking on 'listening': without it requestTimeout is never
    // enforced and closeIdleConnections/closeAllConnections do nothing.
    this.h1.emit('listening');
    // one over the limit, so a request past it is seen (and refused, 431) rather than cut silently
    this.h1.maxHeadersCount = o.maxHeaderCount + 1;
    this.h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // Malformed or oversized requests: answer like nginx and close; never crash.
      // Whatever a client sends after its answer is not worth another line.
      if (socket.writableEnded) { socket.destroy(); return; }
      const conn = this.bySocket.get(socket);
      this.o.logger.info({ conn: conn?.id, identity: conn?.client?.identity, outcome: 'bad-request', reason: err.code ?? err.message }, 'request refused');
      if (socket.writable) {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        socket.end(rawOwnAnswer(status, '', { close: true }), 'latin1');
      } else socket.destroy();
    });
    this.h2 = createHttp2Server({
      maxSessionMemory: 32, ...nativeResetLimit(o.http2Resets),
      // nghttp2 resets a stream past this (ENHANCE_YOUR_CALM); set well above the
      // limit so that onRequest answers a request over it with 431
      maxHeaderListPairs: Math.max(128, o.maxHeaderCount * 2 + 8),
    });
    this.h2.on('session', (session: Http2Session) => {
      const conn = this.pendingH2;
      if (conn) this.bySession.set(session, conn);
      limitResets(session, o.http2Resets, (resets) => {
        this.o.logger.warn({ conn: conn?.id, identity: conn?.client?.identity, remoteAddress: conn?.remoteAddress, outcome: 'reset-flood', reason: 'too many HTTP/2 stream resets (limits.http2Resets)', resets }, 'connection closed with GOAWAY');
      });
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.setTimeout(o.idleTimeoutMs, () => session.close());
    });
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.onRequest(req, res));
  }

  /** Takes over a client connection whose TLS handshake is done. */
  accept(socket: TLSSocket, conn: ClientConnection): void {
    if (socket.alpnProtocol === 'h2') {
      // An HTTP/2 session never ends its side on the client's FIN: a half-open
      // socket would stay open forever (and hold up a graceful stop).
      socket.allowHalfOpen = false;
      this.pendingH2 = conn;
      this.h2.emit('connection', socket);
      this.pendingH2 = undefined;
    } else if (this.useEngine) {
      const c = new H1Downstream(socket, conn, {
        ctx: this.ctx, maxHeaderSize: this.o.maxHeaderSize, maxHeaderCount: this.o.maxHeaderCount, requestTimeoutMs: this.o.requestTimeoutMs,
        keepAliveTimeoutMs: Math.min(this.o.idleTimeoutMs, 60_000), closing: this.isClosing,
        logRefused: (c, reason) => this.o.logger.info({ conn: c.id, identity: c.client?.identity, outcome: 'bad-request', reason }, 'request refused'),
        forget: (d) => this.h1Connections.delete(d),
      });
      this.h1Connections.add(c);
    } else {
      this.bySocket.set(socket, conn);
      this.h1.emit('connection', socket);
    }
  }

  private connOf(req: AnyRequest): ClientConnection | undefined {
    if ('stream' in req && req.stream) return this.bySession.get(req.stream.session as Http2Session);
    return this.bySocket.get(req.socket);
  }

  private onRequest(req: AnyRequest, res: AnyResponse): void {
    const started = performance.now();
    const conn = this.connOf(req);
    const path = req.url ?? '/';
    // HTTP/1.1 header size is enforced by the parser; HTTP/2 (HPACK-decoded) here
    if ('stream' in req && headerBytes(req.rawHeaders) > this.o.maxHeaderSize) {
      reply(res, 431, 'request header fields too large');
      this.logRequest(req.method ?? 'GET', conn, path, started, 431, { outcome: 'bad-request', reason: 'headers larger than limits.maxHeaderSize' });
      return;
    }
    if (headerCount(req.rawHeaders) > this.o.maxHeaderCount) {
      reply(res, 431, 'too many request header fields');
      this.logRequest(req.method ?? 'GET', conn, path, started, 431, { outcome: 'bad-request', reason: 'more header fields than limits.maxHeaderCount' });
      return;
    }
    const admitted = this.admit(conn, { raw: req.rawHeaders, authority: req.headers[':authority'] as string | undefined, target: path });
    if (!admitted.ok) {
      reply(res, admitted.status, admitted.message, admitted.close);
      this.logRequest(req.method ?? 'GET', conn, path, started, admitted.status, { outcome: admitted.outcome, reason: admitted.reason, route: admitted.route, ...(admitted.rule ? { rule: admitted.rule } : {}) });
      return;
    }
    const { route, binding } = admitted;
    const headers = this.upstreamHeaders(req, admitted, binding.headers);
    const pool = this.pools.get(binding);
    const hasBody = !(req.method === 'GET' || req.method === 'HEAD') || req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !('stream' in req)) this.bodyGapTimeout(req);
    const relay: ResponseRelay = new ResponseRelay(res, this.isClosing, this.o.requestTimeoutMs, (status, err) => {
        const upstream = { route: route.upstream, upstream: binding.cluster.name, ...(binding.serial ? { serial: binding.serial } : {}), bytesIn: contentLengthOf(req.headers['content-length']), bytesOut: relay.bytesOut };
        if (!err) { this.logRequest(req.method ?? 'GET', conn, path, started, status, { outcome: 'ok', ...upstream }); return; }
        const diagnosis = findDiagnosis(err);
        // an upstream handshake failure names the server, its certificate and the key to change
        const reason = diagnosis?.message ?? (err as NodeJS.ErrnoException).code ?? err.message;
        if (diagnosis) Object.assign(upstream, { server: diagnosis.server }, diagnosisFields(diagnosis));
        if (reason === 'ERR_CLIENT_CLOSED') {
          // nginx's 499: the client left first; the upstream request was aborted
          this.logRequest(req.method ?? 'GET', conn, path, started, 499, { outcome: 'client-closed', reason: 'client-closed', ...upstream });
          return;
        }
        if (reason === 'ERR_CLIENT_STALLED') {
          this.logRequest(req.method ?? 'GET', conn, path, started, status, { outcome: 'client-stalled', reason: 'client stopped reading for timeouts.request', ...upstream });
          return;
        }
        if (!res.headersSent) {
          const timeout = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError;
          const s = timeout ? 504 : 502;
          reply(res, s, timeout ? 'upstream timed out' : 'upstream unavailable');
          this.logRequest(req.method ?? 'GET', conn, path, started, s, { outcome: 'upstream-error', reason, ...upstream });
        } else {
          // Mid-response failure: the client must see a broken response, not a short one.
          (res as ServerResponse).destroy?.(err);
          if ('stream' in res) resetOwnStream(res.stream, 2 /* INTERNAL_ERROR */);
          this.logRequest(req.method ?? 'GET', conn, path, started, status, { outcome: 'upstream-error', reason, ...upstream });
        }
      });
    pool.dispatch({ path: admitted.target, method: req.method as Dispatcher.HttpMethod, headers, body: hasBody ? req : null }, relay);
  }

  /**
   * While an HTTP/1.1 request body is being received, a gap longer than
   * timeouts.request closes the connection (Node's socket timeout: with no
   * listener it destroys the socket). Off once the body is in, so waiting for a
   * slow upstream is left to the upstream timeouts (504).
   */
  private bodyGapTimeout(req: AnyRequest): void {
    const socket = req.socket;
    socket.setTimeout(this.o.requestTimeoutMs);
    req.once('end', () => socket.setTimeout(0));
  }

  /** An exchange's record: the request line, the audit record, the metrics. */
  private record(r: ExchangeRecord): void {
    this.logRequest(r.method, r.conn, r.path, r.started, r.status, {
      outcome: r.outcome, ...(r.reason !== undefined ? { reason: r.reason } : {}), ...(r.route ? { route: r.route } : {}), ...(r.upstream ? { upstream: r.upstream } : {}),
      ...(r.server ? { server: r.server } : {}), ...(r.serial ? { serial: r.serial } : {}), ...(r.rule ? { rule: r.rule } : {}),
      bytesIn: r.bytesIn, bytesOut: r.bytesOut, ...r.extra,
    });
  }

  /** One line per request at info; nothing is built when info is off. */
  private logRequest(method: string, conn: ClientConnection | undefined, path: string, started: number, status: number, extra: Record<string, unknown>): void {
    if (requestChannel.hasSubscribers) {
      requestChannel.publish({
        route: (extra.route as string | undefined) ?? '', status, outcome: String(extra.outcome), durationMs: performance.now() - started,
        conn: conn?.id, remoteAddress: conn?.remoteAddress, identity: conn?.client?.identity, subject: conn?.client?.subject,
        method, path, upstream: extra.upstream as string | undefined, serial: extra.serial as string | undefined,
        reason: extra.reason as string | undefined, rule: extra.rule as string | undefined,
        bytesIn: extra.bytesIn as number | undefined, bytesOut: extra.bytesOut as number | undefined,
      } satisfies RequestEvent);
    }
    if (!this.o.logger.isLevelEnabled('info')) return;
    this.o.logger.info({
      conn: conn?.id, identity: conn?.client?.identity, subject: conn?.client?.subject, method, path, status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000, ...extra,
    }, 'request');
  }

  /**
   * The checks every request and upgrade passes before it is forwarded: the
   * connection was not refused, the path is normalized, a route serves it, the
   * route accepts this client, and its upstream identity can be bound.
   */
  private admit(conn: ClientConnection | undefined, head: RequestHead): Admission {
    return admit(this.o.routing(), conn, head);
  }

  private upstreamHeaders(req: AnyRequest, a: Admitted, identity?: Record<string, string | string[]>): Record<string, string | string[]> {
    const src = req.headers as Record<string, string | string[] | undefined>;
    const listed = connectionTokens(src.connection);
    const fwd = { peer: a.conn.remoteAddress, host: a.host, trusted: a.trusted };
    const client: ClientForwarding | undefined = trustsForwarding(fwd) ? {} : undefined;
    const out: Record<string, string | string[]> = {};
    for (const name in src) {
      const v = src[name];
      if (v === undefined || isHopByHop(name, listed) || a.strip.has(name)) continue;
      // Node has already answered `Expect: 100-continue` (and undici refuses the header)
      if (name === 'expect') continue;
      if (isForwardingHeader(name)) {
        if (client) for (const one of Array.isArray(v) ? v : [v]) collectForwarding(client, name, one);
        continue;
      }
      out[name] = v;
    }
    if (src['te'] === 'trailers') out['te'] = 'trailers';
    if (a.host) out['host'] = a.host;
    for (const [k, v] of forwardedHeaders(fwd, client)) out[k] = v;
    if (identity) Object.assign(out, identity);
    return out;
  }

  /**
   * An upgrade (WebSocket) is a request like any other: admitted the same way,
   * refused with the same own answers, and recorded once (request log line,
   * audit record, request metric) — when the tunnel closes after a 101, with
   * the bytes it moved, or when it was refused or failed.
   */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = performance.now();
    const conn = this.bySocket.get(socket);
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    const tls = socket as TLSSocket;
    const readAt = tls.bytesRead ?? 0;
    const writtenAt = tls.bytesWritten ?? 0;
    let recorded = false;
    const record = (status: number, extra: Record<string, unknown>) => {
      if (recorded) return;
      recorded = true;
      this.logRequest(method, conn, path, started, status, { ...extra, bytesIn: (tls.bytesRead ?? 0) - readAt, bytesOut: (tls.bytesWritten ?? 0) - writtenAt });
    };
    const fail = (status: number, message: string, extra: Record<string, unknown>) => {
      socket.end(rawOwnAnswer(status, message, { close: true }), 'latin1');
      socket.once('close', () => record(status, extra));
    };
    if (headerCount(req.rawHeaders) > this.o.maxHeaderCount) return fail(431, 'too many request header fields', { outcome: 'bad-request', reason: 'more header fields than limits.maxHeaderCount' });
    const admitted = this.admit(conn, { raw: req.rawHeaders, target: path });
    if (!admitted.ok) return fail(admitted.status, admitted.message, { outcome: admitted.outcome, reason: admitted.reason, route: admitted.route, ...(admitted.rule ? { rule: admitted.rule } : {}) });
    const { route, binding } = admitted;
    const headers = this.upstreamHeaders(req, admitted, binding.headers);
    const pool = this.pools.get(binding);
    const protocol = String(req.headers.upgrade ?? 'websocket');
    const upstream = { route: route.upstream, upstream: binding.cluster.name, ...(binding.serial ? { serial: binding.serial } : {}) };
    pool.dispatch({ path: admitted.target, method: req.method as Dispatcher.HttpMethod, headers, upgrade: protocol }, new UpgradeRelay(socket, head, protocol, {
      // the tunnel is recorded when it ends: its duration and bytes are the request's
      upgraded: () => socket.once('close', () => record(101, { outcome: 'upgraded', ...upstream })),
      // the backend said no (403, 426, …): the client gets its answer, as from nginx
      refused: (status) => socket.once('close', () => record(status, { outcome: 'not-upgraded', ...upstream })),
      failed: (err, answered) => {
        const reason = (err as NodeJS.ErrnoException).code ?? err.message;
        if (!answered) fail(502, 'upstream unavailable', { outcome: 'upstream-error', reason, ...upstream });
        else { socket.destroy(); record(502, { outcome: 'upstream-error', reason, ...upstream }); }
      },
    }));
  }

  /** Stop taking requests; in-flight ones finish. Resolves when the upstream pools are closed. */
  async close(): Promise<void> {
    this.closing = true;
    this.closeIdle();
    for (const s of this.sessions) s.close();
    for (const c of [...this.h1Connections]) c.closeIfIdle();
    this.pool.close();
    await this.pools.close();
  }

  /** Closes the upstream pools of a cluster that a reload replaced, once their requests are done. */
  retireCluster(cluster: UpstreamCluster): void {
    this.pools.retire(cluster);
    this.pool.retire(cluster);
  }

  /** Closes the upstream pools of an identity (its client was revoked). */
  forgetIdentity(identityKey: string): void {
    this.pools.forget(identityKey);
    this.pool.forget(identityKey);
  }

  /** During a graceful stop: closes HTTP/1.1 keep-alive connections that are idle now. */
  closeIdle(): void {
    this.h1.closeIdleConnections();
    for (const c of [...this.h1Connections]) c.closeIfIdle();
  }

  destroy(): void {
    this.h1.closeAllConnections?.();
    for (const s of this.sessions) s.destroy();
    for (const c of [...this.h1Connections]) c.destroy();
    this.pool.destroy();
    this.pools.destroy();
  }
}

/**
 * Relays one upstream response into the client's response as undici delivers
 * it, with backpressure both ways: no intermediate stream, no per-request
 * Writable wiring (what undici's stream() would add).
 */
class ResponseRelay implements Dispatcher.DispatchHandler {
  private status = 0;
  /** response body bytes relayed to the client */
  bytesOut = 0;
  private done = false;
  /** the client went away (reset, closed) before the upstream answer was relayed */
  private gone = false;
  private controller?: Dispatcher.DispatchController;
  private stallTimer?: NodeJS.Timeout;
  /** what tells us the client is gone: the HTTP/2 stream itself, or the HTTP/1.1 response */
  private readonly closeSource: NodeJS.EventEmitter;
  private readonly onClientGone = () => {
    if (this.done) return;
    this.gone = true;
    this.clearStall();
    // Before undici started the request there is no controller yet: onRequestStart aborts.
    this.controller?.abort(clientClosed());
  };
  private readonly onDrain = () => { this.clearStall(); this.controller?.resume(); };

  constructor(
    private readonly res: AnyResponse,
    /** the proxy is stopping: HTTP/1.1 clients are asked not to reuse the connection */
    private readonly closing: () => boolean,
    /** a paused response (the client does not read) may wait this long for 'drain', ms */
    private readonly stallTimeoutMs: number,
    private readonly finished: (status: number, err?: Error) => void,
  ) {
    // Listened for from the start, not from onRequestStart: undici starts a request
    // only when a pool connection is free, and a client that resets its stream while
    // the request is queued must still be seen as gone. (Missing that close left
    // responses paused forever on a destroyed HTTP/2 stream, each holding one
    // upstream connection, until the route's pool was wedged.)
    this.closeSource = 'stream' in res ? res.stream : res;
    if (clientIsGone(res)) this.gone = true;
    else this.closeSource.once('close', this.onClientGone);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone || clientIsGone(this.res)) { this.gone = true; controller.abort(clientClosed()); }
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 100-continue and 103 stay between undici and the upstream
    this.status = statusCode;
    if (this.gone || clientIsGone(this.res)) { this.gone = true; controller.abort(clientClosed()); return; }
    const h = responseHeaders(headers);
    if (this.closing() && !('stream' in this.res)) h.connection = 'close';
    (this.res as ServerResponse).writeHead(statusCode, h);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.gone || clientIsGone(this.res)) { this.gone = true; controller.abort(clientClosed()); return; }
    this.bytesOut += chunk.length;
    if (!(this.res as ServerResponse).write(chunk)) {
      controller.pause();
      this.res.once('drain', this.onDrain);
      // A client that stops reading must not hold the upstream connection forever
      // (nginx's send_timeout): past the stall timeout its stream is cut.
      this.stallTimer ??= setTimeout(() => {
        this.stallTimer = undefined;
        if (this.done) return;
        this.gone = true;
        controller.abort(Object.assign(new Error('client stopped reading'), { code: 'ERR_CLIENT_STALLED' }));
        destroyResponse(this.res);
      }, this.stallTimeoutMs);
      this.stallTimer.unref();
    }
  }

  onResponseEnd(): void {
    this.finish();
    // An HTTP/2 response can be reset under us; only an ended response is complete.
    if (clientIsGone(this.res)) { this.finished(this.status, clientClosed()); return; }
    this.res.end();
    this.finished(this.status);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.finish();
    // whatever undici says (aborted, socket closed), a client that left first is the reason
    this.finished(this.status, this.gone && (err as NodeJS.ErrnoException).code !== 'ERR_CLIENT_STALLED' ? clientClosed() : err);
  }

  private finish(): void {
    this.done = true;
    this.clearStall();
    this.closeSource.removeListener('close', this.onClientGone);
    this.res.removeListener('drain', this.onDrain);
  }

  private clearStall(): void {
    if (this.stallTimer) { clearTimeout(this.stallTimer); this.stallTimer = undefined; }
  }
}

const clientClosed = () => Object.assign(new Error('client closed the connection'), { code: 'ERR_CLIENT_CLOSED' });

/**
 * Whether the client can no longer receive this response. Http2ServerResponse
 * has no `destroyed`: its stream says (closed by a reset, or destroyed).
 */
function clientIsGone(res: AnyResponse): boolean {
  if ('stream' in res) return res.stream.destroyed || res.stream.closed;
  return res.destroyed;
}

function destroyResponse(res: AnyResponse): void {
  if ('stream' in res) resetOwnStream(res.stream, 8 /* CANCEL */); else res.destroy();
}

/**
 * An upgrade request upstream: a 101 splices the two connections; any other
 * answer is relayed to the client as it came (then the connection closes, since
 * the client's socket is no longer Node's HTTP server's to frame).
 */
class UpgradeRelay implements Dispatcher.DispatchHandler {
  private answered = false;
  private readonly onDrain = () => this.controller?.resume();
  private controller?: Dispatcher.DispatchController;

  constructor(
    private readonly client: Duplex,
    private readonly head: Buffer,
    private readonly protocol: string,
    private readonly on: { upgraded(): void; refused(status: number): void; failed(err: Error, answered: boolean): void },
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.client.once('close', () => { if (!this.answered) controller.abort(new Error('client closed the connection')); });
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, _status: number, headers: Record<string, string | string[] | undefined>, up: Duplex): void {
    this.answered = true;
    const client = this.client;
    const { connection: _connection, upgrade: _upgrade, ...rest } = headers; // this proxy sets both
    client.write(responseHead(['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Upgrade: ${this.protocol}`], rest));
    if (this.head.length) up.write(this.head);
    up.pipe(client);
    client.pipe(up);
    const close = () => { up.destroy(); client.destroy(); };
    up.on('error', close); client.on('error', close); up.on('close', close); client.on('close', close);
    this.on.upgraded();
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (statusCode < 200) return;
    this.answered = true;
    this.client.write(responseHead([`HTTP/1.1 ${statusCode} ${statusMessage || STATUS_CODES[statusCode] || ''}`, 'Connection: close'], responseHeaders(headers)));
    this.on.refused(statusCode);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.client.write(chunk)) { controller.pause(); this.client.once('drain', this.onDrain); }
  }

  onResponseEnd(): void {
    this.client.end();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.on.failed(err, this.answered);
  }
}

/** A response head for a raw socket: the fixed lines, then every header value on its own line. */
function responseHead(fixed: string[], headers: Record<string, string | string[] | undefined>): string {
  const lines = [...fixed];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  }
  return lines.join('\r\n') + '\r\n\r\n';
}

function responseHeaders(h: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionTokens(h.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in h) {
    const v = h[name];
    if (v === undefined || isHopByHop(name, listed)) continue;
    out[name] = v;
  }
  return out;
}

/** Header fields of a request, pseudo-headers (HTTP/2 `:path` …) not counted. */
function headerCount(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].charCodeAt(0) !== 58 /* : */) n++;
  return n;
}

/** Size of a header list as HTTP/2 counts it (RFC 9113 6.5.2): name + value + 32 per field. */
function headerBytes(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) n += raw[i].length + raw[i + 1].length + 32;
  return n;
}

function reply(res: AnyResponse, status: number, message: string, close = false): void {
  if (res.headersSent) { (res as ServerResponse).destroy?.(); return; }
  const body = ownAnswerBody(message);
  const headers = ownAnswerHeaders(body);
  if (close && !('stream' in res)) headers.connection = 'close';
  (res as ServerResponse).writeHead(status, headers);
  res.end(body);
}

/** A request's Content-Length as a byte count (what the audit log records as bytesIn), or undefined. */
function contentLengthOf(v: string | string[] | undefined): number | undefined {
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
