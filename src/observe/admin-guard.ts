/**
 * What the admin listener refuses before it routes a request: the two ways a
 * web page in a browser on the same host could reach it.
 *
 * - DNS rebinding: a page at `http://evil.example:9901/` whose name the
 *   attacker re-points at 127.0.0.1 reads `/status` as same-origin. The
 *   browser still sends `Host: evil.example:9901`, so a Host that is not the
 *   admin address is refused. Accepted: the port the listener is bound to (no
 *   port means 80) with an IP literal (a literal cannot be rebound: a page
 *   served from it is the listener itself), `localhost` when the listener is on
 *   loopback or a wildcard address, the configured host name, and the names in
 *   `admin.hosts`. A request without Host (HTTP/1.0, as HAProxy's `httpchk`
 *   sends by default) is no browser's and is accepted. A unix socket takes any
 *   Host: no browser connects to one.
 * - Cross-site requests: a page may POST a form or a `text/plain` fetch to any
 *   address without a CORS preflight. A custom header forces the preflight,
 *   which this listener never grants, so every method but GET and HEAD must
 *   carry `X-Countersign-Admin` (any non-empty value; `countersign reload`
 *   sends it, the docs' curl examples show it).
 */
import { isIP } from 'node:net';
import { hostPortOf } from '../config/index.js';

/** The header every state-changing admin request carries (a browser cannot send it cross-origin without a preflight). */
export const ADMIN_REQUEST_HEADER = 'X-Countersign-Admin';

export interface AdminGuardOptions {
  /** admin.listen: host:port, or a unix socket path */
  listen: string;
  /** the port the listener is bound to (admin.listen may say 0); ignored for a unix socket */
  boundPort?: number;
  /** admin.hosts: more names the listener answers to in Host */
  hosts?: readonly string[];
  /** true for a unix socket path */
  socket: boolean;
}

/** Why a request is refused (one sentence, for the client and the log), or undefined when it may go on. */
export type AdminGuard = (req: { method?: string; headers: Record<string, string | string[] | undefined> }) => { status: number; reason: string } | undefined;

/** `name`, `name:port`, `[v6]`, `[v6]:port`; nothing else (no userinfo, no path). */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$/;

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
const isWildcard = (host: string) => host === '0.0.0.0' || host === '::';

/** The Host rule of a TCP admin listener: true when `host` names it. */
export function adminHostAccepts(o: Pick<AdminGuardOptions, 'listen' | 'boundPort' | 'hosts'>, host: string): boolean {
  const listen = hostPortOf(o.listen);
  const port = o.boundPort ?? listen.port;
  const m = HOST_HEADER.exec(host);
  if (!m) return false;
  if (Number(m[2] ?? 80) !== port) return false;
  const name = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1].toLowerCase();
  if (isIP(name)) return true;
  if (name === 'localhost') return isLoopback(listen.host) || isWildcard(listen.host);
  if (!isIP(listen.host) && name === listen.host.toLowerCase()) return true;
  return (o.hosts ?? []).some((h) => h.toLowerCase() === name);
}

export function adminGuard(o: AdminGuardOptions): AdminGuard {
  const header = ADMIN_REQUEST_HEADER.toLowerCase();
  return (req) => {
    const host = req.headers.host;
    if (!o.socket && typeof host === 'string' && !adminHostAccepts(o, host)) {
      return { status: 403, reason: `Host "${host}" is not this admin listener's address (${o.listen}); use its address, an IP literal or localhost, or list the name in admin.hosts` };
    }
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') return undefined;
    const value = req.headers[header];
    if (typeof value !== 'string' || value.trim() === '') {
      return { status: 403, reason: `${method} needs the header ${ADMIN_REQUEST_HEADER}: 1 (a web page cannot send it cross-origin; countersign reload sends it)` };
    }
    return undefined;
  };
}
