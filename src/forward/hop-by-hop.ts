/** RFC 9110 7.6.1: headers that describe one connection and are never forwarded. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  // HTTP/2 forbids these too; the upstream connection sets its own
  'host', 'http2-settings',
]);

/** Names listed in a Connection header are hop-by-hop as well. */
export function connectionTokens(value: string | string[] | undefined): string[] {
  if (!value) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/** The Connection tokens of a raw header list (name, value, name, value, …), lower-cased; empty when none. */
export function rawConnectionTokens(raw: readonly string[]): readonly string[] {
  let listed: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 10 && n.toLowerCase() === 'connection') {
      for (const t of raw[i + 1].split(',')) { const v = t.trim().toLowerCase(); if (v) (listed ??= []).push(v); }
    }
  }
  return listed ?? NO_TOKENS;
}

/** No Connection tokens: one shared empty list, not one per header checked. */
export const NO_TOKENS: readonly string[] = [];

/** A TE field's value says the client takes trailers (RFC 9110 10.1.4). */
export function teAcceptsTrailers(value: string): boolean {
  return /(?:^|,)\s*trailers\s*(?:;|,|$)/i.test(value);
}

export function isHopByHop(name: string, listed: readonly string[]): boolean {
  return HOP_BY_HOP.has(name) || name.charCodeAt(0) === 58 /* ':' pseudo-header */ || (listed.length > 0 && listed.includes(name));
}
