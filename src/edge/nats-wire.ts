/**
 * What a NATS server says before TLS (the NATS client protocol, server 2.9):
 * one `INFO {json}\r\n` line, then — when it has TLS — it expects the client's
 * TLS handshake at once (`tls_required`). `handshake_first` (TLS before INFO)
 * is a 2.10 option; 2.9 has only this order. countersign relays the INFO line
 * unchanged when it already says `tls_required: true` (its `nonce`, for nkey
 * and JWT auth, included), and otherwise sets that one field.
 */
import { CountersignError } from '../errors.js';

/** an INFO line longer than this is not one (nats-server's are well under 4 KiB; max_control_line is 4 KiB) */
export const MAX_INFO_LINE = 64 * 1024;
/** a client's plaintext line read to answer it with -ERR */
export const MAX_CLIENT_LINE = 4096;

/** The first line of `b`, CRLF included (for readPrefix); null while incomplete. */
export function readLine(max: number) {
  return (b: Buffer): { value: Buffer; consumed: number } | null => {
    const nl = b.indexOf(0x0a);
    if (nl < 0) {
      if (b.length > max) throw new CountersignError('ERR_EDGE_PREAMBLE', `${b.length} bytes without a line end (is this NATS?)`);
      return null;
    }
    return { value: Buffer.from(b.subarray(0, nl + 1)), consumed: nl + 1 };
  };
}

export interface NatsInfo {
  line: Buffer;
  info: Record<string, unknown>;
}

/** The server's INFO line; throws ERR_UPSTREAM_STARTTLS for anything else (an -ERR line says why). */
export function parseInfo(line: Buffer, what: string): NatsInfo {
  const text = line.toString('utf8').trimEnd();
  const m = /^INFO\s+(\{.*\})$/is.exec(text);
  if (!m) {
    const said = text.startsWith('-ERR') ? `it said ${text.slice(0, 200)}` : `its first line is not INFO ("${text.slice(0, 60)}"; is it NATS?)`;
    throw new CountersignError('ERR_UPSTREAM_STARTTLS', `${what}: ${said}`);
  }
  let info: unknown;
  try { info = JSON.parse(m[1]); } catch { throw new CountersignError('ERR_UPSTREAM_STARTTLS', `${what}: its INFO is not JSON`); }
  if (!info || typeof info !== 'object' || Array.isArray(info)) throw new CountersignError('ERR_UPSTREAM_STARTTLS', `${what}: its INFO is not a JSON object`);
  return { line, info: info as Record<string, unknown> };
}

/** The server takes TLS right after INFO (`tls_required`), or on request (`tls_available`, with allow_non_tls). */
export const offersTls = (i: NatsInfo): boolean => i.info.tls_required === true || i.info.tls_available === true;

/** The INFO line as the client must see it: `tls_required: true`; the line itself when it says so already. */
export function infoWithTlsRequired(i: NatsInfo): Buffer {
  if (i.info.tls_required === true) return i.line;
  return Buffer.from(`INFO ${JSON.stringify({ ...i.info, tls_required: true })}\r\n`);
}

/** A protocol error line, as nats-server writes them. */
export function natsErr(message: string): Buffer {
  return Buffer.from(`-ERR '${message.replace(/'/g, '')}'\r\n`);
}
