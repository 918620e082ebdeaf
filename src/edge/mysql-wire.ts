/**
 * The few MySQL/MariaDB protocol messages countersign reads and writes before
 * TLS (MySQL's client/server protocol, "Connection Phase"): the server's
 * Initial Handshake packet (protocol 10), the client's SSLRequest, and ERR
 * packets. A packet is a 3-byte little-endian payload length, a sequence
 * number, then the payload. The greeting carries the server's capability
 * flags and its auth nonce (the scramble); countersign relays it with only
 * CLIENT_SSL set, so a client's password or plugin auth still answers the
 * server's own nonce.
 */
import { CountersignError } from '../errors.js';

/** capability flags (the lower 16 bits are in the greeting's first capability field) */
export const CLIENT_LONG_PASSWORD = 0x0000_0001;
export const CLIENT_PROTOCOL_41 = 0x0000_0200;
export const CLIENT_SSL = 0x0000_0800;
export const CLIENT_SECURE_CONNECTION = 0x0000_8000;
export const CLIENT_PLUGIN_AUTH = 0x0008_0000;

/** a first packet larger than this is not a greeting or SSLRequest of anyone honest */
export const MAX_PREAMBLE_PAYLOAD = 16 * 1024;
/** payload length of an SSLRequest (protocol 4.1): capabilities, max packet size, charset, 23 filler bytes */
export const SSL_REQUEST_LENGTH = 32;

export interface MysqlPacket {
  seq: number;
  payload: Buffer;
  /** the whole packet as received (header and payload) */
  bytes: Buffer;
}

/** One packet from the front of `b` (for readPrefix): null while incomplete; throws on one too large to be a preamble. */
export function readPacket(b: Buffer): { value: MysqlPacket; consumed: number } | null {
  if (b.length < 4) return null;
  const length = b.readUIntLE(0, 3);
  if (length > MAX_PREAMBLE_PAYLOAD) throw new CountersignError('ERR_EDGE_PREAMBLE', `a MySQL packet of ${length} bytes where a greeting or SSLRequest belongs (is this MySQL?)`);
  if (b.length < 4 + length) return null;
  const bytes = Buffer.from(b.subarray(0, 4 + length));
  return { value: { seq: b[3], payload: bytes.subarray(4), bytes }, consumed: 4 + length };
}

export function packet(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq & 0xff;
  return Buffer.concat([head, payload]);
}

export interface MysqlError { code: number; sqlState?: string; message: string }

/** An ERR packet's payload (0xFF, code, optional `#` SQLSTATE, message). */
export function parseErr(payload: Buffer): MysqlError {
  const code = payload.length >= 3 ? payload.readUInt16LE(1) : 0;
  if (payload[3] === 0x23 /* # */ && payload.length >= 9) return { code, sqlState: payload.toString('latin1', 4, 9), message: payload.toString('utf8', 9) };
  return { code, message: payload.toString('utf8', 3) };
}

/** An ERR packet (protocol 4.1 form, with SQLSTATE) with sequence number `seq`. */
export function errPacket(seq: number, e: { code: number; sqlState: string; message: string }): Buffer {
  const head = Buffer.alloc(3);
  head[0] = 0xff;
  head.writeUInt16LE(e.code, 1);
  return packet(seq, Buffer.concat([head, Buffer.from(`#${e.sqlState.padEnd(5, '0').slice(0, 5)}`, 'latin1'), Buffer.from(e.message, 'utf8')]));
}

export interface MysqlGreeting {
  packet: MysqlPacket;
  serverVersion: string;
  /** the capability flags, upper 16 bits included when the greeting has them */
  capabilities: number;
  /** the server's default character set (0 when the greeting stops early) */
  charset: number;
  /** offset of the lower capability flags in the payload */
  capabilitiesAt: number;
}

/**
 * The server's first packet: a protocol-10 Initial Handshake, or an ERR
 * packet (too many connections, host blocked, …) returned as `error`.
 * Throws ERR_UPSTREAM_STARTTLS on anything else.
 */
export function parseGreeting(p: MysqlPacket, what: string): MysqlGreeting | { error: MysqlError } {
  const b = p.payload;
  if (b[0] === 0xff) return { error: parseErr(b) };
  if (b[0] !== 0x0a) throw new CountersignError('ERR_UPSTREAM_STARTTLS', `${what}: its first packet is not a MySQL handshake (protocol version byte ${b[0]}; is it MySQL or MariaDB?)`);
  const end = b.indexOf(0, 1);
  // version NUL, connection id (4), scramble part 1 (8), filler (1), capability flags (2)
  if (end < 0 || b.length < end + 1 + 4 + 8 + 1 + 2) throw new CountersignError('ERR_UPSTREAM_STARTTLS', `${what}: a truncated MySQL handshake packet`);
  const capabilitiesAt = end + 1 + 4 + 8 + 1;
  let capabilities = b.readUInt16LE(capabilitiesAt);
  let charset = 0;
  // charset (1), status (2), upper capability flags (2)
  if (b.length >= capabilitiesAt + 2 + 1 + 2 + 2) {
    charset = b[capabilitiesAt + 2];
    capabilities = (capabilities | (b.readUInt16LE(capabilitiesAt + 5) << 16)) >>> 0;
  }
  return { packet: p, serverVersion: b.toString('latin1', 1, end), capabilities, charset, capabilitiesAt };
}

/** The greeting's bytes with CLIENT_SSL set, everything else (the nonce included) unchanged. */
export function greetingWithSsl(greeting: MysqlGreeting): Buffer {
  const bytes = Buffer.from(greeting.packet.bytes);
  const at = 4 + greeting.capabilitiesAt;
  bytes.writeUInt16LE(bytes.readUInt16LE(at) | CLIENT_SSL, at);
  return bytes;
}

/** Whether a client's first packet is an SSLRequest (protocol 4.1: 32 bytes, CLIENT_SSL set). */
export function isSslRequest(p: MysqlPacket): boolean {
  return p.payload.length === SSL_REQUEST_LENGTH && (p.payload.readUInt32LE(0) & (CLIENT_SSL | CLIENT_PROTOCOL_41)) === (CLIENT_SSL | CLIENT_PROTOCOL_41);
}

/**
 * An SSLRequest of countersign's own (health checks, `check --connect`): what
 * a 4.1 client that will authenticate by plugin would send, within the
 * server's capabilities.
 */
export function sslRequestFor(greeting: MysqlGreeting): Buffer {
  const wanted = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
  const payload = Buffer.alloc(SSL_REQUEST_LENGTH);
  payload.writeUInt32LE((wanted & greeting.capabilities) >>> 0, 0);
  payload.writeUInt32LE(16 * 1024 * 1024, 4);
  payload[8] = greeting.charset || 33; // utf8_general_ci
  return packet(greeting.packet.seq + 1, payload);
}
