/**
 * The listeners of a config — `listen` (named `main`, with `edge.starttls`)
 * and each of `listeners` — and which routes serve each: a listener that some
 * route names in `match.listener` is served only by the routes naming it;
 * every other listener by the routes that name none (nginx's servers per
 * `listen`). The router and `check` both read this rule from here.
 */
import { MAIN_LISTENER, SERVER_FIRST_STARTTLS, type Config, type ListenerStarttls, type RouteConfig } from './schema.js';
import { parseHostPort } from './host-port.js';

export interface ListenerSpec {
  name: string;
  /** host:port */
  listen: string;
  /** what comes before TLS; undefined: TLS first */
  starttls?: ListenerStarttls;
}

/** `main` first, then `listeners` in their order. */
export function listenersOf(c: Pick<Config, 'listen' | 'listeners' | 'edge'>): ListenerSpec[] {
  const main: ListenerSpec = { name: MAIN_LISTENER, listen: c.listen, ...(c.edge.starttls?.includes('postgres') ? { starttls: 'postgres' as const } : {}) };
  return [main, ...c.listeners.map((l) => ({ name: l.name, listen: l.listen, ...(l.starttls ? { starttls: l.starttls } : {}) }))];
}

/** Whether the server speaks first on this listener (MySQL, NATS): its one route is known before the client says anything. */
export const isServerFirst = (starttls: string | undefined): boolean => starttls !== undefined && SERVER_FIRST_STARTTLS.includes(starttls);

/** The routes that serve connections on listener `name` (in config order). */
export function routesServing<R extends Pick<RouteConfig, 'match'>>(routes: readonly R[], name: string): R[] {
  const own = routes.filter((r) => r.match?.listener === name);
  return own.length ? own : routes.filter((r) => r.match?.listener === undefined);
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Two addresses that cannot both be bound: the same port, and the same host or a wildcard (port 0 never clashes). */
function clash(a: string, b: string): boolean {
  const x = parseHostPort(a);
  const y = parseHostPort(b);
  if (!x || !y || x.port === 0 || x.port !== y.port) return false;
  const h = (s: string) => s.toLowerCase();
  if (h(x.host) === h(y.host)) return true;
  if (x.host === '::' || y.host === '::') return true; // dual-stack: takes IPv4 too
  const v4 = (s: string) => !s.includes(':');
  if (x.host === '0.0.0.0') return v4(y.host);
  if (y.host === '0.0.0.0') return v4(x.host);
  return WILDCARDS.has(x.host) || WILDCARDS.has(y.host);
}

/** Problems of the listeners and the routes that name them, each prefixed with the path of its key. */
export function listenerProblems(config: Config): string[] {
  const problems: string[] = [];
  const specs = listenersOf(config);
  const at = (name: string) => (name === MAIN_LISTENER ? 'listen' : `listeners[${config.listeners.findIndex((l) => l.name === name)}]`);
  const names = new Set<string>();
  config.listeners.forEach((l, i) => {
    if (names.has(l.name)) problems.push(`listeners[${i}].name: "${l.name}" is the name of another listener; names must be unique`);
    names.add(l.name);
  });
  // addresses: every listener, the admin listener and ACME's http-01 listener
  const bound = [
    ...specs.map((s) => ({ key: at(s.name) === 'listen' ? 'listen' : `${at(s.name)}.listen`, address: s.listen })),
    ...(config.admin && parseHostPort(config.admin.listen) ? [{ key: 'admin.listen', address: config.admin.listen }] : []),
    ...(config.edge.acme?.httpListen ? [{ key: 'edge.acme.httpListen', address: config.edge.acme.httpListen }] : []),
  ];
  for (let i = 0; i < bound.length; i++) {
    for (let j = 0; j < i; j++) {
      // listen vs admin.listen has its own check (load-config.ts)
      if (bound[j].key === 'listen' && bound[i].key === 'admin.listen') continue;
      if (clash(bound[i].address, bound[j].address)) problems.push(`${bound[i].key}: ${bound[i].address} is the address of ${bound[j].key} (${bound[j].address}); two listeners cannot share one address`);
    }
  }
  const known = new Set(specs.map((s) => s.name));
  config.routes.forEach((r, i) => {
    const l = r.match?.listener;
    if (l !== undefined && !known.has(l)) problems.push(`routes[${i}].match.listener: no listener named "${l}" (known: ${[...known].join(', ')})`);
  });
  // one default route (no sni, host or pathPrefix) per group: the routes naming one listener, and those naming none
  const groups = new Map<string, RouteConfig[]>();
  for (const r of config.routes) groups.set(r.match?.listener ?? '', [...(groups.get(r.match?.listener ?? '') ?? []), r]);
  for (const [group, routes] of groups) {
    const defaults = routes.filter((r) => r.match?.sni === undefined && r.match?.host === undefined && r.match?.pathPrefix === undefined);
    if (defaults.length > 1) problems.push(group ? `routes: more than one route for listener "${group}" has no other match; only one default route per listener is allowed` : 'routes: more than one route has no match; only one default route is allowed');
  }
  // routes naming no listener serve the listeners no route names: when there are none, such a route serves nothing
  const unnamed = specs.filter((s) => !config.routes.some((r) => r.match?.listener === s.name));
  if (unnamed.length === 0) {
    config.routes.forEach((r, i) => {
      if (r.match?.listener === undefined) problems.push(`routes[${i}]: serves no listener (every listener is named by other routes' match.listener); add match.listener or remove the route`);
    });
  }
  // a server-first listener has exactly one route, of its protocol
  for (const s of specs) {
    const serving = routesServing(config.routes, s.name);
    if (!isServerFirst(s.starttls)) continue;
    const key = at(s.name);
    if (serving.length !== 1) {
      problems.push(`${key}: starttls ${s.starttls} needs exactly one route (the server speaks first, so the upstream is chosen before the client says anything); ${serving.length} routes serve it (give it one route with match.listener: ${s.name})`);
      continue;
    }
    const r = serving[0];
    const ri = config.routes.indexOf(r);
    if (r.mode !== 'connection') problems.push(`routes[${ri}].mode: listener "${s.name}" (starttls ${s.starttls}) carries ${s.starttls} connections; use mode: connection`);
    if (r.match?.sni) problems.push(`routes[${ri}].match.sni: listener "${s.name}" (starttls ${s.starttls}) picks its route before the client's TLS handshake, so a server name cannot choose it; remove sni`);
    const u = config.upstreams[r.upstream];
    if (u && u.starttls !== s.starttls) problems.push(`upstreams.${r.upstream}.starttls: listener "${s.name}" relays the ${s.starttls} server's greeting, so its upstream needs starttls: ${s.starttls} (it has ${u.starttls ?? 'none'})`);
  }
  // a server-first upstream is reached only from a listener of its protocol (its greeting must go to a client that speaks it)
  config.routes.forEach((r, i) => {
    const u = config.upstreams[r.upstream];
    if (!u || !isServerFirst(u.starttls)) return;
    const on = specs.filter((s) => routesServing(config.routes, s.name).includes(r));
    const wrong = on.filter((s) => s.starttls !== u.starttls);
    if (on.length === 0 || wrong.length) {
      problems.push(`routes[${i}]: upstream ${r.upstream} (starttls ${u.starttls}) speaks first; route to it only from a listener with starttls: ${u.starttls} (match.listener)${wrong.length ? `, not from ${wrong.map((s) => s.name).join(', ')}` : ''}`);
    }
  });
  for (const [name, u] of Object.entries(config.upstreams)) {
    if (isServerFirst(u.starttls) && u.health?.type === 'http') problems.push(`upstreams.${name}.health.type: http checks need an HTTP server; ${u.starttls} speaks its own protocol (use type: tls)`);
  }
  return problems;
}
