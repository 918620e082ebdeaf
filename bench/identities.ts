/**
 * Memory per identity: RSS of countersign after N distinct client identities
 * (default 10 000), connection mode and http mode, default settings. Each
 * identity makes one TLS connection with one request (bench/load-client.ts,
 * full handshakes, a never-seen certificate each), through countersign to an
 * nginx backend. Reported: RSS (VmRSS) after start, right after the last
 * identity, and after the upstream keep-alive time has passed (idle
 * per-identity pools closed); the peak (VmHWM); and the minted credentials kept.
 *
 *   npm run build && node dist/bench/identities.js [N]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countersignConfig, startCountersign, type CountersignVariant } from './lib/countersign.js';
import { freePort, sleep } from './lib/net.js';
import { peakRssKiB, residentSplit } from './lib/proc.js';
import type { ConnectionsResult } from './load-client.js';
import { request } from 'node:http';
import { benchPki, startBenchBackend, runLoadClient } from './lib/bench-setup.js';

const N = Number(process.argv[2] ?? 10_000);
/** the default upstream keep-alive of http mode's pools, plus a margin */
const IDLE_WAIT_MS = 35_000;

const rssMiB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};

/** Where the memory is, from the admin listener's metrics (prom-client's process and Node metrics). */
function memoryBreakdown(admin: string): Promise<Record<string, number>> {
  const [host, port] = admin.split(':');
  return new Promise((resolve) => {
    const req = request({ host, port: Number(port), path: '/metrics', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => {
        const v = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(body)?.[1] ?? NaN);
        const mib = (b: number) => Math.round(b / 1024 / 1024);
        resolve({
          heapUsedMiB: mib(v('countersign_nodejs_heap_size_used_bytes')), heapTotalMiB: mib(v('countersign_nodejs_heap_size_total_bytes')),
          externalMiB: mib(v('countersign_nodejs_external_memory_bytes')), mintedCached: v('countersign_delegation_cache_entries'),
        });
      });
    });
    req.on('error', () => resolve({}));
    req.end();
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'countersign-identities-'));
  const setup = await benchPki(work, N);
  const { pki, pkiDir, certsFile } = setup;
  const backend = await startBenchBackend(work, setup);
  const backendPort = backend.port;
  const rows: Record<string, unknown>[] = [];
  try {
    const variants = (process.env.VARIANTS ?? 'connection-delegated,http-delegated').split(',') as CountersignVariant[];
    for (const variant of variants) {
      const port = await freePort();
      const admin = `127.0.0.1:${await freePort()}`;
      const config = { ...countersignConfig(variant, pkiDir, port, backendPort), admin: { listen: admin } } as Record<string, Record<string, unknown>>;
      // experiments: DELEGATION='{"cacheMemoryMiB":8}' merges into delegation, LIMITS='{"agentsPerUpstream":256}' is limits,
      // NODE_ARGS='--max-semi-space-size=4' goes after the shebang's flags
      if (process.env.DELEGATION) Object.assign(config.delegation, JSON.parse(process.env.DELEGATION));
      if (process.env.LIMITS) config.limits = JSON.parse(process.env.LIMITS);
      // ENV='{"MALLOC_ARENA_MAX":"2"}' or '{"LD_PRELOAD":"…"}' goes into the process's environment (allocator experiments)
      const env = process.env.ENV ? { ...process.env, ...JSON.parse(process.env.ENV) as Record<string, string> } : undefined;
      const cs = await startCountersign({ name: variant, dir: work, port, config, nodeArgs: process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : [], env });
      try {
        await sleep(1000);
        const atStart = rssMiB(cs.pid);
        const memAtStart = residentSplit(cs.pid);
        const r = await runLoadClient<ConnectionsResult>(work, { mode: 'connections', port, certsFile, from: 0, count: N, concurrency: 8, maxMs: 30 * 60_000 });
        const afterLoad = rssMiB(cs.pid);
        const memAfterLoad = { ...await memoryBreakdown(admin), ...residentSplit(cs.pid) };
        await sleep(IDLE_WAIT_MS);
        const afterIdle = rssMiB(cs.pid);
        const memAfterIdle = { ...await memoryBreakdown(admin), ...residentSplit(cs.pid) };
        // HEAP_SNAPSHOT=1 with NODE_ARGS='--heapsnapshot-signal=SIGUSR2': a V8 heap snapshot of the idle process (in its working directory)
        if (process.env.HEAP_SNAPSHOT) { process.kill(cs.pid, 'SIGUSR2'); await sleep(Number(process.env.HEAP_SNAPSHOT_WAIT_MS ?? 20_000)); }
        const row = { variant, identities: N, completed: r.completed, errors: r.errors, firstError: r.firstError, rssAtStartMiB: atStart, rssAfterLoadMiB: afterLoad, rssAfterIdleMiB: afterIdle, peakRssMiB: Math.round(peakRssKiB(cs.pid) / 1024), perSecond: Math.round(r.perSecond), memAtStart, memAfterLoad, memAfterIdle };
        rows.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
      } finally { await cs.stop(); }
    }
  } finally {
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write('\n| mode | identities | RSS at start | RSS after the last | RSS after idle 35 s | peak (VmHWM) |\n| --- | --- | --- | --- | --- | --- |\n');
  for (const r of rows) process.stdout.write(`| ${r.variant} | ${r.completed}/${r.identities} | ${r.rssAtStartMiB} MiB | ${r.rssAfterLoadMiB} MiB | ${r.rssAfterIdleMiB} MiB | ${r.peakRssMiB} MiB |\n`);
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1); });
