/**
 * The checks every request passes before anything of it goes upstream,
 * whatever the client speaks and whether it upgrades: the connection was not
 * refused, the target and Host are put in their one normal form
 * (request-target.ts), a Host that belongs to another connection's SNI gets
 * 421, a route serves it, the route accepts this client (anonymous, `allow`),
 * and its upstream identity can be bound. What is decided on here is what is
 * forwarded.
 */
import type { RouteConfig } from '../../config/index.js';
import type { ClientConnection, UpstreamBinding } from '../client-connection.js';
import type { Router } from '../router.js';
import type { BindUpstream } from '../client-connection.js';
import { identityHeaderNames } from '../identity-headers.js';
import { hostName, normalizeTarget, requestHost } from '../request-target.js';

/** What routes a request and binds it to its upstream: the proxy's current generation. */
export interface RequestRouting {
  router: Router;
  bind: BindUpstream;
  /** identity header names of the routes (custom headerName values), stripped from what clients send */
  extraIdentityHeaders: readonly string[];
  /** the access rule (`routes[i].allow`, `edge.allow`) that refuses this client on this route, if one does */
  refusedBy?: (route: RouteConfig, conn: ClientConnection) => string | undefined;
  /** `http.trustedProxies`: peers whose X-Forwarded-For and Forwarded are believed */
  trustedProxies?: (address: string) => boolean;
  /** `upstreams.<name>.http2` and what each server is known to speak, for the protocol a request goes upstream with */
  upstreamHttp2?: (upstream: string) => 'auto' | 'on' | 'off';
}

/** What admit() reads of a request: its header fields, its `:authority` (HTTP/2), its target as sent. */
export interface RequestHead {
  raw: readonly string[];
  authority?: string;
  target: string;
}

export interface Admitted {
  ok: true;
  conn: ClientConnection;
  route: RouteConfig;
  binding: UpstreamBinding;
  /** identity header names to strip (any case, `_` for `-`) */
  strip: ReadonlySet<string>;
  /** the normalized request target: what was routed on, what is forwarded */
  target: string;
  /** the canonical Host */
  host: string | undefined;
  trusted?: (address: string) => boolean;
  routing: RequestRouting;
}

export interface Refused {
  ok: false;
  status: number;
  /** the own answer's `error` */
  message: string;
  outcome: string;
  reason?: string;
  route?: string;
  /** the connection is not worth keeping (HTTP/1.1: Connection: close) */
  close?: boolean;
  rule?: string;
}

export type Admission = Admitted | Refused;

/** the identity header names to strip, per routing (a reload may rename one) */
const namesByRouting = new WeakMap<RequestRouting, ReadonlySet<string>>();

function namesOf(routing: RequestRouting): ReadonlySet<string> {
  let names = namesByRouting.get(routing);
  if (!names) { names = identityHeaderNames([...routing.extraIdentityHeaders]); namesByRouting.set(routing, names); }
  return names;
}

/** requestHost, remembered per connection for the last head's Host (a keep-alive client sends the same one each time) */
function hostOf(conn: ClientConnection, head: RequestHead): ReturnType<typeof requestHost> {
  const raw = head.raw;
  let sent: string | undefined;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') { sent = raw[i + 1]; n++; }
  if (n > 1 || head.authority !== undefined) return requestHost(raw, head.authority);
  const memo = conn.lastHost;
  if (memo && memo.sent === sent) return memo.verdict;
  const verdict = requestHost(raw);
  conn.lastHost = { sent, verdict };
  return verdict;
}

export function admit(routing: RequestRouting, conn: ClientConnection | undefined, head: RequestHead): Admission {
  if (!conn) return { ok: false, status: 500, message: 'internal error: unknown connection', outcome: 'error' };
  // the refusal's reason was logged once, with the connection ("client refused")
  if (conn.refusal) return { ok: false, status: conn.refusal.status, message: `client certificate refused: ${conn.refusal.reason}`, outcome: 'refused', close: true };
  // one normal form of the target and the Host, decided on and forwarded (request-target.ts)
  const target = normalizeTarget(head.target);
  if (!target.ok) return { ok: false, status: 400, message: `request target refused: ${target.reason}`, outcome: 'bad-path', reason: target.reason };
  const host = hostOf(conn, head);
  if (!host.ok) return { ok: false, status: 400, message: host.reason, outcome: 'bad-request', reason: host.reason, close: true };
  if (host.host && routing.router.misdirected(conn.sni, hostName(host.host), conn.listener)) {
    return { ok: false, status: 421, message: 'this host is not served on this connection; connect with its name as TLS server name', outcome: 'misdirected', reason: `Host ${host.host} on a connection for ${conn.sni ?? 'no server name'}` };
  }
  // the connection's routes were computed by the router of its time; a reload since gives a new router
  const routes = conn.router === routing.router ? conn.routes : routing.router.forConnection(conn.sni, conn.listener);
  const route = routes && routing.router.forRequest(routes, host.host, target.path);
  if (!route) return { ok: false, status: 404, message: 'no route for this host and path', outcome: 'no-route' };
  if (!conn.client && !route.allowAnonymous) {
    return { ok: false, status: 403, message: 'this route requires a client certificate', outcome: 'refused', reason: 'no certificate', route: route.upstream };
  }
  // answered as a denied identity is (403 forbidden); the log names the rule
  const rule = routing.refusedBy?.(route, conn);
  if (rule) return { ok: false, status: 403, message: 'client certificate refused: forbidden', outcome: 'refused', reason: 'not allowed', rule, route: route.upstream };
  try {
    // once per (connection, route): the identity is the connection's; the pool takes fresh credentials per upstream connection
    let binding = conn.bindings?.get(route);
    if (!binding) { binding = routing.bind(route, conn); (conn.bindings ??= new WeakMap()).set(route, binding); }
    return { ok: true, conn, route, binding, strip: namesOf(routing), target: target.target, host: host.host, trusted: routing.trustedProxies, routing };
  } catch (err) {
    return { ok: false, status: 403, message: 'client certificate refused', outcome: 'refused', reason: (err as Error).message, route: route.upstream };
  }
}
