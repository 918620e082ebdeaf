/**
 * An HTTP/1.1 upstream connection: one request at a time, the head written as
 * text, the body as bytes (a Content-Length body as it comes, any other
 * re-framed as chunks of the same bytes, the request's trailers in its last
 * chunk), the answer read by Node's own
 * parser (h1-parser.ts, strict). After a 101 to an upgrade the socket is
 * handed to the exchange's tunnel. An answer that breaks HTTP, or a close
 * before it is complete, fails the request with our own codes (failures.ts).
 */
import { http } from '../../node-http.js';
import type { TLSSocket } from 'node:tls';
import type { UpstreamServer } from '../upstream-cluster.js';
import { createParser, type NativeHttpParser, type ParseError } from './h1-parser.js';
import { UpstreamFailure } from './failures.js';
import type { PooledConnection } from './upstream-pool.js';
import type { UpstreamEvents, UpstreamHead, UpstreamRequest } from './upstream-request.js';

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** an answer head larger than Node's default max header size breaks HTTP here (ERR_UPSTREAM_PROTOCOL) */
const MAX_RESPONSE_HEAD = http.maxHeaderSize;

/** how long a server's last diagnosed refusal of our certificate explains a close of its connection, ms */
const REFUSAL_MEMORY_MS = 2000;

export class H1Upstream implements PooledConnection, UpstreamRequest {
  readonly protocol = 'http/1.1' as const;
  inFlight = 0;
  uses = 0;
  onGone: (() => void) | undefined;
  idleSince = 0;
  received = 0;
  private readonly parser: NativeHttpParser;
  private events: UpstreamEvents | undefined;
  private dead = false;
  /** the last answer allows another request on this connection */
  private keepAlive = true;
  /** the request in progress: a chunked body, HEAD (an answer without a body), an upgrade */
  private chunked = false;
  private head = false;
  private upgrade = false;
  /** a 101 to the upgrade was read: the rest of the bytes are the tunnel's */
  private switched = false;

  constructor(readonly socket: TLSSocket, readonly server: UpstreamServer) {
    this.parser = createParser('response', MAX_RESPONSE_HEAD, {
      messageBegin: () => { if (!this.events) this.destroy(); },
      headersComplete: (_ma, _mi, raw, _m, _u, status, _sm, upgrade, keepAlive) => this.answerHead(status ?? 0, raw, upgrade, keepAlive),
      body: (chunk) => this.events?.data(chunk),
      messageComplete: (trailers) => this.answerEnd(trailers),
    });
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  // ---- PooledConnection ---------------------------------------------------

  capacity(): number { return 1; }

  request(): UpstreamRequest { return this; }

  reusable(): boolean { return !this.dead && this.keepAlive && this.socket.writable && !this.socket.destroyed; }

  close(): void { this.destroy(); }

  destroy(err?: Error): void {
    if (this.dead) return;
    this.dead = true;
    const events = this.events;
    this.events = undefined;
    this.socket.destroy();
    // never freed inside its own execute() (this may run in one of its callbacks)
    setImmediate(() => this.parser.close());
    this.onGone?.();
    if (events && err) events.failed(UpstreamFailure.from(err, 'ERR_UPSTREAM_CLOSED'));
  }

  // ---- UpstreamRequest ----------------------------------------------------

  start(head: UpstreamHead, events: UpstreamEvents): void {
    this.events = events;
    this.received = 0;
    this.head = head.method === 'HEAD';
    this.upgrade = head.upgrade;
    this.chunked = head.body === 'stream';
    const fields = head.fields;
    let text = `${head.method} ${head.target} HTTP/1.1\r\n`;
    for (let i = 0; i < fields.length; i += 2) text += `${fields[i]}: ${fields[i + 1]}\r\n`;
    if (this.chunked) text += 'transfer-encoding: chunked\r\n';
    if (head.host) text += `host: ${head.host}\r\n`;
    this.socket.write(text + '\r\n', 'latin1');
  }

  write(chunk: Buffer): boolean {
    const s = this.socket;
    if (!this.chunked) return s.write(chunk);
    s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    s.write(chunk);
    return s.write(CRLF);
  }

  end(trailers?: string[]): void {
    if (!this.chunked) return;
    // the request's trailers (filtered by the exchange) in the last chunk; a Content-Length body has no place for them
    if (!trailers?.length) { this.socket.write(LAST_CHUNK); return; }
    let text = '0\r\n';
    for (let i = 0; i < trailers.length; i += 2) text += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
    this.socket.write(text + '\r\n', 'latin1');
  }

  pause(): void { this.socket.pause(); }

  resume(): void { this.socket.resume(); }

  abort(): void {
    this.events = undefined;
    this.destroy();
  }

  // ---- the answer -----------------------------------------------------------

  private answerHead(status: number, raw: string[], upgrade: boolean, keepAlive: boolean): number {
    const events = this.events;
    if (!events) return 1;
    if (status === 101 || upgrade) {
      if (!this.upgrade || status !== 101) {
        this.fail(new UpstreamFailure('ERR_UPSTREAM_PROTOCOL', `the upstream answered ${status} with a protocol switch the request did not ask for`));
        return 1;
      }
      this.switched = true;
      events.head(status, raw, false);
      return 1;
    }
    if (status < 200) { this.interim = true; events.head(status, raw, true); return 0; }
    this.keepAlive = keepAlive;
    events.head(status, raw, false);
    return this.head ? 1 : 0;
  }

  private answerEnd(trailers: string[]): void {
    const events = this.events;
    // the end of a 1xx interim answer: the real one follows
    if (!events || this.switched) return;
    if (this.interim) { this.interim = false; return; }
    this.events = undefined;
    events.end(trailers);
  }

  /** llhttp reports a 1xx answer as a message of its own: its end is not the answer's */
  private interim = false;

  private readonly onData = (d: Buffer): void => {
    this.received += d.length;
    // the answer's head and body in one read go to the client in one write
    const events = this.events;
    events?.cork?.();
    const r = this.parser.execute(d);
    events?.uncork?.();
    if (typeof r !== 'number') { this.fail(protocolError(r)); return; }
    if (this.switched) {
      // the 101 was the last thing this parser reads: the rest is the tunnel's
      const events = this.events;
      this.events = undefined;
      this.dead = true;
      this.detachListeners();
      setImmediate(() => this.parser.close());
      events?.tunnel?.(this.socket, d.subarray(r));
    }
  };

  private readonly onEnd = (): void => {
    if (this.switched) return;
    const r = this.parser.finish();
    if (r) this.fail(protocolError(r));
    else this.fail(this.closedError());
  };

  private readonly onError = (err: Error): void => { this.fail(UpstreamFailure.from(err, 'ERR_UPSTREAM_CLOSED')); };
  private readonly onClose = (): void => { this.fail(this.closedError()); };
  private readonly onDrain = (): void => { this.events?.drain(); };

  private closedError(): UpstreamFailure {
    const f = new UpstreamFailure('ERR_UPSTREAM_CLOSED', 'the upstream closed the connection before its answer was complete');
    // a TLS 1.3 server refusing our certificate shows as a closed socket; its alert was diagnosed a moment ago
    const refusal = this.server.lastRefusal;
    if (refusal && Date.now() - refusal.at < REFUSAL_MEMORY_MS) f.diagnosis = refusal.diagnosis;
    return f;
  }

  private fail(err: UpstreamFailure): void {
    if (this.dead) return;
    const events = this.events;
    this.events = undefined;
    this.destroy();
    events?.failed(err);
  }

  private detachListeners(): void {
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('error', this.onError);
    s.removeListener('close', this.onClose);
    s.removeListener('drain', this.onDrain);
  }
}

function protocolError(e: ParseError): UpstreamFailure {
  return new UpstreamFailure('ERR_UPSTREAM_PROTOCOL', `the upstream's answer is not valid HTTP/1.1: ${e.code}${e.reason ? ` (${e.reason})` : ''}`, { cause: e });
}
