/**
 * What may come before a client's TLS ClientHello on the edge listener: a
 * PROXY protocol header (from a trusted balancer), then PostgreSQL's
 * SSLRequest / GSSENCRequest (`edge.starttls: [postgres]`). Each step reads
 * exactly its own bytes and pushes the rest back (`socket.unshift`), so the
 * next step, and finally the TLS server, see the stream as if untouched.
 *
 * Time is bounded by the caller (the listener destroys the socket when the
 * handshake timeout passes), so nothing here waits on its own timer.
 */
import type { Socket } from 'node:net';
import { CountersignError } from '../errors.js';
import type { ListenerStarttls } from '../config/index.js';

/**
 * Reads from `socket` until `parse` returns a value (or throws). `parse` gets
 * everything read so far and returns null for "need more", or the value and the
 * number of bytes it consumed; the rest is pushed back. The socket is left paused.
 */
export function readPrefix<T>(socket: Socket, parse: (b: Buffer) => { value: T; consumed: number } | null, maxBytes: number): Promise<{ value: T; rest: number }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err: Error | null, r?: { value: T; consumed: number }) => {
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      socket.pause();
      const rest = r ? buf.subarray(r.consumed) : buf;
      if (rest.length > 0 && !socket.destroyed && !socket.readableEnded) socket.unshift(rest);
      if (err) reject(err); else resolve({ value: r!.value, rest: rest.length });
    };
    const onData = (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let r: { value: T; consumed: number } | null;
      try { r = parse(buf); } catch (err) { finish(err as Error); return; }
      if (r) finish(null, r);
      else if (buf.length >= maxBytes) finish(new CountersignError('ERR_EDGE_PREAMBLE', `${buf.length} bytes without a complete pre-TLS message`));
    };
    const onEnd = () => finish(new CountersignError('ERR_EDGE_PREAMBLE', `peer closed the connection after ${buf.length} bytes, before TLS`));
    const onError = (err: Error) => finish(new CountersignError('ERR_EDGE_PREAMBLE', `socket failed before TLS: ${err.message}`, { cause: err }));
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

/** The first `n` bytes, left in the stream. */
export async function peekBytes(socket: Socket, n: number): Promise<Buffer> {
  const r = await readPrefix(socket, (b) => (b.length >= n ? { value: Buffer.from(b.subarray(0, n)), consumed: 0 } : null), n + 1);
  return r.value;
}

const PG_SSL_REQUEST_CODE = 80877103;
const PG_GSSENC_REQUEST_CODE = 80877104;
const PG_CANCEL_REQUEST_CODE = 80877102;

export type PgRequest = 'ssl' | 'gssenc' | 'cancel' | 'startup';

/** Reads PostgreSQL's first message header (Int32 length, Int32 code). */
export function parsePgRequest(b: Buffer): { value: PgRequest; consumed: number } | null {
  if (b.length < 8) return null;
  const len = b.readUInt32BE(0);
  const code = b.readUInt32BE(4);
  if (len === 8 && code === PG_SSL_REQUEST_CODE) return { value: 'ssl', consumed: 8 };
  if (len === 8 && code === PG_GSSENC_REQUEST_CODE) return { value: 'gssenc', consumed: 8 };
  if (len === 16 && code === PG_CANCEL_REQUEST_CODE) return { value: 'cancel', consumed: 0 };
  if (len >= 8 && len <= 10_000 && code >> 16 === 3) return { value: 'startup', consumed: 0 };
  throw new CountersignError('ERR_EDGE_PREAMBLE', 'neither a TLS ClientHello nor a PostgreSQL SSLRequest');
}

/** A PostgreSQL ErrorResponse (FATAL, SQLSTATE 08P01) for a client that did not ask for SSL. */
export function pgErrorResponse(message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from('SFATAL\0'), Buffer.from('VFATAL\0'), Buffer.from('C08P01\0'), Buffer.from(`M${message}\0`), Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head[0] = 0x45; // 'E'
  head.writeUInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

/** what may come before TLS on a listener (`listeners[].starttls`; `edge.starttls` for `listen`) */
export type EdgeStarttls = ListenerStarttls;

/**
 * Answers PostgreSQL's pre-TLS requests: GSSENCRequest gets `N` (libpq then
 * sends SSLRequest), SSLRequest gets `S`. A socket whose first byte is a TLS
 * record (direct TLS, PG17 `sslnegotiation=direct`) is left alone. A plaintext
 * startup or cancel request is answered with an error and refused.
 */
export async function answerPostgresStarttls(socket: Socket): Promise<'starttls' | 'direct'> {
  for (let round = 0; round < 3; round++) {
    const first = await peekBytes(socket, 1);
    if (first[0] === 0x16) return round === 0 ? 'direct' : 'starttls';
    const { value, rest } = await readPrefix(socket, parsePgRequest, 9);
    if (value === 'ssl' || value === 'gssenc') {
      // like PostgreSQL (CVE-2021-23214): nothing may follow the request before the answer
      if (rest > 0) throw new CountersignError('ERR_EDGE_PREAMBLE', 'bytes arrived after the PostgreSQL SSLRequest before it was answered');
      if (value === 'gssenc') { socket.write('N'); continue; }
      socket.write('S');
      return 'starttls';
    }
    socket.end(pgErrorResponse('this server accepts only SSL connections with a client certificate (use sslmode=require or stronger)'));
    throw new CountersignError('ERR_EDGE_PREAMBLE', `PostgreSQL ${value} request without SSL refused`);
  }
  throw new CountersignError('ERR_EDGE_PREAMBLE', 'too many PostgreSQL pre-TLS requests');
}
