/**
 * The request target and Host of an http-mode request, put in one normal form
 * before anything is decided on them, so that what a route matches is what the
 * backend acts on (issue 23: `/v1/key/%64elete/k1` routed as "not delete" and
 * run by a Go backend as delete; `Host: admin.example.com.` routed as "not
 * admin").
 *
 * The path is normalized as RFC 3986 §6.2.2 says: percent-encoded unreserved
 * characters are decoded (`%64` → `d`, `%2E` → `.`), the other escapes are
 * upper-cased (`%3b` → `%3B`). What backends read in different ways is refused
 * rather than guessed: dot segments (`.`, `..`, encoded or not), empty segments
 * (`//`), `;` path parameters (`..;/` reaches the parent on Tomcat and Jetty),
 * encoded `/`, `\` and NUL, escapes of escapes (`%252e`: a backend that decodes
 * twice would see a dot), a raw `\`, `#`, and bytes outside visible ASCII.
 *
 * Routes match on the decoded path (what a decoding backend sees: route
 * prefixes are written that way), and the normalized target is what is
 * forwarded, whose decoding is exactly that path.
 */

export type TargetVerdict =
  /** `target`: what is forwarded (normalized path + the query as sent); `path`: the decoded path routes match on */
  | { ok: true; target: string; path: string }
  | { ok: false; reason: string };

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" */
function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

const refuse = (reason: string): TargetVerdict => ({ ok: false, reason });

/**
 * The normal form of a request target, or why it is refused (answered 400).
 * Only origin-form is forwarded: absolute-form and authority-form are for
 * forward proxies, and asterisk-form (`OPTIONS *`) asks about this proxy, not
 * a backend (nginx refuses it too).
 */
export function normalizeTarget(target: string): TargetVerdict {
  if (target === '*') return refuse('asterisk-form (OPTIONS *) is not forwarded');
  if (target.charCodeAt(0) !== 47 /* / */) return refuse('request target is not a path (origin-form)');
  const q = target.indexOf('?');
  const raw = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  // fast path: nothing to decode or check beyond the characters themselves
  let out = '';
  let changed = false;
  let escapes = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 /* % */) {
      const h = hexValue(raw.charCodeAt(i + 1));
      const l = hexValue(raw.charCodeAt(i + 2));
      if (h < 0 || l < 0) return refuse('malformed percent-encoding in the path');
      const b = h * 16 + l;
      if (b === 0x2f || b === 0x5c) return refuse('encoded / or \\ in the path');
      if (b === 0) return refuse('encoded NUL in the path');
      if (isUnreserved(b)) { out += String.fromCharCode(b); changed = true; } else {
        const upper = `%${HEX[h]}${HEX[l]}`;
        if (upper !== raw.slice(i, i + 3)) changed = true;
        out += upper;
        escapes = true;
      }
      i += 2;
      continue;
    }
    if (c <= 0x20 || c >= 0x7f) return refuse('a byte outside visible ASCII in the path');
    if (c === 92 /* \ */) return refuse('\\ in the path');
    if (c === 35 /* # */) return refuse('# in the request target');
    if (c === 59 /* ; */) return refuse('; path parameters are not forwarded');
    out += raw[i];
  }
  const path = changed ? out : raw;
  // an escaped % before two hex digits (checked on the result: /%25%61a becomes /%25aa): a backend that decodes twice would decode again
  if (escapes && /%25[0-9A-Fa-f]{2}/.test(path)) return refuse('percent-encoding encoded twice in the path');
  // segments: no empty one inside (//), no dot segment (a trailing / is fine: /v1/key/)
  let start = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== 47) continue;
    const len = i - start;
    if (len === 0 && i < path.length) return refuse('empty path segment (//)');
    if ((len === 1 && path.charCodeAt(start) === 46) || (len === 2 && path.charCodeAt(start) === 46 && path.charCodeAt(start + 1) === 46)) {
      return refuse('dot segment (. or ..) in the path');
    }
    start = i + 1;
  }
  let decoded = path;
  if (escapes) {
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return refuse('percent-encoded bytes in the path are not UTF-8');
    }
  }
  return { ok: true, target: changed ? path + query : target, path: decoded };
}

/**
 * A Host (or `:authority`) in canonical form: lower case, no trailing dot on
 * the name, no port when it is 443 (the listener speaks only TLS, so 443 is
 * the default). Undefined when it is not a host name, IPv4 or bracketed IPv6
 * address with an optional port (the request is refused with 400).
 */
export function canonicalHost(host: string): string | undefined {
  let name: string;
  let port = '';
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    if (end < 0) return undefined;
    name = host.slice(0, end + 1).toLowerCase();
    if (!/^\[[0-9a-f:.]+\]$/.test(name)) return undefined;
    const rest = host.slice(end + 1);
    if (rest) { if (rest.charCodeAt(0) !== 58) return undefined; port = rest.slice(1); if (!port) return undefined; }
  } else {
    const colon = host.lastIndexOf(':');
    name = (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
    if (colon !== -1) { port = host.slice(colon + 1); if (!port) return undefined; }
    if (name.endsWith('.')) name = name.slice(0, -1);
    // letters, digits, - and _ in dot-separated labels, none empty
    if (!/^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/.test(name)) return undefined;
  }
  if (port) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return undefined;
    if (Number(port) === 443) port = '';
    else port = String(Number(port));
  }
  return port ? `${name}:${port}` : name;
}

/** The name part of a canonical host (no port), which routes and SNI are compared with. */
export function hostName(canonical: string): string {
  if (canonical.charCodeAt(0) === 91) return canonical.slice(0, canonical.indexOf(']') + 1);
  const i = canonical.lastIndexOf(':');
  return i === -1 ? canonical : canonical.slice(0, i);
}

/** RFC 9110 §9.2.2: methods whose effect is the same whether sent once or twice. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

export type HostVerdict = { ok: true; host: string | undefined } | { ok: false; reason: string };

/**
 * The request's host from its header fields (`raw`: name, value, …) and, in
 * HTTP/2, its `:authority`: one Host at most (RFC 9112 §3.2), the same
 * authority in both when both are sent (RFC 9113 §8.3.1), in canonical form.
 */
export function requestHost(raw: readonly string[], authority?: string): HostVerdict {
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length !== 4 || n.toLowerCase() !== 'host') continue;
    if (host !== undefined) return { ok: false, reason: 'more than one Host header' };
    host = raw[i + 1];
  }
  if (authority !== undefined) {
    const a = canonicalHost(authority);
    if (a === undefined) return { ok: false, reason: 'the :authority is not a host name or address' };
    if (host !== undefined && canonicalHost(host) !== a) return { ok: false, reason: 'Host and :authority differ' };
    return { ok: true, host: a };
  }
  if (host === undefined) return { ok: true, host: undefined };
  const h = canonicalHost(host);
  return h === undefined ? { ok: false, reason: 'the Host header is not a host name or address' } : { ok: true, host: h };
}
