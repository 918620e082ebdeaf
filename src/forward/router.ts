/**
 * Route selection: by the listener a connection came in on and its SNI, then
 * by Host and path prefix for each request in http mode. Which routes serve a
 * listener is config/listeners.ts's rule (those naming it in
 * `match.listener`, else those naming none); among them a route with no sni
 * is the default.
 */
import { MAIN_LISTENER, routesServing, type RouteConfig } from '../config/index.js';

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
 * Whether a request's path (decoded, no query: what routes match on) is under
 * `prefix` at a segment boundary: the prefix itself, or the prefix followed by
 * `/` (a prefix ending in `/` ends at a boundary already). So `/v1/status`
 * serves `/v1/status` and `/v1/status/x`, never `/v1/statusfoo`: a route's
 * `allow` covers exactly the API it names (Envoy's `path_separated_prefix`;
 * nginx's `location /v1/status` is a plain string prefix and would admit
 * `/v1/statusfoo`).
 */
export function pathUnderPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith('/') || path.charCodeAt(prefix.length) === 47 /* / */;
}

function hostOnly(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i > 0 ? host.slice(0, i) : host;
}

/** Names whose routes are remembered; SNI is client-chosen, so the memo is bounded. */
const MAX_REMEMBERED_NAMES = 1024;

export class Router {
  /** the routes of each listener some route names */
  private readonly byListener = new Map<string, SniRoutes>();
  /** the routes naming no listener: every other listener's */
  private readonly unnamed: SniRoutes;
  /** the listeners of the config; a connection on another (one a reload removed) has no route */
  private readonly listeners?: ReadonlySet<string>;

  /** `listeners`: the names of the config's listeners (default: any name is served) */
  constructor(routes: RouteConfig[], listeners?: readonly string[]) {
    this.listeners = listeners && new Set(listeners);
    for (const name of new Set(routes.flatMap((r) => (r.match?.listener ? [r.match.listener] : [])))) {
      this.byListener.set(name, new SniRoutes(routesServing(routes, name)));
    }
    this.unnamed = new SniRoutes(routes.filter((r) => r.match?.listener === undefined));
  }

  /** Routes for a connection by its listener and SNI. Asked at ALPN time and again after the handshake, so answers are remembered. */
  forConnection(sni: string | undefined, listener: string = MAIN_LISTENER): ConnectionRoutes | undefined {
    if (this.listeners && !this.listeners.has(listener)) return undefined;
    return (this.byListener.get(listener) ?? this.unnamed).forConnection(sni);
  }

  /**
   * Whether a request naming `host` (a canonical name, no port) belongs on
   * another connection of listener `listener`: the host is a name of its routes
   * bound by `match.sni` that a connection made with `sni` does not reach.
   * Answered 421 Misdirected Request (as nginx and Envoy do), so no Host
   * reaches, over a connection made for another name, a route that is bound to its SNI.
   */
  misdirected(sni: string | undefined, host: string | undefined, listener: string = MAIN_LISTENER): boolean {
    return (this.byListener.get(listener) ?? this.unnamed).misdirected(sni, host);
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

/** The routes of one listener, by SNI. */
class SniRoutes {
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

  misdirected(sni: string | undefined, host: string | undefined): boolean {
    if (!host || this.sniRoutes.length === 0) return false;
    const byHost = this.sniRoutes.filter((r) => nameMatches(r.match!.sni!, host));
    if (byHost.length === 0) return false;
    const bySni = sni ? this.sniRoutes.filter((r) => nameMatches(r.match!.sni!, sni)) : [];
    return byHost.length !== bySni.length || byHost.some((r, i) => r !== bySni[i]);
  }

  forConnection(sni: string | undefined): ConnectionRoutes | undefined {
    if (!sni || this.sniRoutes.length === 0) return this.defaultRoutes;
    const key = sni.toLowerCase();
    if (this.byName.has(key)) return this.byName.get(key);
    const specific = this.sniRoutes.filter((r) => nameMatches(r.match!.sni!, key));
    const routes = specific.length ? this.build(specific) : this.defaultRoutes;
    if (this.byName.size < MAX_REMEMBERED_NAMES) this.byName.set(key, routes);
    return routes;
  }
}
