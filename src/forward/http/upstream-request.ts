/**
 * What an exchange asks of an upstream connection for one request, whatever
 * the connection speaks (h1-upstream.ts, h2-upstream.ts).
 */
import type { TLSSocket } from 'node:tls';
import type { UpstreamFailure } from './failures.js';

/** The request head as it goes upstream, rewritten once (request-head.ts). */
export interface UpstreamHead {
  method: string;
  /** the normalized request target (origin-form), what was routed on */
  target: string;
  /** the canonical Host, sent as Host (HTTP/1.1) or :authority (HTTP/2) */
  host: string | undefined;
  /** header fields, name and value in turn, in the client's spelling and order, then the proxy's */
  fields: string[];
  /** the request body: none, a known length (a Content-Length field is among `fields`), or a stream of unknown length */
  body: 'none' | 'length' | 'stream';
  /** the client asked for a protocol switch (Upgrade): HTTP/1.1 only, spliced after 101 */
  upgrade: boolean;
  /** the client accepts trailers (TE: trailers): an HTTP/2 upstream's trailers are passed */
  trailers: boolean;
}

/** What an upstream connection reports about the answer to one request. */
export interface UpstreamEvents {
  /**
   * The answer's head (1xx interim answers too: 100 and 103 are reported with
   * `interim`). `raw`: name, value, … as the upstream sent them. `complete`:
   * the head is the whole answer (an HTTP/2 HEADERS with END_STREAM: no body,
   * no trailers — gRPC's trailers-only answer).
   */
  head(status: number, raw: string[], interim: boolean, complete?: boolean): void;
  data(chunk: Buffer): void;
  /** the answer is complete; `trailers`: name, value, … (empty when none) */
  end(trailers: string[]): void;
  /** the upstream failed this request (closed, reset, timed out, broke HTTP) */
  failed(err: UpstreamFailure): void;
  /** the upstream took what was written: the request body may flow again */
  drain(): void;
  /** after a 101 to an upgrade: the upstream socket is the tunnel's, `head` its first bytes */
  tunnel?(socket: TLSSocket, head: Buffer): void;
  /** what one read from the upstream brings is reported between these two: the client's writes can be batched */
  cork?(): void;
  uncork?(): void;
}

/** One request on a leased upstream connection. */
export interface UpstreamRequest {
  /** sends the head (and ends the request when it has no body) */
  start(head: UpstreamHead, events: UpstreamEvents): void;
  /** a piece of the request body; false when the upstream is full (wait for `drain`) */
  write(chunk: Buffer): boolean;
  /** the request body is complete; `trailers`: name, value, … (HTTP/2 upstreams send them) */
  end(trailers?: string[]): void;
  /** stop reading the answer (the client is full) / read again */
  pause(): void;
  resume(): void;
  /** abandons the request: the connection (HTTP/1.1) is closed, the stream (HTTP/2) reset */
  abort(): void;
  /** bytes of the answer received so far (0: the server said nothing to this request) */
  readonly received: number;
}
