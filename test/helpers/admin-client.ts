/**
 * Requests to countersign's admin listener (host:port or a unix socket path),
 * as a load balancer or Prometheus would make them.
 */
import { request } from 'node:http';
import { parsePrometheusText, type Family } from './prometheus-text.js';
import { waitFor } from './wait.js';

export interface AdminResponse { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/**
 * One request as an operator's tool makes it: with `X-Countersign-Admin: 1`
 * (what `countersign reload` and the docs' curl send) unless `headers` says otherwise.
 */
export function adminRequest(address: string, path: string, method = 'GET', headers: Record<string, string | undefined> = { 'X-Countersign-Admin': '1' }): Promise<AdminResponse> {
  const target = address.startsWith('/')
    ? { socketPath: address }
    : { host: address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, ''), port: Number(address.slice(address.lastIndexOf(':') + 1)) };
  return new Promise((resolve, reject) => {
    const given = Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
    const req = request({ ...target, path, method, agent: false, timeout: 10_000, headers: given }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`admin ${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export async function adminJson<T = Record<string, unknown>>(address: string, path: string, method = 'GET'): Promise<{ status: number; body: T }> {
  const r = await adminRequest(address, path, method);
  return { status: r.status, body: JSON.parse(r.body) as T };
}

/** GET /metrics, parsed strictly. */
export async function scrape(address: string): Promise<Map<string, Family>> {
  const r = await adminRequest(address, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
  if (!String(r.headers['content-type']).startsWith('text/plain')) throw new Error(`/metrics content-type ${r.headers['content-type']}`);
  return parsePrometheusText(r.body);
}

/**
 * Waits until http mode's pool and every upstream server count nothing in
 * flight (GET /status: leases, busy connections, connects, waiters, each
 * server's `active`), as a load test must end; rejects with the last status.
 */
export async function waitForIdleCounts(address: string, timeoutMs = 10_000): Promise<void> {
  let last = '';
  await waitFor(async () => {
    const s = (await adminJson<{ http: Record<string, number>; upstreams: Record<string, { servers: { address: string; active: number }[] }> }>(address, '/status')).body;
    const busy = { leases: s.http.leases, busy: s.http.busy, connecting: s.http.connecting, waiting: s.http.waiting, active: Object.values(s.upstreams).flatMap((u) => u.servers.map((x) => x.active)) };
    last = JSON.stringify(busy);
    return busy.leases === 0 && busy.busy === 0 && busy.connecting === 0 && busy.waiting === 0 && busy.active.every((a) => a === 0);
  }, 'http mode\'s counts back at zero', timeoutMs, 100).catch((err: Error) => { throw new Error(`${err.message}: ${last}`); });
}

interface InUseStatus {
  connections?: { open: number };
  upstreams?: Record<string, { servers: { address: string; active: number }[] }>;
}

/**
 * What /status says is still in use: open client connections, and upstream
 * connections per server (`active`: piped ones and pooled ones lent out),
 * summed over the workers when there are workers.
 */
export async function inUse(address: string): Promise<{ open: number; active: Record<string, number> }> {
  const { status, body } = await adminJson<InUseStatus & { workers?: { status?: InUseStatus }[] }>(address, '/status');
  if (status !== 200) throw new Error(`/status answered ${status}`);
  const each = body.workers ? body.workers.map((w) => w.status ?? {}) : [body];
  const active: Record<string, number> = {};
  let open = 0;
  for (const s of each) {
    open += s.connections?.open ?? 0;
    for (const [name, u] of Object.entries(s.upstreams ?? {})) for (const server of u.servers) active[`${name}/${server.address}`] = (active[`${name}/${server.address}`] ?? 0) + server.active;
  }
  return { open, active };
}

/** A load test's baseline: once its clients are gone, nothing stays in use (no open connection, every server's active count back to 0). */
export async function untilNothingInUse(address: string, timeoutMs = 10_000): Promise<void> {
  let last: Awaited<ReturnType<typeof inUse>> | undefined;
  await waitFor(async () => {
    last = await inUse(address);
    return last.open === 0 && Object.values(last.active).every((n) => n === 0);
  }, 'nothing in use', timeoutMs, 100).catch((err: Error) => { throw new Error(`${err.message}; /status: ${JSON.stringify(last)}`); });
}
