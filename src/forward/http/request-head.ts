/**
 * The request head sent upstream, rewritten once whatever the client spoke:
 * the client's fields in their order and spelling, except hop-by-hop ones
 * (and those its Connection names), identity headers of any spelling, the
 * forwarding headers (X-Forwarded-*, Forwarded, X-Real-IP: ours, built from
 * the address seen) and Expect (the proxy answers 100-continue itself); then
 * TE: trailers when asked, the forwarding headers, and the route's identity
 * headers. An upgrade keeps its Upgrade (with Connection: upgrade). The target
 * and Host are the normalized ones admission routed on.
 */
import { isHopByHop, rawConnectionTokens } from '../hop-by-hop.js';
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

export function rewriteHead(req: ClientRequestHead, a: Admitted): UpstreamHead {
  const raw = req.raw;
  // Connection tokens first (they may come after the fields they name)
  const listed = rawConnectionTokens(raw);
  const strip = a.strip;
  const fwd = { peer: a.conn.remoteAddress, host: a.host, trusted: a.trusted };
  const client: ClientForwarding | undefined = trustsForwarding(fwd) ? {} : undefined;
  const fields: string[] = [];
  let trailers = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (lower === 'te') { if (/(?:^|,)\s*trailers\s*(?:;|,|$)/i.test(raw[i + 1])) trailers = true; continue; }
    if (isHopByHop(lower, listed) || strip.has(lower) || lower === 'expect') continue;
    if (isForwardingHeader(lower)) { if (client) collectForwarding(client, name, raw[i + 1]); continue; }
    fields.push(name, raw[i + 1]);
  }
  if (trailers) fields.push('te', 'trailers');
  if (req.upgrade !== undefined) fields.push('connection', 'upgrade', 'upgrade', req.upgrade);
  for (const [k, v] of forwardedHeaders(fwd, client)) fields.push(k, v);
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
