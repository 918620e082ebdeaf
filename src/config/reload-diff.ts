/**
 * What a reload changes between the running config and a new one, and which
 * of the changes need a restart. `routes`, `upstreams`, `listeners`, `edge.deny`, `edge.allow` and
 * `timeouts.shutdownGrace` are applied by a reload (`listeners`: the ones added
 * are opened before anything swaps, the ones removed stop accepting after) (a new generation of the
 * proxy); so are the edge certificates and client trust (`edge.certificates`,
 * `edge.clientAuth`, `edge.minVersion`, `edge.ciphers`,
 * `edge.reloadPollInterval`: a new certificate store), except with
 * `edge.acme`, whose manager lives as long as the process. Every other key is
 * held by something that lives as long as the process — the listening socket
 * (`listen`, and the edge's PROXY, starttls and session-ticket settings), the
 * worker processes, the admin listener, the log, the delegation minter, the
 * http server limits — so a change to it is refused, naming the key, and
 * nothing changes. (nginx re-binds on a `listen` change; we chose the plain
 * rule: restart for those, as HAProxy needs for most of its global section.)
 */
import type { Config } from './schema.js';

/** Keys (and everything under them) that a reload applies. */
export const RELOADABLE_KEYS = ['routes', 'upstreams', 'listeners', 'edge.deny', 'edge.allow', 'timeouts.shutdownGrace', 'http.trustedProxies'] as const;
/** Keys under a reloadable one that still need a restart: the revocation fetchers live as long as the process. */
export const RESTART_KEYS = ['edge.clientAuth.revocation.fetch', 'edge.clientAuth.revocation.refreshInterval', 'edge.clientAuth.revocation.timeout', 'edge.clientAuth.revocation.ocsp'] as const;
/** Keys a reload applies by building a new certificate store (not with edge.acme). */
export const CERTIFICATE_STORE_KEYS = ['edge.certificates', 'edge.clientAuth', 'edge.minVersion', 'edge.ciphers', 'edge.reloadPollInterval'] as const;

export interface ConfigChanges {
  /** changed keys that need a restart, e.g. `listen`, `edge.certificates` */
  restartRequired: string[];
  routes: { added: string[]; removed: string[] };
  upstreams: { added: string[]; removed: string[]; changed: string[] };
  /** servers by `upstream/host:port` */
  servers: { added: string[]; removed: string[] };
  deny: { added: string[]; removed: string[] };
  /** listeners by `name (host:port)` */
  listeners: { added: string[]; removed: string[] };
  /** other reloadable keys that changed (timeouts.shutdownGrace, edge.certificates, …) */
  other: string[];
  /** a new certificate store is needed (a CERTIFICATE_STORE_KEYS key changed) */
  certificateStore: boolean;
  /** true when nothing at all differs */
  none: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The keys whose values differ (an array or a scalar is compared whole). */
export function changedKeys(a: unknown, b: unknown, at = ''): string[] {
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedKeys(a[k], b[k], at ? `${at}.${k}` : k));
  }
  return same(a, b) ? [] : [at || '(top level)'];
}

/** How a route is named in a log line: its match and upstream. */
export function describeRoute(r: Config['routes'][number]): string {
  const m = r.match ?? {};
  const match = [m.listener && `listener ${m.listener}`, m.sni && `sni ${m.sni}`, m.host && `host ${m.host}`, m.pathPrefix && `path ${m.pathPrefix}`].filter(Boolean).join(' ');
  return `${match || 'default'} → ${r.upstream} (${r.mode})`;
}

const listenerKeys = (c: Config) => c.listeners.map((l) => `${l.name} (${l.listen}${l.starttls ? `, starttls ${l.starttls}` : ''})`);
const minus = <T>(a: T[], b: T[]) => a.filter((x) => !b.includes(x));

export function configChanges(current: Config, next: Config): ConfigChanges {
  const changed = changedKeys(current, next);
  const under = (keys: readonly string[]) => (k: string) => keys.some((r) => k === r || k.startsWith(`${r}.`));
  const storeKey = under(CERTIFICATE_STORE_KEYS);
  const acme = Boolean(current.edge.acme || next.edge.acme);
  const reloadable = (k: string) => !under(RESTART_KEYS)(k) && (under(RELOADABLE_KEYS)(k) || (!acme && storeKey(k)));
  const restartRequired = changed.filter((k) => !reloadable(k));
  const routeKeys = (c: Config) => c.routes.map((r) => JSON.stringify(r));
  const oldRoutes = routeKeys(current);
  const newRoutes = routeKeys(next);
  const oldNames = Object.keys(current.upstreams);
  const newNames = Object.keys(next.upstreams);
  const servers = (c: Config) => Object.entries(c.upstreams).flatMap(([n, u]) => u.servers.map((s) => `${n}/${s}`));
  return {
    restartRequired,
    routes: {
      added: next.routes.filter((_, i) => !oldRoutes.includes(newRoutes[i])).map(describeRoute),
      removed: current.routes.filter((_, i) => !newRoutes.includes(oldRoutes[i])).map(describeRoute),
    },
    upstreams: {
      added: minus(newNames, oldNames),
      removed: minus(oldNames, newNames),
      changed: newNames.filter((n) => oldNames.includes(n) && !same(current.upstreams[n], next.upstreams[n])),
    },
    servers: { added: minus(servers(next), servers(current)), removed: minus(servers(current), servers(next)) },
    deny: { added: minus(next.edge.deny, current.edge.deny), removed: minus(current.edge.deny, next.edge.deny) },
    listeners: { added: minus(listenerKeys(next), listenerKeys(current)), removed: minus(listenerKeys(current), listenerKeys(next)) },
    other: changed.filter((k) => reloadable(k) && !/^(routes|upstreams|listeners|edge\.deny)(\.|$)/.test(k)),
    certificateStore: !acme && changed.some(storeKey),
    none: changed.length === 0,
  };
}

/** One line for the log: what the reload changed. */
export function summarizeChanges(c: ConfigChanges): string {
  const parts: string[] = [];
  const list = (what: string, xs: string[]) => { if (xs.length) parts.push(`${what} ${xs.join(', ')}`); };
  list('routes added:', c.routes.added);
  list('routes removed:', c.routes.removed);
  list('upstreams added:', c.upstreams.added);
  list('upstreams removed:', c.upstreams.removed);
  list('upstreams changed:', c.upstreams.changed);
  list('servers added:', c.servers.added);
  list('servers removed:', c.servers.removed);
  list('listeners added:', c.listeners.added);
  list('listeners removed:', c.listeners.removed);
  if (c.deny.added.length) parts.push(`deny entries added: ${c.deny.added.length}`);
  if (c.deny.removed.length) parts.push(`deny entries removed: ${c.deny.removed.length}`);
  list('changed:', c.other);
  return parts.join('; ') || 'config unchanged';
}
