/**
 * The request head sent upstream, rewritten once whatever the client spoke:
 * the client's fields in their order and spelling, except hop-by-hop ones
 * (and those its Connection names), identity headers of any spelling, the
 * forwarding headers (X-Forwarded-*, Forwarded, X-Real-IP: ours, built from
 * the address seen) and Expect (the proxy answers 100-continue itself); then
 * TE: trailers when asked, the forwarding headers, and the route's identity
 * headers. An upgrade keeps its Upgrade (with Connection: upgrade). The target
 * and Host are the normalized ones admission routed on. The request's
 * trailers are filtered the same way (rewriteTrailers).
 */
import { isHopByHop, NO_TOKENS, rawConnectionTokens, teAcceptsTrailers } from '../hop-by-hop.js';
import { collectForwarding, forwardedHeaders, isForwardingHeader, trustsForwarding, type ClientForwarding } from '../forwarded-headers.js';
import type { Admitted } from './admission.js';
import type { UpstreamHead } from './upstream-request.js';

export interface ClientRequestHead {
  method: string;
  /** header fields as received: name, value, … (HTTP/2 pseudo-headers are skipped) */
  raw: readonly string[];
  body: UpstreamHead['body'];
  /** the protocol an HTTP/1.1 client asks to switch to (its Upgrade), when it does */
  upgrade?: string;
}

/** The forwarding fields (name, value, …) built from the address seen, kept per connection and Host: they are the same for each of its requests. */
function ownForwarding(a: Admitted, fwd: { peer: string; host: string | undefined }): string[] {
  const memo = a.conn.forwarding;
  if (memo && memo.host === fwd.host) return memo.fields;
  const fields = forwardedFields(fwd);
  a.conn.forwarding = { host: fwd.host, fields };
  return fields;
}

function forwardedFields(fwd: Parameters<typeof forwardedHeaders>[0], client?: ClientForwarding): string[] {
  const out: string[] = [];
  for (const [k, v] of forwardedHeaders(fwd, client)) out.push(k, v);
  return out;
}

/** what happens to a request field: kept, dropped (hop-by-hop, identity, Expect), a forwarding header (ours), TE */
const KEEP = 0, DROP = 1, FORWARDING = 2, TE = 3;
type FieldClass = typeof KEEP | typeof DROP | typeof FORWARDING | typeof TE;
/** the class of each field name as sent (any spelling), per set of identity names (per routing); bounded: names are the client's */
const classMemo = new WeakMap<ReadonlySet<string>, Map<string, FieldClass>>();
const MAX_MEMO = 512;

function classOf(name: string, strip: ReadonlySet<string>): FieldClass {
  let memo = classMemo.get(strip);
  if (!memo) { memo = new Map(); classMemo.set(strip, memo); }
  let c = memo.get(name);
  if (c !== undefined) return c;
  const lower = name.toLowerCase();
  c = lower === 'te' ? TE : isHopByHop(lower, NO_TOKENS) || strip.has(lower) || lower === 'expect' ? DROP : isForwardingHeader(lower) ? FORWARDING : KEEP;
  if (memo.size < MAX_MEMO) memo.set(name, c);
  return c;
}

/**
 * The Connection tokens that could name a kept field: a token that is
 * hop-by-hop itself (`keep-alive`, `upgrade`, …) names a field dropped anyway.
 * Most clients that send Connection send only such tokens (HTTP/1.0
 * keep-alive), so the per-field check is skipped for them.
 */
export function namingKeptFields(tokens: readonly string[]): readonly string[] {
  for (const t of tokens) if (!isHopByHop(t, NO_TOKENS)) return tokens.filter((x) => !isHopByHop(x, NO_TOKENS));
  return NO_TOKENS;
}

export function rewriteHead(req: ClientRequestHead, a: Admitted): UpstreamHead {
  const raw = req.raw;
  // Connection tokens first (they may come after the fields they name); only those naming a field that would be kept matter
  const listed = namingKeptFields(rawConnectionTokens(raw));
  const strip = a.strip;
  const fwd = { peer: a.conn.remoteAddress, host: a.host, trusted: a.trusted };
  const client: ClientForwarding | undefined = trustsForwarding(fwd) ? {} : undefined;
  const fields: string[] = [];
  let trailers = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const c = classOf(name, strip);
    if (c === KEEP) {
      // a name the client's Connection header lists is hop-by-hop too
      if (listed.length && listed.includes(name.toLowerCase())) continue;
      fields.push(name, raw[i + 1]);
    } else if (c === TE) {
      if (teAcceptsTrailers(raw[i + 1])) trailers = true;
    } else if (c === FORWARDING && client) {
      // (as any field: one the Connection header lists is hop-by-hop, not the trusted proxy's)
      if (listed.length && listed.includes(name.toLowerCase())) continue;
      collectForwarding(client, name, raw[i + 1]);
    }
  }
  if (trailers) fields.push('te', 'trailers');
  if (req.upgrade !== undefined) fields.push('connection', 'upgrade', 'upgrade', req.upgrade);
  for (const f of client ? forwardedFields(fwd, client) : ownForwarding(a, fwd)) fields.push(f);
  const identity = a.binding.headers;
  if (identity) {
    for (const k in identity) {
      const v = identity[k];
      // one field per value (the front-proxy format's X-Remote-Group is one header per group)
      if (typeof v === 'string') fields.push(k, v);
      else for (const one of v) fields.push(k, one);
    }
  }
  return { method: req.method, target: a.target, host: a.host, fields, body: req.body, upgrade: req.upgrade !== undefined, trailers };
}

/**
 * The client's request trailers (name, value, …) as they go upstream, over
 * HTTP/1.1 or HTTP/2 alike: what the head would drop is dropped here too
 * (hop-by-hop fields and those the head's Connection names, identity
 * headers of any spelling, the forwarding headers, TE, Expect), and so is
 * what may never come after the body (Content-Length: RFC 9110 §6.5.1).
 * A trailer is never how a client gets a name past the proxy.
 */
export function rewriteTrailers(trailers: readonly string[], headRaw: readonly string[], a: Admitted): string[] {
  const listed = namingKeptFields(rawConnectionTokens(headRaw));
  const out: string[] = [];
  for (let i = 0; i < trailers.length; i += 2) {
    const name = trailers[i];
    if (classOf(name, a.strip) !== KEEP) continue;
    const lower = name.toLowerCase();
    if (lower === 'content-length' || (listed.length && listed.includes(lower))) continue;
    out.push(lower, trailers[i + 1]);
  }
  return out;
}
