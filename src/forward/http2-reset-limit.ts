/**
 * HTTP/2 "rapid reset" defence (CVE-2023-44487 class): a token bucket of stream
 * resets per client connection. Every stream the client cancels (RST_STREAM)
 * takes a token; tokens come back at `perSecond`, up to `burst`. A connection
 * that runs out is told GOAWAY (ENHANCE_YOUR_CALM) and closed, as nginx and
 * Envoy do. Node's own nghttp2 limit (`streamResetBurst`/`streamResetRate`) is
 * set above ours as a backstop, so this is the one that logs.
 */
import { constants, type Http2Session, type ServerHttp2Stream } from 'node:http2';

export interface ResetLimitOptions {
  /** resets a connection may send at once */
  burst: number;
  /** resets per second a connection may keep sending */
  perSecond: number;
}

/** A token bucket; `take()` is false when the bucket is empty. Time in ms from `now()`. */
class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly opts: ResetLimitOptions, private readonly now: () => number = () => performance.now()) {
    this.tokens = opts.burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((t - this.last) / 1000) * this.opts.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Options for Node's http2 server: nghttp2's own reset limit, above ours. */
export function nativeResetLimit(opts: ResetLimitOptions): { streamResetBurst: number; streamResetRate: number } {
  return { streamResetBurst: opts.burst * 2 + 10, streamResetRate: opts.perSecond * 2 + 10 };
}

/**
 * Watches a session's streams; calls `onFlood(resets)` once and closes the
 * session with GOAWAY ENHANCE_YOUR_CALM when its resets exceed the limit.
 */
export function limitResets(session: Http2Session, opts: ResetLimitOptions, onFlood: (resets: number) => void): void {
  const bucket = new TokenBucket(opts);
  let resets = 0;
  let flooded = false;
  session.on('stream', (stream: ServerHttp2Stream) => {
    stream.once('close', () => {
      // a stream closed by the client's RST_STREAM before its response was done, any code
      // (our own resets, of a failed upstream mid-response, are marked and not counted)
      // (RST_STREAM with NO_ERROR too, or a reset would be free); a connection that
      // closes takes its streams with it, which is no reset
      if (flooded || ownResets.has(stream) || stream.rstCode === undefined || session.destroyed || session.closed) return;
      if (!resetByPeer(stream)) return;
      resets++;
      if (bucket.take()) return;
      flooded = true;
      onFlood(resets);
      if (!session.destroyed) {
        session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
        closeAfterGoaway(session);
      }
    });
  });
}

/** after a GOAWAY, the client counts as done sending once it has sent nothing for this long */
const LINGER_QUIET_MS = 200;
/** and the connection is dropped after this long at most, quiet or not */
const LINGER_MAX_MS = 2_000;

/**
 * Drops a session told GOAWAY once its client stops sending (at most
 * LINGER_MAX_MS later), as nginx's lingering close does. Closing while the
 * client's frames still arrive makes the kernel answer them with a TCP RST,
 * and a RST discards what the client has not read yet: the GOAWAY that says
 * why. Meanwhile nghttp2 reads and drops what comes (no new stream starts
 * after a GOAWAY).
 */
function closeAfterGoaway(session: Http2Session, quietMs = LINGER_QUIET_MS, maxMs = LINGER_MAX_MS): void {
  const started = performance.now();
  // session.socket is Node's guarded proxy: reading bytesRead is allowed
  let seen = session.socket?.bytesRead ?? 0;
  const timer = setInterval(() => {
    const now = session.socket?.bytesRead ?? seen;
    const quiet = now === seen;
    seen = now;
    if (session.destroyed || quiet || performance.now() - started >= maxMs) {
      clearInterval(timer);
      if (!session.destroyed) session.destroy();
    }
  }, quietMs);
  timer.unref();
}

const ownResets = new WeakSet<ServerHttp2Stream>();

/**
 * Resets a stream (RST_STREAM INTERNAL_ERROR) and marks it as this proxy's
 * doing (not the client's). `destroy`, not `close(code)`: Node's close() ends
 * the writable side first, so the client would see END_STREAM — a short
 * answer that looks complete — before the reset (measured on Node 24).
 */
export function resetOwnStream(stream: ServerHttp2Stream, why: string): void {
  ownResets.add(stream);
  if (!stream.destroyed) stream.destroy(new Error(why));
}

/** The client cancelled the stream before its response was complete. */
function resetByPeer(stream: ServerHttp2Stream): boolean {
  return !stream.writableFinished || stream.aborted;
}
