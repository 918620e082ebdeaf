/**
 * One HTTP request and its answer, whatever the client speaks (HTTP/1.1 or
 * HTTP/2: the downstream adapters, h1-downstream.ts and h2-downstream.ts) and
 * whatever the upstream connection speaks. The phases, in order:
 *
 *   admit (admission.ts: verdict, normal form, route, access rule, binding)
 *   → rewrite the head once (request-head.ts)
 *   → lease an upstream connection (upstream-pool.ts)
 *   → stream both ways with backpressure (full duplex: the answer may begin
 *     before the request ends)
 *   → on failure, classify it by its code (failures.ts)
 *   → one record (request log line, audit record, metrics).
 *
 * An upgrade is an exchange whose answer is a 101: after it, the two sockets
 * are spliced (tunnel.ts) and the record is written when the tunnel closes.
 * The proxy's own answers (refusals, 502, 504) are the adapters' `ownAnswer`,
 * built in own-answers.ts.
 */
import type { TLSSocket } from 'node:tls';
import type { ClientConnection } from '../client-connection.js';
import { isIdempotent } from '../request-target.js';
import { diagnosisFields } from '../upstream-diagnosis.js';
import { admit, type Admitted, type RequestRouting } from './admission.js';
import { FAILURES, UpstreamFailure } from './failures.js';
import { rewriteHead, rewriteTrailers } from './request-head.js';
import type { Lease, UpstreamPool, UpstreamProtocol } from './upstream-pool.js';
import type { UpstreamEvents, UpstreamHead, UpstreamRequest } from './upstream-request.js';
import { Watchdog } from './watchdog.js';

const NO_EXTRA: { reason?: string } = {};

/** The client side of one exchange: an HTTP/1.1 connection's request, or an HTTP/2 stream. */
export interface ClientSide {
  readonly conn: ClientConnection | undefined;
  /** 1: HTTP/1.1, 2: HTTP/2 */
  readonly version: 1 | 2;
  /**
   * The answer's head, with the upstream's fields (name, value, …); `trailers`:
   * the answer may end with trailers; `complete`: the head is the whole answer.
   */
  respond(status: number, raw: readonly string[], trailers: boolean, complete: boolean): void;
  /** a piece of the answer's body; false when the client is full (then `drain` comes) */
  write(chunk: Buffer): boolean;
  /** the answer is complete */
  end(trailers: readonly string[]): void;
  /** the answer cannot be completed: HTTP/1.1 closes the connection, HTTP/2 resets the stream */
  abort(): void;
  /** an answer of the proxy's own; `close`: the connection is not worth keeping */
  ownAnswer(status: number, message: string, close: boolean): void;
  /** stop taking request body (the upstream is full, or not there yet) / take it again */
  pauseRequest(): void;
  resumeRequest(): void;
  /** the request is being forwarded: a client waiting for `100 Continue` gets it */
  proceed(): void;
  /** `run` once what the client sent so far is parsed whole (HTTP/1.1: a parse error later in the same bytes forwards nothing) */
  whenParsed(run: () => void): void;
  /** after a 101: the client's bytes and `upstream`'s are spliced; `closed` once both are gone */
  tunnel(upstream: TLSSocket, head: Buffer, closed: () => void): void;
  /** the exchange is over (recorded): the connection may serve its next request */
  finished(): void;
  /** the connection's watchdog, when its exchanges go one at a time (HTTP/1.1): one timer for all of them */
  readonly watchdog?: Watchdog;
  /** several writes coming (an upstream chunk with the answer's head and body): one TLS record where they fit */
  cork?(): void;
  uncork?(): void;
}

/** One request's record: the log line, the audit record, the metrics. */
export interface ExchangeRecord {
  method: string;
  conn: ClientConnection | undefined;
  /** the target as the client sent it */
  path: string;
  started: number;
  status: number;
  outcome: string;
  reason?: string;
  route?: string;
  upstream?: string;
  server?: string;
  serial?: string;
  rule?: string;
  bytesIn: number;
  bytesOut: number;
  extra?: Record<string, unknown>;
}

/** What an exchange needs of the engine. */
export interface ExchangeContext {
  pool: UpstreamPool;
  routing(): RequestRouting;
  /** answer head from the upstream, body gaps, a client that does not read: ms (timeouts.request) */
  requestTimeoutMs: number;
  record(r: ExchangeRecord): void;
  /** whether a record is wanted at all (a log line at info, or a subscriber: the audit log, metrics); nothing is built otherwise */
  recording(): boolean;
}

/** what the request has received from the client */
type RequestState = 'head' | 'body' | 'done';
/** where the exchange is */
type Phase = 'admit' | 'lease' | 'forward' | 'tunnel' | 'done';
/** what of the answer has gone to the client */
type ResponseState = 'none' | 'head' | 'done';
/** what the one timer is watching */
type Watch = 'none' | 'upstream' | 'client';

export interface ExchangeRequest {
  method: string;
  /** the target as sent */
  target: string;
  /** header fields as received (name, value, …) */
  raw: readonly string[];
  /** HTTP/2 :authority */
  authority?: string;
  /** how the request body comes: none, a Content-Length one, or a stream (chunked, or HTTP/2 without a length) */
  body: UpstreamHead['body'];
  /** an HTTP/1.1 Upgrade */
  upgrade?: string;
}

export class Exchange implements UpstreamEvents {
  phase: Phase = 'admit';
  request: RequestState;
  response: ResponseState = 'none';
  readonly started = performance.now();
  private admitted: Admitted | undefined;
  private upstreamHead: UpstreamHead | undefined;
  private lease: Lease | undefined;
  private upstream: UpstreamRequest | undefined;
  /** request body read before the upstream was there */
  private pending: Buffer[] | undefined;
  private requestTrailers: string[] | undefined;
  private status = 0;
  private retried = false;
  private bytesIn = 0;
  private bytesOut = 0;
  /** what times this exchange out: the connection's (HTTP/1.1), or its own (HTTP/2) */
  private readonly watchdog: Watchdog;
  private watch: Watch = 'none';
  private clientFull = false;
  private recorded = false;
  /** the server the request went to */
  private server: string | undefined;

  constructor(private readonly client: ClientSide, private readonly ctx: ExchangeContext, readonly req: ExchangeRequest) {
    this.request = req.body === 'none' ? 'done' : 'head';
    this.watchdog = client.watchdog ?? new Watchdog(ctx.requestTimeoutMs);
  }

  /**
   * A request its client adapter refuses before admission (too many header
   * fields, CONNECT, an expectation it cannot meet, …): recorded and answered
   * like any refusal.
   */
  static refused(client: ClientSide, ctx: ExchangeContext, req: ExchangeRequest, r: { status: number; message: string; reason: string; close: boolean }): Exchange {
    const ex = new Exchange(client, ctx, req);
    ex.phase = 'done';
    ex.response = 'done';
    ex.record(r.status, 'bad-request', { reason: r.reason });
    client.ownAnswer(r.status, r.message, r.close);
    client.finished();
    return ex;
  }

  /** Admits the request, then forwards it (or answers it, refused). */
  start(): void {
    const a = admit(this.ctx.routing(), this.client.conn, { raw: this.req.raw, authority: this.req.authority, target: this.req.target });
    if (!a.ok) {
      this.phase = 'done';
      this.response = 'done';
      this.record(a.status, a.outcome, { reason: a.reason, route: a.route, rule: a.rule });
      this.client.ownAnswer(a.status, a.message, a.close ?? false);
      this.client.finished();
      return;
    }
    this.admitted = a;
    this.upstreamHead = rewriteHead({ method: this.req.method, raw: this.req.raw, body: this.req.body, upgrade: this.req.upgrade }, a);
    this.leaseUpstream();
  }

  private protocol(): UpstreamProtocol | 'any' {
    // an upgrade is HTTP/1.1's; otherwise the client's protocol, as connection mode offers the client's ALPN upstream
    if (this.upstreamHead!.upgrade) return 'http/1.1';
    const mode = this.admitted!.routing.upstreamHttp2?.(this.admitted!.route.upstream) ?? 'off';
    if (mode === 'on') return 'h2';
    if (mode === 'off') return 'http/1.1';
    return this.client.version === 2 ? 'any' : 'http/1.1';
  }

  private leaseUpstream(): void {
    this.phase = 'lease';
    if (this.request !== 'done') this.client.pauseRequest();
    this.ctx.pool.lease({ binding: this.admitted!.binding, protocol: this.protocol() }, (err, lease) => {
      if (this.phase === 'done') { lease?.release(true); return; }
      if (err) { this.fail(err); return; }
      this.lease = lease;
      // the head goes once the bytes it came in are parsed whole (HTTP/1.1)
      this.client.whenParsed(() => this.send());
    });
  }

  /** Sends the head and what is already read of the body. */
  private send(): void {
    const lease = this.lease!;
    if (this.phase === 'done') { this.lease = undefined; lease.release(true); return; }
    this.phase = 'forward';
    this.server = lease.server.address;
    const up = lease.connection!.request();
    this.upstream = up;
    up.start(this.upstreamHead!, this);
    if (this.pending) {
      const chunks = this.pending;
      this.pending = undefined;
      for (const c of chunks) if (!up.write(c)) this.client.pauseRequest();
    }
    if (this.request === 'done') this.requestSent();
    else {
      this.client.proceed();
      this.client.resumeRequest();
    }
  }

  // ---- the request body, from the client adapter ------------------------------

  requestData(chunk: Buffer): void {
    if (this.phase === 'done') return;
    this.request = 'body';
    this.bytesIn += chunk.length;
    if (this.phase !== 'forward') { (this.pending ??= []).push(chunk); this.client.pauseRequest(); return; }
    if (!this.upstream!.write(chunk)) this.client.pauseRequest();
    // a body that keeps coming: the upstream's answer is not late yet
  }

  requestEnd(trailers?: string[]): void {
    if (this.request === 'done') return;
    this.request = 'done';
    this.requestTrailers = trailers;
    if (this.phase === 'forward') this.requestSent();
  }

  private requestSent(): void {
    const trailers = this.requestTrailers;
    this.upstream!.end(trailers?.length ? rewriteTrailers(trailers, this.req.raw, this.admitted!) : undefined);
    // the answer's head is awaited from here (a slow upload is the client adapter's body-gap timer's business)
    if (this.response === 'none') this.arm('upstream');
  }

  /** The client left (closed its connection, reset its stream) before the exchange was over. */
  clientGone(): void {
    if (this.phase === 'done' || this.phase === 'tunnel') return;
    const admitted = this.admitted !== undefined;
    this.stop();
    this.cutUpstream();
    if (admitted) this.record(FAILURES.ERR_CLIENT_CLOSED.status, 'client-closed', { reason: 'client-closed' });
  }

  /** The client's request body paused longer than timeouts.request (nginx's client_body_timeout): 408 if nothing was answered. */
  clientTimedOut(): void {
    if (this.phase === 'done' || this.phase === 'tunnel') return;
    this.fail(new UpstreamFailure('ERR_CLIENT_TIMEOUT', `the request body paused for timeouts.request (${this.ctx.requestTimeoutMs} ms)`));
  }

  /** The client can take more of the answer. */
  clientDrain(): void {
    if (!this.clientFull || this.phase === 'done') return;
    this.clientFull = false;
    this.arm('upstream');
    this.upstream?.resume();
  }

  // ---- the answer, from the upstream (UpstreamEvents) --------------------------

  head(status: number, raw: string[], interim: boolean, complete = false): void {
    // 100-continue and 103 stay between the proxy and the upstream
    if (interim || this.phase === 'done') return;
    this.status = status;
    this.response = 'head';
    // from here the timer is the answer's body gap (also for an answer that came before the request's end)
    this.arm('upstream');
    this.client.respond(status, raw, this.upstreamHead!.trailers, complete);
  }

  data(chunk: Buffer): void {
    if (this.phase === 'done') return;
    this.bytesOut += chunk.length;
    if (this.watch === 'upstream') this.watchdog.touch();
    if (!this.client.write(chunk) && !this.clientFull) {
      this.clientFull = true;
      this.upstream!.pause();
      // a client that stops reading must not hold the upstream connection forever (nginx's send_timeout)
      this.arm('client');
    }
  }

  end(trailers: string[]): void {
    if (this.phase === 'done') return;
    this.response = 'done';
    const lease = this.lease;
    this.finish();
    // the connection goes back only when the request went whole
    lease?.release(this.request === 'done');
    this.record(this.status, this.req.upgrade !== undefined ? 'not-upgraded' : 'ok');
    this.client.end(trailers);
    this.client.finished();
  }

  failed(err: UpstreamFailure): void {
    if (this.phase === 'done') return;
    const lease = this.lease;
    // A reused connection the server had closed meanwhile: once more on a new one, only when
    // sending it twice cannot do harm (an idempotent method, RFC 9110 §9.2.2, with no body)
    // and no byte of an answer came (the server may have acted on it otherwise).
    // And one the server never processed (HTTP/2 REFUSED_STREAM, past a GOAWAY), whatever its method.
    if (err.code === 'ERR_UPSTREAM_CLOSED' && this.response === 'none' && !this.retried && this.req.body === 'none'
      && (err.unprocessed || (lease?.reused && (this.upstream?.received ?? 0) === 0 && isIdempotent(this.req.method)))) {
      this.retried = true;
      this.disarm();
      this.lease = undefined;
      this.upstream = undefined;
      lease?.discard();
      this.leaseUpstream();
      return;
    }
    this.fail(err);
  }

  drain(): void {
    if (this.phase === 'forward' && this.request !== 'done') this.client.resumeRequest();
  }

  tunnel(socket: TLSSocket, head: Buffer): void {
    if (this.phase === 'done') { socket.destroy(); return; }
    this.phase = 'tunnel';
    this.disarm();
    this.lease?.detach();
    this.lease = undefined;
    this.upstream = undefined;
    // the tunnel is recorded when it ends: its duration and bytes are the request's
    this.client.tunnel(socket, head, () => {
      this.phase = 'done';
      this.record(101, 'upgraded');
      this.client.finished();
    });
  }

  /** The tunnel's byte counts (the client adapter knows them). */
  tunnelBytes(bytesIn: number, bytesOut: number): void { this.bytesIn += bytesIn; this.bytesOut += bytesOut; }

  // ---- failures and the record ------------------------------------------------

  private fail(err: UpstreamFailure): void {
    const cls = err.class;
    const answered = this.response !== 'none';
    const extra: Record<string, unknown> = { reason: err.reason };
    if (err.diagnosis) Object.assign(extra, { server: err.diagnosis.server }, diagnosisFields(err.diagnosis));
    this.stop();
    this.cutUpstream();
    if (!answered) {
      this.record(cls.status, cls.outcome, extra);
      // a request not read to its end leaves an HTTP/1.1 connection unusable
      this.client.ownAnswer(cls.status, cls.answer, this.request !== 'done');
    } else {
      // mid-answer: the client must see a broken answer, not a short one
      this.record(this.status, cls.outcome, extra);
      this.client.abort();
    }
    this.client.finished();
  }

  /** The client stopped reading for timeouts.request. */
  private stalled(): void {
    this.stop();
    this.cutUpstream();
    this.record(this.status, 'client-stalled', { reason: 'client stopped reading for timeouts.request' });
    this.client.abort();
    this.client.finished();
  }

  private timedOut(): void {
    const code = this.response === 'none' ? 'no answer head' : 'the answer paused';
    this.fail(new UpstreamFailure('ERR_UPSTREAM_TIMEOUT', `${code} for timeouts.request (${this.ctx.requestTimeoutMs} ms)`));
  }

  private cutUpstream(): void {
    const lease = this.lease;
    const up = this.upstream;
    this.upstream = undefined;
    this.lease = undefined;
    up?.abort();
    lease?.discard();
  }

  /** The exchange is over: no more events are taken (the lease is the caller's to end). */
  private stop(): void {
    this.phase = 'done';
    this.disarm();
  }

  private finish(): void {
    this.phase = 'done';
    this.disarm();
    this.lease = undefined;
    this.upstream = undefined;
  }

  private arm(watch: Watch): void {
    this.watch = watch;
    if (watch === 'none') { this.watchdog.disarm(); return; }
    this.watchdog.arm(this);
  }

  /** (Timed) nothing happened for timeouts.request */
  timeout(): void {
    if (this.phase === 'done') return;
    if (this.watch === 'client') this.stalled();
    else if (this.watch === 'upstream') this.timedOut();
  }

  private disarm(): void {
    this.watch = 'none';
    this.watchdog.disarm();
  }

  // (UpstreamEvents) an upstream chunk is coming whole: the client's writes go out together
  cork(): void { this.client.cork?.(); }
  uncork(): void { this.client.uncork?.(); }

  private record(status: number, outcome: string, extra: { reason?: string; route?: string; rule?: string; [k: string]: unknown } = NO_EXTRA): void {
    if (this.recorded) return;
    this.recorded = true;
    if (!this.ctx.recording()) return;
    const a = this.admitted;
    const { reason, route, rule, server, ...rest } = extra;
    this.ctx.record({
      method: this.req.method, conn: this.client.conn, path: this.req.target, started: this.started, status, outcome,
      reason, rule, route: (route as string | undefined) ?? a?.route.upstream, upstream: a?.binding.cluster.name,
      server: (server as string | undefined) ?? this.server, serial: a?.binding.serial,
      bytesIn: this.bytesIn, bytesOut: this.bytesOut, extra: Object.keys(rest).length ? rest : undefined,
    });
  }
}
