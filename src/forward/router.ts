/**
 * Route selection: by SNI for a connection, then by Host and path prefix for
 * each request in http mode. A route with no match is the default.
 */
import type { RouteConfig } from '../config/index.js';

export interface ConnectionRoutes {
  /** the route that decides the connection's mode */
  primary: RouteConfig;
  /** http routes that can serve requests on this connection */
  http: RouteConfig[];
}

export function nameMatches(pattern: string, name: string | undefined): boolean {
  if (!name) return false;
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p.startsWith('*.')) {
    const dot = n.indexOf('.');
    return dot > 0 && n.slice(dot) === p.slice(1);
  }
  return p === n;
}

/**
 * Whether a request target (query included) is under `prefix` at a segment
 * boundary: the prefix itself, or the prefix followed by `/` or `?` (a prefix
 * ending in `/` ends at a boundary already). So `/v1/status` serves
 * `/v1/status`, `/v1/status/x` and `/v1/status?x`, never `/v1/statusfoo`: a
 * route's `allow` covers exactly the API it names (Envoy's
 * `path_separated_prefix`; nginx's `location /v1/status` is a plain string
 * prefix and would admit `/v1/statusfoo`).
 */
export function pathUnderPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length || prefix.endsWith('/')) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 47 /* / */ || next === 63 /* ? */;
}

function hostOnly(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i > 0 ? host.slice(0, i) : host;
}

/** Names whose routes are remembered; SNI is client-chosen, so the memo is bounded. */
const MAX_REMEMBERED_NAMES = 1024;

export class Router {
  private readonly sniRoutes: RouteConfig[];
  private readonly generic: RouteConfig[];
  /** the answer for a name no route matches by SNI: computed once */
  private readonly defaultRoutes: ConnectionRoutes | undefined;
  private readonly byName = new Map<string, ConnectionRoutes | undefined>();

  constructor(routes: RouteConfig[]) {
    this.sniRoutes = routes.filter((r) => r.match?.sni);
    this.generic = routes.filter((r) => !r.match?.sni);
    this.defaultRoutes = this.build([]);
  }

  private build(specific: RouteConfig[]): ConnectionRoutes | undefined {
    const candidates = [...specific, ...this.generic];
    if (candidates.length === 0) return undefined;
    return { primary: candidates[0], http: candidates.filter((r) => r.mode === 'http') };
  }

  /** Routes for a connection by its SNI. Asked at ALPN time and again after the handshake, so answers are remembered. */
  forConnection(sni: string | undefined): ConnectionRoutes | undefined {
    if (!sni || this.sniRoutes.length === 0) return this.defaultRoutes;
    const key = sni.toLowerCase();
    if (this.byName.has(key)) return this.byName.get(key);
    const specific = this.sniRoutes.filter((r) => nameMatches(r.match!.sni!, key));
    const routes = specific.length ? this.build(specific) : this.defaultRoutes;
    if (this.byName.size < MAX_REMEMBERED_NAMES) this.byName.set(key, routes);
    return routes;
  }

  forRequest(conn: ConnectionRoutes, host: string | undefined, path: string): RouteConfig | undefined {
    let best: RouteConfig | undefined;
    let bestScore = -1;
    const h = host ? hostOnly(host) : undefined;
    for (const r of conn.http) {
      if (r.match?.host && !nameMatches(r.match.host, h)) continue;
      if (r.match?.pathPrefix && !pathUnderPrefix(path, r.match.pathPrefix)) continue;
      const score = (r.match?.host ? 100_000 : 0) + (r.match?.pathPrefix?.length ?? 0);
      if (score > bestScore) { best = r; bestScore = score; }
    }
    return best;
  }
}

/**
 * Whether a request target is in normal form: origin-form, no `.`/`..` segments,
 * no encoded `/`, `\\` or `.`, none encoded twice (`%252e`, `%252f`: a backend
 * that decodes once more would see a dot segment), no encoded NUL. Anything else is refused before routing, so a
 * pathPrefix route is a boundary a client cannot step around (nginx normalizes
 * instead; refusing is simpler and no honest client sends such paths).
 */
export function isNormalizedPath(target: string): boolean {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  if (path.charCodeAt(0) !== 47 /* / */) return target === '*';
  if (/%2f|%5c|%2e|%00/i.test(path) || /%25(?:25)*(?:2e|2f|5c|00)/i.test(path) || path.includes('\\') || path.includes('\0')) return false;
  for (const seg of path.split('/')) if (seg === '.' || seg === '..') return false;
  return true;
}
