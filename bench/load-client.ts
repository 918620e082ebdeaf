/**
 * The benchmark's own small load generator, for what `ab` cannot do:
 *
 * - `connections`: new TLS connections, one request each, each presenting a
 *   different, never-seen client certificate (a first-time identity: the proxy
 *   must mint), or the same one every time (`sameCert`, the control). Full
 *   handshakes only: no session is ever resumed.
 * - `rate`: an open-loop, rate-limited client on keep-alive connections (ab has
 *   no rate limit: it is closed-loop). Requests are scheduled at fixed intended
 *   times; latency is measured from the intended time, so a stall is not hidden
 *   by the client waiting for it (no coordinated omission).
 *
 * Runs as a child process (`node dist/bench/load-client.js JOB.json`), prints one
 * JSON line with its result. Every loop is bounded by a count and a deadline.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { percentiles } from './lib/stats.js';

export interface ConnectionsJob {
  mode: 'connections';
  port: number;
  /** JSON file: [{ certPem, keyPem }, ...] */
  certsFile: string;
  from: number;
  count: number;
  concurrency: number;
  /** use certificate `from` for every connection (a returning identity) */
  sameCert?: boolean;
  /** give up on the point after this long */
  maxMs: number;
}

export interface RateJob {
  mode: 'rate';
  port: number;
  certPem: string;
  keyPem: string;
  connections: number;
  /** requests per second */
  rate: number;
  durationMs: number;
  /** samples in the first warmupMs are dropped */
  warmupMs: number;
}

export interface ConnectionsResult {
  completed: number;
  errors: number;
  elapsedS: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  loadgenCpuS: number;
  firstError?: string;
}

export interface RateResult {
  targetRate: number;
  achievedRate: number;
  completed: number;
  errors: number;
  /** latency from the intended send time, ms */
  p50Ms: number; p90Ms: number; p99Ms: number; p999Ms: number; maxMs: number;
  /** latency from the actual write, ms */
  serviceP50Ms: number; serviceP99Ms: number;
  loadgenCpuS: number;
  firstError?: string;
}

const REQUEST_CLOSE = Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: countersign-bench\r\nConnection: close\r\n\r\n');
const REQUEST_KEEPALIVE = Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: countersign-bench\r\n\r\n');

/**
 * Minimal HTTP/1.1 response reader: status line, Content-Length bodies, and
 * chunked ones (Caddy answers HTTP/1.1 chunked) read up to the last chunk; the
 * bench backend sends no trailers.
 */
function responseReader(onResponse: (status: number) => void, onError: (e: Error) => void): (chunk: Buffer) => void {
  let buf: Buffer | undefined;
  let bodyLeft = -1;
  let status = 0;
  return (chunk) => {
    buf = buf && buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (bodyLeft === -1) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = buf.toString('latin1', 0, i);
        status = Number(head.slice(9, 12));
        const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
        const chunked = /\r\ntransfer-encoding:[ \t]*chunked/i.test(head);
        if (!m && !chunked) { onError(new Error(`response without Content-Length: ${head.slice(0, 80)}`)); buf = undefined; return; }
        buf = buf.subarray(i + 4);
        if (m) bodyLeft = Number(m[1]);
        else {
          bodyLeft = -2;
        }
      }
      if (bodyLeft === -2) {
        // the last chunk, after the CRLF that ends the chunk before it (bodies here are never empty)
        const end = buf.indexOf('\r\n0\r\n\r\n');
        if (end < 0) return;
        bodyLeft = end + 7;
      }
      if (buf.length < bodyLeft) return;
      buf = buf.subarray(bodyLeft);
      bodyLeft = -1;
      onResponse(status);
      if (buf.length === 0) return;
    }
  };
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

export function runConnections(job: ConnectionsJob): Promise<ConnectionsResult> {
  const certs = JSON.parse(readFileSync(job.certsFile, 'utf8')) as { certPem: string; keyPem: string }[];
  if (job.from + (job.sameCert ? 1 : job.count) > certs.length) throw new Error(`only ${certs.length} certificates for ${job.from}+${job.count}`);
  const contexts: SecureContext[] = [];
  for (let i = 0; i < (job.sameCert ? 1 : job.count); i++) {
    const c = certs[job.from + i];
    contexts.push(createSecureContext({ cert: c.certPem, key: c.keyPem }));
  }
  return new Promise((resolve) => {
    const lat = new Float64Array(job.count);
    let started = 0;
    let completed = 0;
    let errors = 0;
    let firstError: string | undefined;
    let over = false;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const finish = () => {
      if (over) return;
      over = true;
      clearTimeout(deadline);
      const elapsedS = (performance.now() - t0) / 1000;
      const [p50, p99] = percentiles(lat.subarray(0, completed), [50, 99]);
      resolve({ completed, errors, elapsedS, perSecond: completed / elapsedS, p50Ms: p50, p99Ms: p99, loadgenCpuS: cpuSeconds(cpu0), firstError });
    };
    const deadline = setTimeout(finish, job.maxMs);
    const next = () => {
      if (over) return;
      if (started >= job.count) { if (completed + errors >= job.count) finish(); return; }
      const i = started++;
      const t = performance.now();
      let done = false;
      const end = (ok: boolean, why?: string) => {
        if (done) return;
        done = true;
        socket.destroy();
        if (ok) lat[completed++] = performance.now() - t;
        else { errors++; firstError ??= why; }
        next();
      };
      const socket: TLSSocket = connect({
        host: '127.0.0.1', port: job.port, servername: 'localhost',
        secureContext: contexts[job.sameCert ? 0 : i], rejectUnauthorized: false,
      });
      socket.once('secureConnect', () => socket.write(REQUEST_CLOSE));
      socket.on('data', responseReader((status) => end(status === 200, `HTTP ${status}`), (e) => end(false, e.message)));
      socket.on('error', (e) => end(false, e.message));
      socket.on('close', () => end(false, 'closed before a response'));
      socket.setTimeout(10_000, () => end(false, 'timeout'));
    };
    for (let k = 0; k < job.concurrency; k++) next();
  });
}

interface Conn { socket: TLSSocket; busy: boolean; intended: number; sentAt: number }

export async function runRate(job: RateJob): Promise<RateResult> {
  const ctx = createSecureContext({ cert: job.certPem, key: job.keyPem });
  const total = Math.ceil((job.rate * job.durationMs) / 1000);
  const lat = new Float64Array(total);
  const svc = new Float64Array(total);
  let nLat = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const queue: number[] = [];
  let qHead = 0;
  const idle: Conn[] = [];
  const conns: Conn[] = [];
  let t0 = 0;
  let warmEnd = 0;
  let sent = 0;

  const pump = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) * job.rate) / 1000) + 1);
    while (sent < due) queue.push(t0 + (sent++ * 1000) / job.rate);
    while (qHead < queue.length && idle.length) {
      const c = idle.pop()!;
      c.busy = true;
      c.intended = queue[qHead++];
      c.sentAt = performance.now();
      c.socket.write(REQUEST_KEEPALIVE);
    }
  };

  await Promise.all(Array.from({ length: job.connections }, () => new Promise<void>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: job.port, servername: 'localhost', secureContext: ctx, rejectUnauthorized: false });
    socket.setNoDelay(true);
    const c: Conn = { socket, busy: false, intended: 0, sentAt: 0 };
    socket.once('secureConnect', () => { conns.push(c); idle.push(c); resolve(); });
    socket.once('error', reject);
    socket.on('data', responseReader((status) => {
      const now = performance.now();
      if (status === 200) {
        completed++;
        if (c.intended >= warmEnd) { lat[nLat] = now - c.intended; svc[nLat++] = now - c.sentAt; }
      } else { errors++; firstError ??= `HTTP ${status}`; }
      c.busy = false;
      idle.push(c);
      pump();
    }, (e) => { errors++; firstError ??= e.message; socket.destroy(); }));
  })));
  for (const c of conns) c.socket.on('error', (e) => { errors++; firstError ??= e.message; });

  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  warmEnd = t0 + job.warmupMs;
  const end = t0 + job.durationMs;
  await new Promise<void>((resolve) => {
    const tick = () => {
      pump();
      if (performance.now() < end) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  // let the last requests finish (bounded)
  const drainUntil = performance.now() + 5000;
  while (conns.some((c) => c.busy) && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 5));
  const elapsed = (performance.now() - t0) / 1000;
  for (const c of conns) c.socket.destroy();
  const [p50, p90, p99, p999, max] = percentiles(lat.subarray(0, nLat), [50, 90, 99, 99.9, 100]);
  const [s50, s99] = percentiles(svc.subarray(0, nLat), [50, 99]);
  return {
    targetRate: job.rate, achievedRate: completed / elapsed, completed, errors,
    p50Ms: p50, p90Ms: p90, p99Ms: p99, p999Ms: p999, maxMs: max, serviceP50Ms: s50, serviceP99Ms: s99,
    loadgenCpuS: cpuSeconds(cpu0), firstError,
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as ConnectionsJob | RateJob;
  const result = job.mode === 'connections' ? await runConnections(job) : await runRate(job);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((err) => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1); });
}
