/**
 * Memory per idle client connection: RSS of one countersign process holding N
 * open TLS client connections (default 2,000), each of which made one
 * keep-alive request and then stays silent, through countersign to an nginx
 * backend. One identity for all (alice), so what grows is the cost of a
 * connection, not of an identity (bench/identities.ts measures that). In
 * connection mode every client also holds its own upstream TLS connection; in
 * http mode the client connections share the identity's upstream pool.
 *
 * Reported per mode: RSS at start, with N clients open, and per connection
 * ((with − start) / N); the split into anonymous memory (V8 heap, OpenSSL's
 * and Node's native allocations) and file-backed pages (the node binary's code).
 *
 *   npm run build && node dist/bench/idle-clients.js [N]
 *   VARIANTS=connection-delegated NODE_ARGS='…' ENV='{"MALLOC_ARENA_MAX":"1"}' node dist/bench/idle-clients.js 2000
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import { countersignConfig, startCountersign, type CountersignVariant } from './lib/countersign.js';
import { freePort, sleep } from './lib/net.js';
import { peakRssKiB } from './lib/proc.js';
import { benchPki, startBenchBackend } from './lib/bench-setup.js';

const N = Number(process.argv[2] ?? 2_000);
const CONCURRENCY = 16;

/** RSS, anonymous and file-backed resident memory of a process, MiB */
function memory(pid: number): { rss: number; anon: number; file: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? NaN);
  const mib = (v: number) => Math.round((v / 1024) * 10) / 10;
  return { rss: mib(kib('Rss')), anon: mib(kib('Anonymous')), file: mib(kib('Rss') - kib('Anonymous')) };
}

/** V8 heap (committed, used) and external memory from the admin listener's metrics, MiB */
function heapOf(admin: string): Promise<Record<string, number>> {
  const [host, port] = admin.split(':');
  return new Promise((resolve) => {
    const req = request({ host, port: Number(port), path: '/metrics', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => {
        const v = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(body)?.[1] ?? NaN);
        const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
        resolve({ heapTotal: mib(v('countersign_nodejs_heap_size_total_bytes')), heapUsed: mib(v('countersign_nodejs_heap_size_used_bytes')), external: mib(v('countersign_nodejs_external_memory_bytes')) });
      });
    });
    req.on('error', () => resolve({}));
    req.end();
  });
}

/** Opens one client connection, makes one keep-alive request, and leaves the socket open. */
function openClient(port: number, cert: Buffer, key: Buffer, ca: Buffer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', cert, key, ca });
    s.once('error', reject);
    s.once('secureConnect', () => {
      let got = '';
      const onData = (d: Buffer) => {
        got += d.toString('latin1');
        const end = got.indexOf('\r\n\r\n');
        const len = /content-length: (\d+)/i.exec(got);
        if (end >= 0 && len && got.length >= end + 4 + Number(len[1])) {
          s.removeListener('data', onData);
          s.removeListener('error', reject);
          s.on('error', () => {});
          resolve(s);
        }
      };
      s.on('data', onData);
      s.write('GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: countersign-bench\r\n\r\n');
    });
  });
}

async function openClients(port: number, pkiDir: string, n: number): Promise<TLSSocket[]> {
  const cert = readFileSync(join(pkiDir, 'alice.crt'));
  const key = readFileSync(join(pkiDir, 'alice.key'));
  const ca = readFileSync(join(pkiDir, 'edge-ca.crt'));
  const open: TLSSocket[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      next++;
      open.push(await openClient(port, cert, key, ca));
    }
  }));
  return open;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'countersign-idle-'));
  const setup = await benchPki(work);
  const { pki, pkiDir } = setup;
  const backend = await startBenchBackend(work, setup);
  const backendPort = backend.port;
  const rows: Record<string, unknown>[] = [];
  try {
    const variants = (process.env.VARIANTS ?? 'connection-delegated,http-delegated').split(',') as CountersignVariant[];
    for (const variant of variants) {
      const port = await freePort();
      const config = countersignConfig(variant, pkiDir, port, backendPort) as Record<string, unknown>;
      config.limits = { maxConnections: N + 100 };
      const admin = `127.0.0.1:${await freePort()}`;
      config.admin = { listen: admin };
      const cs = await startCountersign({
        name: variant, dir: work, port, config,
        nodeArgs: process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : [],
        env: process.env.ENV ? { ...process.env, ...JSON.parse(process.env.ENV) as Record<string, string> } : undefined,
      });
      let clients: TLSSocket[] = [];
      try {
        await sleep(1000);
        const atStart = { ...memory(cs.pid), ...await heapOf(admin) };
        clients = await openClients(port, pkiDir, N);
        await sleep(2000);
        const open = { ...memory(cs.pid), ...await heapOf(admin) };
        const row = {
          variant, clients: clients.length, atStart, open, peakMiB: Math.round(peakRssKiB(cs.pid) / 1024),
          kibPerConnection: Math.round(((open.rss - atStart.rss) * 1024) / clients.length * 10) / 10,
          anonKibPerConnection: Math.round(((open.anon - atStart.anon) * 1024) / clients.length * 10) / 10,
        };
        rows.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      } finally {
        for (const c of clients) c.destroy();
        await cs.stop();
      }
    }
  } finally {
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write('\n| mode | idle clients | RSS at start | RSS with them open | per connection (RSS) | per connection (anonymous) |\n| --- | --- | --- | --- | --- | --- |\n');
  for (const r of rows as { variant: string; clients: number; atStart: { rss: number }; open: { rss: number }; kibPerConnection: number; anonKibPerConnection: number }[]) {
    process.stdout.write(`| ${r.variant} | ${r.clients} | ${r.atStart.rss} MiB | ${r.open.rss} MiB | ${r.kibPerConnection} KiB | ${r.anonKibPerConnection} KiB |\n`);
  }
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1); });
