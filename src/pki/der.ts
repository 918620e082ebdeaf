/**
 * A minimal strict DER reader and writer. The minter builds certificates from
 * byte templates on the hot path, and the decoders must slice fields out of
 * certificates byte-exact (a subject is copied verbatim, never re-encoded), which
 * general ASN.1 libraries do not give cheaply.
 */
import { CountersignError } from '../errors.js';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const;

/** One tag-length-value element, with offsets into the buffer it was read from. */
export interface Tlv {
  tag: number;
  /** offset of the tag byte */
  start: number;
  /** offset of the first content byte */
  contentStart: number;
  /** offset just past the element */
  end: number;
}

function fail(message: string): never {
  throw new CountersignError('ERR_DER_INVALID', message);
}

/** Reads one element at `offset`; rejects indefinite and non-minimal lengths and high tag numbers. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) fail(`truncated element at offset ${offset}`);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) fail(`multi-byte tag at offset ${offset} is not supported`);
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) fail(`indefinite length at offset ${offset} is not DER`);
    if (n > 4) fail(`length of ${n} bytes at offset ${offset} is too large`);
    if (p + n > limit) fail(`truncated length at offset ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    if (buf[p] === 0 || len < 0x80) fail(`non-minimal length at offset ${offset}`);
    p += n;
  }
  const end = p + len;
  if (end > limit) fail(`element at offset ${offset} runs past its container`);
  return { tag, start: offset, contentStart: p, end };
}

/** The children of a constructed element. */
export function readChildren(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Reads the single top-level element of `buf` and insists nothing trails it. */
export function readRoot(buf: Uint8Array, expectTag?: number): Tlv {
  const t = readTlv(buf, 0);
  if (t.end !== buf.length) fail(`${buf.length - t.end} trailing bytes after the DER element`);
  if (expectTag !== undefined && t.tag !== expectTag) fail(`expected tag 0x${expectTag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

export function expectTag(t: Tlv, tag: number, what: string): Tlv {
  if (t.tag !== tag) fail(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

export function content(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.contentStart, t.end - t.contentStart);
}

export function raw(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.start, t.end - t.start);
}

// ---- writer ----

function headerLength(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6;
}

/** Encoded size of an element with `contentLength` content bytes: for writers that size a buffer first. */
export function tlvLength(contentLength: number): number {
  return headerLength(contentLength) + contentLength;
}

/** Writes a tag and length at `offset`; returns the offset of the content. */
export function writeHeader(out: Uint8Array, offset: number, tag: number, contentLength: number): number {
  const h = headerLength(contentLength);
  out[offset] = tag;
  if (h === 2) out[offset + 1] = contentLength;
  else {
    out[offset + 1] = 0x80 | (h - 2);
    for (let i = offset + h - 1, v = contentLength; i >= offset + 2; i--, v >>>= 8) out[i] = v & 0xff;
  }
  return offset + h;
}

/** One element from its tag and content parts, written into a single allocation. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(tlvLength(len));
  let p = writeHeader(out, 0, tag, len);
  for (const part of parts) { out.set(part, p); p += part.length; }
  return out;
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, ...parts);
export const octets = (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, b);
export const bool = (v: boolean): Buffer => Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0]);
export const nullValue = (): Buffer => Buffer.from([TAG.NULL, 0]);
export const explicit = (n: number, ...parts: Uint8Array[]): Buffer => tlv(0xa0 | n, ...parts);
export const implicitPrimitive = (n: number, body: Uint8Array): Buffer => tlv(0x80 | n, body);

/** INTEGER from unsigned big-endian magnitude bytes (minimal, positive). */
export function uint(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = Buffer.from(bytes.subarray(i));
  return b[0] & 0x80 ? tlv(TAG.INTEGER, Buffer.from([0]), b) : tlv(TAG.INTEGER, b);
}

export function smallInt(n: number): Buffer {
  if (n < 0 || n > 0x7fffffff || !Number.isInteger(n)) throw new RangeError(`smallInt out of range: ${n}`);
  const bytes: number[] = [];
  let v = n;
  do { bytes.unshift(v & 0xff); v = Math.floor(v / 256); } while (v > 0);
  if (bytes[0] & 0x80) bytes.unshift(0);
  return tlv(TAG.INTEGER, Buffer.from(bytes));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map((s) => BigInt(s));
  if (parts.length < 2) throw new RangeError(`bad OID ${dotted}`);
  const out: number[] = [];
  const enc = (v: bigint) => {
    const stack: number[] = [Number(v & 0x7fn)];
    v >>= 7n;
    while (v > 0n) { stack.unshift(Number(v & 0x7fn) | 0x80); v >>= 7n; }
    out.push(...stack);
  };
  enc(parts[0] * 40n + parts[1]);
  for (const p of parts.slice(2)) enc(p);
  return tlv(TAG.OID, Buffer.from(out));
}

export function decodeOid(body: Uint8Array): string {
  if (body.length === 0) fail('empty OID');
  const arcs: bigint[] = [];
  let v = 0n;
  for (let i = 0; i < body.length; i++) {
    if (v === 0n && body[i] === 0x80) fail('non-minimal OID arc');
    v = (v << 7n) | BigInt(body[i] & 0x7f);
    if (!(body[i] & 0x80)) { arcs.push(v); v = 0n; } else if (i === body.length - 1) fail('truncated OID');
  }
  const first = arcs[0];
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** X.509 Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
export function x509Time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  return timeElement(d, !(y >= 1950 && y < 2050));
}

export function generalizedTime(d: Date): Buffer {
  return timeElement(d, true);
}

// Digits are written straight into the element: every mint encodes three times,
// and toISOString plus a regex cost more than the rest of the TBS header.
function timeElement(d: Date, generalized: boolean): Buffer {
  const y = d.getUTCFullYear();
  // NaN (an invalid Date) fails this too
  if (!(y >= 0 && y <= 9999)) throw new RangeError(`cannot encode the year ${y} as an X.509 time`);
  const out = Buffer.allocUnsafe(generalized ? 17 : 15);
  out[0] = generalized ? TAG.GENERALIZED_TIME : TAG.UTC_TIME;
  out[1] = out.length - 2;
  let p = 2;
  const two = (v: number) => { out[p++] = 0x30 + ((v / 10) | 0); out[p++] = 0x30 + (v % 10); };
  if (generalized) two((y / 100) | 0);
  two(y % 100);
  two(d.getUTCMonth() + 1);
  two(d.getUTCDate());
  two(d.getUTCHours());
  two(d.getUTCMinutes());
  two(d.getUTCSeconds());
  out[p] = 0x5a; // Z
  return out;
}

export function decodeTime(tag: number, body: Uint8Array): Date {
  const s = Buffer.from(body).toString('ascii');
  let m: RegExpMatchArray | null;
  if (tag === TAG.GENERALIZED_TIME) m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  else if (tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (m) m[1] = String(Number(m[1]) < 50 ? 2000 + Number(m[1]) : 1900 + Number(m[1]));
  } else fail(`expected a time, found tag 0x${tag.toString(16)}`);
  if (!m) fail(`malformed time "${s}"`);
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear takes the year as written
  const d = new Date(Date.UTC(2000, +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  d.setUTCFullYear(+m[1]);
  // Date rolls month 13 or hour 25 over silently; a time that does not read back as written is invalid
  if (Number.isNaN(d.getTime()) || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3] || d.getUTCHours() !== +m[4]
    || d.getUTCMinutes() !== +m[5] || d.getUTCSeconds() !== +m[6]) fail(`invalid time "${s}"`);
  return d;
}

/** BIT STRING with `unused` trailing bits in the last byte. */
export function bitString(bytes: Uint8Array, unused = 0): Buffer {
  return tlv(TAG.BIT_STRING, Buffer.from([unused]), bytes);
}
