/**
 * The admin listener (`admin.listen`): plain HTTP on a loopback address or a
 * unix socket (mode 0600), never the edge port, no client certificates.
 *
 *   GET  /healthz  200 while the process serves
 *   GET  /readyz   200 when ready; 503 with `{ ready: false, reasons: [...] }` otherwise
 *   GET  /metrics  Prometheus text
 *   GET  /status   JSON: config, certificates, upstream servers
 *   POST /reload   what SIGHUP does; answers with the outcome (200, or 500 when it failed)
 *
 * Before any of these, admin-guard.ts refuses (403, one warn line) a Host that
 * is not the listener's address and a POST without X-Countersign-Admin: what
 * a web page in a browser on this host could send.
 *
 * The handlers come from whoever runs the proxy: one process, or the primary
 * of worker processes asking its workers.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from '../node-http.js';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { formatHostPort, hostPortOf, isSocketPath } from '../config/index.js';
import { CountersignError } from '../errors.js';
import type { Logger } from './logger.js';
import { adminGuard, type AdminGuard } from './admin-guard.js';

export interface Readiness { ready: boolean; reasons: string[] }
export interface ReloadOutcome { ok: boolean; [k: string]: unknown }

export interface AdminHandlers {
  ready(): Promise<Readiness>;
  metrics(): Promise<{ contentType: string; text: string }>;
  status(): Promise<unknown>;
  reload(): Promise<ReloadOutcome>;
}

export interface AdminServerOptions {
  /** host:port, or a unix socket path (absolute) */
  listen: string;
  /** admin.hosts: more names accepted in Host besides the listener's address, IP literals and localhost */
  hosts?: readonly string[];
  handlers: AdminHandlers;
  logger: Logger;
}

export interface RunningAdminServer {
  /** host:port with the bound port, or the socket path */
  address: string;
  close(): Promise<void>;
}


export async function startAdminServer(opts: AdminServerOptions): Promise<RunningAdminServer> {
  // set once the port is known (admin.listen may say 0)
  let guard: AdminGuard = () => ({ status: 503, reason: 'starting' });
  const server = http.createServer((req, res) => { handle(opts, guard, req, res).catch((err: Error) => send(res, 500, { error: err.message })); });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  let address: string;
  if (isSocketPath(opts.listen)) {
    await removeStaleSocket(opts.listen);
    await listen(server, opts.listen, () => server.listen(opts.listen));
    await chmod(opts.listen, 0o600);
    address = opts.listen;
    guard = adminGuard({ listen: opts.listen, socket: true });
  } else {
    const { host, port } = hostPortOf(opts.listen);
    await listen(server, opts.listen, () => server.listen(port, host));
    const a = server.address() as { address: string; port: number };
    address = formatHostPort({ host: a.address, port: a.port });
    guard = adminGuard({ listen: opts.listen, boundPort: a.port, hosts: opts.hosts, socket: false });
  }
  opts.logger.info({ admin: address }, 'admin listening');
  return {
    address,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

function listen(server: Server, what: string, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new CountersignError('ERR_LISTEN', `admin.listen ${what}: cannot listen (${err.code ?? err.message})`, { cause: err }));
    server.once('error', onError);
    server.once('listening', () => { server.removeListener('error', onError); resolve(); });
    start();
  });
}

/** A socket file left by a process that died is removed; any other file is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new CountersignError('ERR_LISTEN', `admin.listen ${path}: exists and is not a socket; remove it or choose another path`);
  await unlink(path);
}

async function handle(opts: AdminServerOptions, guard: AdminGuard, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const method = req.method ?? 'GET';
  const refused = guard(req);
  if (refused) {
    req.resume();
    opts.logger.warn({ outcome: 'refused', method, path, host: req.headers.host, origin: req.headers.origin, remoteAddress: req.socket.remoteAddress, reason: refused.reason }, 'admin: request refused');
    return send(res, refused.status, { error: refused.reason });
  }
  const get = method === 'GET' || method === 'HEAD';
  if (path === '/healthz' && get) return send(res, 200, { ok: true });
  if (path === '/readyz' && get) {
    const r = await opts.handlers.ready();
    return send(res, r.ready ? 200 : 503, r);
  }
  if (path === '/metrics' && get) {
    const m = await opts.handlers.metrics();
    res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(m.text) });
    res.end(method === 'HEAD' ? undefined : m.text);
    return;
  }
  if (path === '/status' && get) return send(res, 200, await opts.handlers.status());
  if (path === '/reload' && method === 'POST') {
    req.resume();
    const r = await opts.handlers.reload();
    opts.logger.info({ outcome: r.ok ? 'ok' : 'failed' }, 'admin: reload');
    return send(res, r.ok ? 200 : 500, r);
  }
  if (['/healthz', '/readyz', '/metrics', '/status', '/reload'].includes(path)) {
    res.setHeader('allow', path === '/reload' ? 'POST' : 'GET, HEAD');
    return send(res, 405, { error: `${method} not allowed on ${path}` });
  }
  send(res, 404, { error: 'not found', endpoints: ['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /status', 'POST /reload'] });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) { res.destroy(); return; }
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
