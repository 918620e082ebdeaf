/**
 * Reads a TLS ClientHello off a raw socket without consuming it: the bytes are
 * pushed back (`socket.unshift`) so the socket can still be handed to a
 * `tls.Server` (`server.emit('connection', socket)`) or to a `tls.TLSSocket`,
 * which both pick up already-buffered bytes. The edge needs the SNI and ALPN
 * list *before* OpenSSL sees the handshake so that tls-alpn-01 challenges can be
 * answered on the main listener with a certificate that is not in the store.
 *
 * Only what the edge needs is decoded (server_name, ALPN, and what picks between
 * an RSA and an ECDSA certificate: cipher suites, signature_algorithms,
 * supported_versions); everything else is
 * skipped by its length prefix. The parser is strict about lengths so garbage
 * fails fast with ERR_CLIENT_HELLO_MALFORMED instead of waiting for the timeout.
 */
import type { Socket } from 'node:net';
import { CountersignError } from '../errors.js';

/** Default cap on the bytes read while looking for a complete ClientHello. */
export const DEFAULT_CLIENT_HELLO_MAX_BYTES = 32 * 1024;
/** Default time a peer has to send a complete ClientHello. */
export const DEFAULT_CLIENT_HELLO_TIMEOUT_MS = 10_000;

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
const EXT_SIGNATURE_ALGORITHMS = 0x000d;
const EXT_SUPPORTED_VERSIONS = 0x002b;
// TLSPlaintext.length MUST NOT exceed 2^14 (RFC 8446 §5.1)
const MAX_RECORD_PAYLOAD = 16_384;

export interface ClientHello {
  /** host_name from the server_name extension, lowercased; undefined when absent */
  serverName: string | undefined;
  /** ALPN protocol names in the client's order; empty when the extension is absent */
  alpnProtocols: string[];
  /** legacy_version of the ClientHello body, e.g. 0x0303 */
  legacyVersion: number;
  /** cipher suite code points in the client's order */
  cipherSuites: number[];
  /** signature_algorithms code points in the client's order; empty when the extension is absent */
  signatureAlgorithms: number[];
  /** supported_versions in the client's order; empty when absent (a TLS 1.2-only client) */
  supportedVersions: number[];
  /** number of bytes the ClientHello occupied on the wire (records included) */
  length: number;
}

/**
 * Parses a ClientHello from the start of `bytes`. Returns `null` when the bytes
 * so far are a valid prefix but incomplete; throws ERR_CLIENT_HELLO_MALFORMED
 * when they cannot be the start of a ClientHello.
 */
export function parseClientHello(bytes: Uint8Array): ClientHello | null {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Reassemble the handshake message from as many records as it spans.
  const fragments: Buffer[] = [];
  let fragmentBytes = 0;
  let offset = 0;
  let messageLength = -1;
  for (;;) {
    if (buf.length < offset + 1) return null;
    if (buf[offset] !== CONTENT_HANDSHAKE) {
      throw malformed(offset === 0
        ? `first byte is 0x${hex(buf[0])}, not a TLS handshake record (0x16); is the client speaking plain text or another protocol to a TLS port?`
        : `record at byte ${offset} has content type 0x${hex(buf[offset])} before the ClientHello was complete`);
    }
    if (buf.length >= offset + 2 && buf[offset + 1] !== 0x03) {
      throw malformed(`record version major byte is 0x${hex(buf[offset + 1])}, not 0x03`);
    }
    if (buf.length < offset + RECORD_HEADER) return null;
    const recordLength = buf.readUInt16BE(offset + 3);
    if (recordLength === 0 || recordLength > MAX_RECORD_PAYLOAD) {
      throw malformed(`record length ${recordLength} is outside 1..${MAX_RECORD_PAYLOAD}`);
    }
    const available = Math.min(recordLength, buf.length - offset - RECORD_HEADER);
    fragments.push(buf.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + available));
    fragmentBytes += available;
    if (messageLength < 0 && fragmentBytes >= 4) {
      const head = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) throw malformed(`handshake message type is ${head[0]}, not ClientHello (1)`);
      messageLength = head.readUIntBE(1, 3);
      if (messageLength < 38) throw malformed(`ClientHello length ${messageLength} is too short to hold version and random`);
    }
    if (messageLength >= 0 && fragmentBytes >= messageLength + 4) {
      const message = Buffer.concat(fragments).subarray(4, 4 + messageLength);
      // A record may carry bytes after the ClientHello only if they are further handshake
      // data, which a client never sends before the server's flight; the wire length stops at this record.
      return { ...parseBody(message), length: offset + RECORD_HEADER + recordLength };
    }
    if (available < recordLength) return null;
    offset += RECORD_HEADER + recordLength;
  }
}

function parseBody(m: Buffer): Omit<ClientHello, 'length'> {
  const r = new Reader(m, 'ClientHello');
  const legacyVersion = r.u16();
  r.skip(32); // random
  r.skip(r.u8()); // legacy_session_id
  const suites = r.u16();
  if (suites === 0 || suites % 2 !== 0) throw malformed(`cipher_suites length ${suites} is not a positive even number`);
  const cipherSuites = u16List(r.sub(suites, 'cipher_suites'));
  r.skip(r.u8()); // legacy_compression_methods
  let serverName: string | undefined;
  let alpnProtocols: string[] = [];
  let signatureAlgorithms: number[] = [];
  let supportedVersions: number[] = [];
  const result = () => ({ serverName, alpnProtocols, legacyVersion, cipherSuites, signatureAlgorithms, supportedVersions });
  if (r.remaining() === 0) return result(); // no extensions (old clients)
  const ext = r.sub(r.u16(), 'extensions');
  if (r.remaining() !== 0) throw malformed(`${r.remaining()} trailing bytes after the extensions`);
  const seen = new Set<number>();
  while (ext.remaining() > 0) {
    const type = ext.u16();
    const body = ext.sub(ext.u16(), `extension ${type}`);
    if (seen.has(type)) throw malformed(`extension ${type} appears twice`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) serverName = parseServerName(body);
    else if (type === EXT_ALPN) alpnProtocols = parseAlpn(body);
    else if (type === EXT_SIGNATURE_ALGORITHMS) signatureAlgorithms = u16List(body.sub(body.u16(), 'signature_algorithms'));
    else if (type === EXT_SUPPORTED_VERSIONS) supportedVersions = parseSupportedVersions(body);
  }
  return result();
}

function u16List(r: Reader): number[] {
  if (r.remaining() % 2 !== 0) throw malformed('a list of 16-bit code points has an odd length');
  const out: number[] = [];
  while (r.remaining() > 0) out.push(r.u16());
  return out;
}

function parseSupportedVersions(body: Reader): number[] {
  const n = body.u8();
  if (n === 0 || n % 2 !== 0) throw malformed(`supported_versions length ${n} is not a positive even number`);
  return u16List(body.sub(n, 'supported_versions'));
}

function parseServerName(body: Reader): string | undefined {
  const list = body.sub(body.u16(), 'server_name list');
  let name: string | undefined;
  while (list.remaining() > 0) {
    const nameType = list.u8();
    const value = list.bytes(list.u16());
    if (nameType !== 0 || name !== undefined) continue; // RFC 6066: one host_name; other types are ignored
    if (value.length === 0 || !/^[\x21-\x7e]+$/.test(value.toString('latin1'))) {
      throw malformed('server_name host_name is empty or has bytes outside printable ASCII');
    }
    name = value.toString('latin1').toLowerCase().replace(/\.$/, '');
  }
  return name;
}

function parseAlpn(body: Reader): string[] {
  const list = body.sub(body.u16(), 'ALPN list');
  const out: string[] = [];
  while (list.remaining() > 0) {
    const len = list.u8();
    if (len === 0) throw malformed('ALPN protocol name of length 0');
    out.push(list.bytes(len).toString('latin1'));
  }
  return out;
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer, private readonly what: string) {}
  remaining(): number { return this.buf.length - this.pos; }
  private need(n: number): void {
    if (this.remaining() < n) throw malformed(`${this.what} is truncated: needs ${n} more bytes at offset ${this.pos}, has ${this.remaining()}`);
  }
  u8(): number { this.need(1); return this.buf[this.pos++]; }
  u16(): number { this.need(2); const v = this.buf.readUInt16BE(this.pos); this.pos += 2; return v; }
  skip(n: number): void { this.need(n); this.pos += n; }
  bytes(n: number): Buffer { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  sub(n: number, what: string): Reader { return new Reader(this.bytes(n), what); }
}

const hex = (n: number | undefined): string => (n ?? 0).toString(16).padStart(2, '0');
const malformed = (detail: string): CountersignError =>
  new CountersignError('ERR_CLIENT_HELLO_MALFORMED', `not a TLS ClientHello: ${detail}`);

export interface ReadClientHelloOptions {
  /** give up after this many ms without a complete ClientHello; default 10 000 */
  timeoutMs?: number;
  /** give up when this many bytes arrived without a complete ClientHello; default 32 KiB */
  maxBytes?: number;
}

/**
 * Waits for the ClientHello on `socket` and returns what it says. Every byte read
 * is pushed back with `socket.unshift`, and the socket is left paused, whether the
 * promise resolves or rejects; on rejection the caller should destroy the socket.
 * Rejects with ERR_CLIENT_HELLO_MALFORMED, _TOO_LARGE, _TIMEOUT or _TRUNCATED.
 */
export function readClientHello(socket: Socket, opts: ReadClientHelloOptions = {}): Promise<ClientHello> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CLIENT_HELLO_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_CLIENT_HELLO_MAX_BYTES;
  return new Promise<ClientHello>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (err: Error | null, hello?: ClientHello): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      socket.pause();
      // after 'end' a stream refuses unshift; the caller destroys such a socket anyway
      if (received > 0 && !socket.destroyed && !socket.readableEnded) socket.unshift(Buffer.concat(chunks, received));
      if (err) reject(err); else resolve(hello!);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      let hello: ClientHello | null;
      try {
        hello = parseClientHello(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received));
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (hello ? hello.length > maxBytes : received >= maxBytes) {
        finish(new CountersignError('ERR_CLIENT_HELLO_TOO_LARGE', `ClientHello ${hello ? `of ${hello.length} bytes` : `still incomplete after ${received} bytes`} exceeds the cap of ${maxBytes}; raise maxBytes if clients send very large hellos`));
      } else if (hello) finish(null, hello);
    };
    const onEnd = (): void => finish(new CountersignError('ERR_CLIENT_HELLO_TRUNCATED', `peer closed the connection after ${received} bytes, before a complete ClientHello`));
    const onError = (err: Error): void => finish(new CountersignError('ERR_CLIENT_HELLO_TRUNCATED', `socket failed after ${received} bytes, before a complete ClientHello: ${err.message}`, { cause: err }));
    const timer = setTimeout(() => finish(new CountersignError('ERR_CLIENT_HELLO_TIMEOUT', `no complete ClientHello within ${timeoutMs} ms (${received} bytes received)`)), timeoutMs);
    timer.unref?.();
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}
