/**
 * The headers that tell a backend where a request came from — X-Forwarded-For,
 * Forwarded (RFC 7239), X-Real-IP and the X-Forwarded-* family — built from
 * the address this proxy saw (or the one a trusted PROXY-protocol balancer
 * gave), never from what a client wrote. A client's own copies are dropped
 * (issue 23: a client-sent `X-Forwarded-For: 6.6.6.6` reached a backend that
 * records the first address as the client's), unless the connection comes
 * from one of `http.trustedProxies`: then the chain it sent is kept and our
 * peer appended, and the client address is the last one in the chain that is
 * not a trusted proxy (nginx's `real_ip_recursive on`, Envoy's
 * `xff_num_trusted_hops`).
 */
import { isIP } from 'node:net';
import { normalizeHeaderName } from './identity-headers.js';

/** Other client-address headers some backend or CDN reads; a client's copy is a lie as well. */
const CLIENT_ADDRESS_HEADERS = new Set(['forwarded', 'x-real-ip', 'true-client-ip', 'x-client-ip', 'x-cluster-client-ip', 'cf-connecting-ip', 'fastly-client-ip']);

/**
 * Whether a request header (any case, `_` for `-`, as CGI-style backends read
 * it) is one of the forwarding headers this proxy sets or drops. The identity
 * header X-Forwarded-Client-Cert is matched too (it is stripped as an
 * identity header anyway).
 */
export function isForwardingHeader(name: string): boolean {
  const n = normalizeHeaderName(name);
  return n.startsWith('x-forwarded-') || CLIENT_ADDRESS_HEADERS.has(n);
}

/** What a request said about its forwarding, collected while its headers are copied (only used from trusted proxies). */
export interface ClientForwarding {
  xff?: string;
  forwarded?: string;
  /** X-Forwarded-Proto / -Host and the rest of the family as a trusted proxy sent them, lower-case names */
  passed?: [string, string][];
}

/** Collects one forwarding header of the client's (call with those isForwardingHeader matched). */
export function collectForwarding(into: ClientForwarding, name: string, value: string): void {
  const n = normalizeHeaderName(name);
  if (n === 'x-forwarded-for') into.xff = into.xff === undefined ? value : `${into.xff}, ${value}`;
  else if (n === 'forwarded') into.forwarded = into.forwarded === undefined ? value : `${into.forwarded}, ${value}`;
  else if (n !== 'x-real-ip' && n !== 'x-forwarded-client-cert' && !name.includes('_')) (into.passed ??= []).push([n, value]);
}

export interface ForwardedOptions {
  /** the address this proxy saw: the TCP peer, or the client of a trusted PROXY-protocol balancer */
  peer: string;
  /** the request's canonical Host, if it had one */
  host: string | undefined;
  /** `http.trustedProxies`: peers whose forwarding headers are believed */
  trusted?: (address: string) => boolean;
}

/** Whether `peer`'s own forwarding headers are believed (collect them then). */
export function trustsForwarding(o: ForwardedOptions): boolean {
  return o.trusted !== undefined && o.trusted(o.peer);
}

/**
 * The forwarding headers sent upstream, lower-case names in order:
 * x-forwarded-for, x-real-ip, forwarded, x-forwarded-proto, x-forwarded-host
 * (and, from a trusted proxy, the other x-forwarded-* it sent).
 */
export function forwardedHeaders(o: ForwardedOptions, client?: ClientForwarding): [string, string][] {
  const trusted = client !== undefined && trustsForwarding(o);
  const chain = trusted && client.xff ? `${client.xff}, ${o.peer}` : o.peer;
  const clientAddress = trusted ? realClient(chain, o.trusted!) : o.peer;
  const element = `for=${forwardedNode(o.peer)}${o.host ? `;host="${o.host}"` : ''};proto=https`;
  const out: [string, string][] = [
    ['x-forwarded-for', chain],
    ['x-real-ip', clientAddress],
    ['forwarded', trusted && client.forwarded ? `${client.forwarded}, ${element}` : element],
  ];
  const passed = trusted ? client.passed : undefined;
  const has = (n: string) => passed?.some(([k]) => k === n) ?? false;
  if (!has('x-forwarded-proto')) out.push(['x-forwarded-proto', 'https']);
  if (o.host && !has('x-forwarded-host')) out.push(['x-forwarded-host', o.host]);
  if (passed) out.push(...passed);
  return out;
}

/** The last address of an X-Forwarded-For chain that is not a trusted proxy (the first one when all are). */
function realClient(chain: string, trusted: (a: string) => boolean): string {
  const hops = chain.split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const a = stripPort(hops[i]);
    if (isIP(a) === 0 || !trusted(a)) return a;
  }
  return stripPort(hops[0]);
}

function stripPort(a: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (m) return m[1];
  return /^\d+\.\d+\.\d+\.\d+:\d+$/.test(a) ? a.slice(0, a.lastIndexOf(':')) : a;
}

/** RFC 7239 §6: an IPv6 node is quoted and bracketed. */
function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}
