/**
 * PROXY protocol v1 and v2 (haproxy's proxy-protocol.txt): framing and strict
 * checks are ours; decoding and building use `proxy-protocol-js` (moznion,
 * TypeScript, no dependencies). The library's v1 regexp accepts any token as an
 * address, so every decoded field is checked again here.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { createRequire } from 'node:module';
import type * as ProxyProtocolJs from 'proxy-protocol-js';
import { CountersignError } from '../errors.js';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** the longest v1 line, CRLF included (spec §2.1) */
export const V1_MAX = 107;
/** v2 headers larger than this are refused (addresses plus TLVs; haproxy sends well under 1 KiB) */
export const V2_MAX = 16 + 4096;

export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL (v2) or UNKNOWN (v1): a health check by the balancer itself; keep the socket's address */
  local: boolean;
  source?: { address: string; port: number };
  destination?: { address: string; port: number };
  /** bytes the header occupied */
  length: number;
}

let library: typeof ProxyProtocolJs | undefined;
/**
 * proxy-protocol-js, required on first use rather than imported: only
 * listeners and upstreams with `proxyProtocol` set read or write a header, and
 * the library is ~0.5 MiB of a process's memory once loaded (a CommonJS
 * package: the same instance an import would give).
 */
function proxyProtocolJs(): typeof ProxyProtocolJs {
  return (library ??= createRequire(import.meta.url)('proxy-protocol-js') as typeof ProxyProtocolJs);
}

const bad = (detail: string) => new CountersignError('ERR_PROXY_PROTOCOL', `PROXY protocol header refused: ${detail}`);

/** Whether `b` (at least one byte) may be the start of a PROXY header. */
export function looksLikeProxyHeader(b: Buffer): boolean {
  const n = Math.min(b.length, 12);
  return b.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n)) || b.subarray(0, Math.min(b.length, 6)).equals(V1_PREFIX.subarray(0, Math.min(b.length, 6)));
}

/**
 * Parses a PROXY header at the start of `b`: null while incomplete, the header
 * once complete; throws ERR_PROXY_PROTOCOL for anything else.
 */
export function parseProxyHeader(b: Buffer): ProxyHeader | null {
  if (b.length === 0) return null;
  if (b[0] === 0x0d) return parseV2(b);
  if (b[0] === 0x50) return parseV1(b);
  throw bad(`first byte 0x${b[0].toString(16).padStart(2, '0')} starts neither a v1 nor a v2 header (is the balancer sending PROXY protocol?)`);
}

function parseV1(b: Buffer): ProxyHeader | null {
  const prefix = b.subarray(0, Math.min(b.length, V1_PREFIX.length));
  if (!prefix.equals(V1_PREFIX.subarray(0, prefix.length))) throw bad('not a v1 "PROXY " line');
  const end = b.indexOf('\r\n');
  if (end < 0) {
    if (b.length >= V1_MAX) throw bad(`v1 line longer than ${V1_MAX} bytes`);
    if (b.subarray(0, b.length).includes(0x0a)) throw bad('v1 line ends in LF without CR');
    return null;
  }
  if (end + 2 > V1_MAX) throw bad(`v1 line longer than ${V1_MAX} bytes`);
  const line = b.subarray(0, end).toString('latin1');
  if (!/^[\x20-\x7e]+$/.test(line)) throw bad('v1 line has non-printable bytes');
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { version: 1, local: true, length: end + 2 };
  if (parts.length !== 6) throw bad(`v1 line has ${parts.length} fields, expected 6`);
  const pp = proxyProtocolJs();
  let h: ProxyProtocolJs.V1ProxyProtocol;
  try {
    h = pp.V1ProxyProtocol.parse(`${line}\r\n`);
  } catch {
    throw bad('v1 line is not PROXY TCP4|TCP6 src dst sport dport');
  }
  const isIp = h.inetProtocol === pp.INETProtocol.TCP4 ? isIPv4 : isIPv6;
  for (const p of [h.source, h.destination]) {
    if (!isIp(p.ipAddress)) throw bad(`v1 address ${JSON.stringify(p.ipAddress)} is not ${h.inetProtocol === pp.INETProtocol.TCP4 ? 'IPv4' : 'IPv6'}`);
  }
  for (const s of [parts[4], parts[5]]) {
    if (!/^(0|[1-9][0-9]{0,4})$/.test(s) || Number(s) > 65535) throw bad(`v1 port ${JSON.stringify(s)} is not 0..65535`);
  }
  return {
    version: 1, local: false, length: end + 2,
    source: { address: h.source.ipAddress, port: h.source.port },
    destination: { address: h.destination.ipAddress, port: h.destination.port },
  };
}

function parseV2(b: Buffer): ProxyHeader | null {
  const n = Math.min(b.length, 12);
  if (!b.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) throw bad('not the v2 signature');
  if (b.length < 16) return null;
  const ver = b[12] >> 4;
  const cmd = b[12] & 0x0f;
  if (ver !== 2) throw bad(`v2 version nibble is ${ver}, not 2`);
  if (cmd > 1) throw bad(`v2 command ${cmd} is neither LOCAL (0) nor PROXY (1)`);
  const len = b.readUInt16BE(14);
  const total = 16 + len;
  if (total > V2_MAX) throw bad(`v2 header of ${total} bytes exceeds ${V2_MAX}`);
  if (b.length < total) return null;
  const fam = b[13] >> 4;
  const proto = b[13] & 0x0f;
  if (cmd === 0) return { version: 2, local: true, length: total };
  if (proto !== 1) throw bad(`v2 transport ${proto} is not STREAM (1)`);
  if (fam !== 1 && fam !== 2) throw bad(`v2 address family ${fam} is not INET (1) or INET6 (2)`);
  const need = fam === 1 ? 12 : 36;
  if (len < need) throw bad(`v2 length ${len} is shorter than the ${fam === 1 ? 'IPv4' : 'IPv6'} addresses (${need})`);
  const pp = proxyProtocolJs();
  let h: ProxyProtocolJs.V2ProxyProtocol;
  try {
    h = pp.V2ProxyProtocol.parse(new Uint8Array(b.subarray(0, total)));
  } catch (err) {
    throw bad(`v2: ${(err as { message?: string }).message ?? String(err)}`);
  }
  const a = h.proxyAddress as ProxyProtocolJs.IPv4ProxyAddress | ProxyProtocolJs.IPv6ProxyAddress;
  const text = (x: ProxyProtocolJs.IPv4Address | ProxyProtocolJs.IPv6Address) => fam === 1
    ? x.address.join('.')
    // the WHATWG URL parser prints IPv6 in its canonical (RFC 5952) form
    : new URL(`http://[${Array.from({ length: 8 }, (_, i) => ((x.address[2 * i] << 8) | x.address[2 * i + 1]).toString(16)).join(':')}]/`).hostname.slice(1, -1);
  return {
    version: 2, local: false, length: total,
    source: { address: text(a.sourceAddress), port: a.sourcePort },
    destination: { address: text(a.destinationAddress), port: a.destinationPort },
  };
}

export interface Endpoint { address: string; port: number }

/** A PROXY header telling a backend that `source` connected to `destination`. */
export function buildProxyHeader(version: 'v1' | 'v2', source: Endpoint | undefined, destination: Endpoint | undefined): Buffer {
  const pp = proxyProtocolJs();
  const src = source && unmap(source);
  const dst = destination && unmap(destination);
  const v6 = !!src && isIPv6(src.address);
  const same = !!src && !!dst && isIPv6(dst.address) === v6;
  if (version === 'v1') {
    if (!src || !dst || !same) return Buffer.from('PROXY UNKNOWN\r\n');
    return Buffer.from(new pp.V1ProxyProtocol(v6 ? pp.INETProtocol.TCP6 : pp.INETProtocol.TCP4, new pp.Peer(src.address, src.port), new pp.Peer(dst.address, dst.port)).build(), 'latin1');
  }
  if (!src || !dst || !same) {
    // LOCAL: the backend keeps the connection's own address
    return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  }
  const addr = v6
    ? new pp.IPv6ProxyAddress(pp.IPv6Address.createFrom(ipv6Bytes(src.address)), src.port, pp.IPv6Address.createFrom(ipv6Bytes(dst.address)), dst.port)
    : new pp.IPv4ProxyAddress(pp.IPv4Address.createFrom(src.address.split('.').map(Number)), src.port, pp.IPv4Address.createFrom(dst.address.split('.').map(Number)), dst.port);
  return Buffer.from(new pp.V2ProxyProtocol(pp.Command.PROXY, pp.TransportProtocol.STREAM, addr).build());
}

/** ::ffff:10.0.0.1 → 10.0.0.1 (what a dual-stack socket reports for IPv4 peers) */
export function unmap(e: Endpoint): Endpoint {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(e.address);
  return m ? { address: m[1], port: e.port } : e;
}

function ipv6Bytes(s: string): number[] {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.flatMap((g) => { const v = parseInt(g, 16); return [v >> 8, v & 0xff]; });
}
