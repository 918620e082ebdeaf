/**
 * Tail latency of connection mode at a fixed rate, and what causes it: one
 * countersign (connection mode, the bench's config) in front of the bench's
 * nginx backend, loaded with bench/load-client.ts's open-loop `rate` mode,
 * measured
 *
 *   1. on a fresh process (after a short warm-up),
 *   2. right after a flood of first-time identities (`connections` mode, a
 *      never-seen certificate each, as `npm run bench` does before its
 *      latency point),
 *   3. some seconds later,
 *
 * and a direct connection to the backend at the same rate beside each round.
 * The proxy runs with bench/lib/loop-stall-probe.ts loaded: every GC pause
 * and every event-loop stall over 5 ms is logged, and each point reports the
 * stalls and GCs that fell inside its window.
 *
 *   npm run build && node dist/bench/tail-probe.js [--rate 21000] [--rounds 3] [--flood 300] [--later 10] [--floor]
 *
 * `--floor` also measures Node's own floor at the same rate beside each round:
 * bench/floor-server.ts `tls-pipe` (a TLS server piping to a resumed upstream
 * session, nothing of countersign), to tell what Node's TLS pipe adds at this
 * rate from what countersign adds on top.
 *
 * NODE_ARGS adds Node flags (e.g. `--trace-gc`, `--perf-basic-prof`);
 * COUNTERSIGN_BENCH_CLI points at another build to compare.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runAb } from './lib/ab.js';
import { countersignConfig, REPO_ROOT, startCountersign, startNodeServer } from './lib/countersign.js';
import { freePort, sleep } from './lib/net.js';
import type { ConnectionsResult, RateJob, RateResult } from './load-client.js';
import { benchPki, startBenchBackend, runLoadClient } from './lib/bench-setup.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '21000' },
    rounds: { type: 'string', default: '3' },
    flood: { type: 'string', default: '300' },
    later: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '3' },
    // as \`npm run bench\` does before its latency point: ab keep-alive and new connections
    // before the flood, a returning identity's 300 new connections after it
    'bench-sequence': { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
  },
});
const RATE = Number(args.rate);
const ROUNDS = Number(args.rounds);
const FLOOD = Number(args.flood);
const LATER_S = Number(args.later);
const SECONDS = Number(args.seconds);
const BENCH_SEQUENCE = args['bench-sequence'];

interface ProbeLine { type: 'gc' | 'stall'; at: number; ms?: number; lateMs?: number; cpuMs?: number; kind?: string; forced?: boolean }

/** CPU ticks of each thread of a process, summed by thread name (main thread, V8 workers, libuv pool). */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[0-9]+$/, '').trim();
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch { /* the thread ended */ }
  }
  return out;
}

function ticksSince(pid: number, before: Map<string, number>): string {
  const now = threadTicks(pid);
  const hz = 100;
  return [...now].map(([n, t]) => [n, (t - (before.get(n) ?? 0)) / hz] as const).filter(([, s]) => s > 0)
    .sort((a, b) => b[1] - a[1]).map(([n, s]) => `${n} ${s.toFixed(2)}s`).join(', ');
}

let jobSeq = 0;
function probeLines(file: string, from: number, to: number): ProbeLine[] {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ProbeLine).filter((l) => l.at >= from && l.at <= to);
}

/** The stalls and GC pauses of one window, in a line. */
function windowSummary(lines: ProbeLine[]): string {
  const stalls = lines.filter((l) => l.type === 'stall');
  const gcs = lines.filter((l) => l.type === 'gc');
  const major = gcs.filter((g) => g.kind === 'major');
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
  const parts = [
    `stalls>5ms ${stalls.length} (max ${maxOf(stalls.map((s) => s.lateMs!)).toFixed(1)} ms, sum ${sum(stalls.map((s) => s.lateMs!)).toFixed(0)} ms of which the loop ran ${sum(stalls.map((s) => s.cpuMs ?? 0)).toFixed(0)} ms)`,
    `gc ${gcs.length} (${sum(gcs.map((g) => g.ms!)).toFixed(0)} ms, max ${maxOf(gcs.map((g) => g.ms!)).toFixed(1)} ms)`,
    `major ${major.length}${major.length ? ` [${major.map((g) => `${g.ms!.toFixed(1)}${g.forced ? 'F' : ''}`).join(' ')}]` : ''}`,
  ];
  // each stall with the GCs that overlap it
  const worst = [...stalls].sort((a, b) => b.lateMs! - a.lateMs!).slice(0, 5);
  const detail = worst.map((s) => {
    const inside = gcs.filter((g) => g.at + g.ms! >= s.at - 1 && g.at <= s.at + s.lateMs! + 1);
    return `${s.lateMs!.toFixed(1)}ms(cpu ${s.cpuMs?.toFixed(1)})${inside.length ? `=${inside.map((g) => `${g.kind}${g.forced ? 'F' : ''}:${g.ms!.toFixed(1)}`).join('+')}` : '(no gc)'}`;
  });
  return `${parts.join('; ')}${detail.length ? `\n      worst stalls: ${detail.join(', ')}` : ''}`;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'countersign-tail-'));
  const setup = await benchPki(work, Math.max(1, FLOOD * ROUNDS));
  const { pki, pkiDir, certsFile } = setup;
  const aliceFile = join(work, 'alice.json');
  await writeFile(aliceFile, JSON.stringify([{ certPem: pki.clients.alice.certPem, keyPem: pki.clients.alice.keyPem }]));
  const aliceCertKeyPem = join(work, 'alice.pem');
  await writeFile(aliceCertKeyPem, pki.clients.alice.certPem + pki.clients.alice.keyPem, { mode: 0o600 });
  const backend = await startBenchBackend(work, setup);
  const backendPort = backend.port;
  const probeLog = join(work, 'probe.jsonl');
  const port = await freePort();
  const config = { ...countersignConfig('connection-delegated', pkiDir, port, backendPort), admin: { listen: `127.0.0.1:${await freePort()}` } };
  // NO_STALL_PROBE=1: the proxy without the probe (its 1 ms timer and GC observer cost CPU of their own)
  const probeArgs = process.env.NO_STALL_PROBE ? [] : ['--import', join(REPO_ROOT, 'dist/bench/lib/loop-stall-probe.js')];
  const nodeArgs = [...probeArgs, ...(process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : [])];
  const cs = await startCountersign({ name: 'connection', dir: work, port, config, nodeArgs, env: { ...process.env, STALL_PROBE_LOG: probeLog } });
  const log = (s: string) => process.stdout.write(`${s}\n`);
  const floorPort = args.floor ? await freePort() : 0;
  const floor = args.floor ? await startNodeServer('floor tls-pipe', [join(REPO_ROOT, 'dist/bench/floor-server.js'), 'tls-pipe', String(floorPort), String(backendPort), pkiDir], floorPort) : undefined;
  // the proxy's own output whole (NODE_ARGS='--trace-gc' prints there), beside the probe log
  const traceOut = createWriteStream(join(work, 'proxy-output.txt'));
  cs.child.stdout!.on('data', (d: Buffer) => traceOut.write(d));
  cs.child.stderr!.on('data', (d: Buffer) => traceOut.write(d));
  // PERF=1: the proxy sampled by perf on CLOCK_MONOTONIC (the probe log's \`mono\`), call graphs by frame pointer
  const perf = process.env.PERF ? spawn('perf', ['record', '-q', '-k', 'CLOCK_MONOTONIC', '-F', '1999', '-g', '-p', String(cs.pid), '-o', join(work, 'perf.data')], { stdio: 'ignore' }) : undefined;
  log(`countersign pid ${cs.pid}, rate ${RATE} req/s, ${ROUNDS} rounds of ${FLOOD} first-time identities, later = +${LATER_S} s`);
  const rateJob = (p: number): RateJob => ({
    mode: 'rate', port: p, certPem: pki.clients.alice.certPem, keyPem: pki.clients.alice.keyPem,
    connections: 16, rate: RATE, durationMs: SECONDS * 1000, warmupMs: Math.min(1000, SECONDS * 200),
  });
  const point = async (label: string, p: number): Promise<RateResult> => {
    const from = Date.now();
    const t0 = threadTicks(cs.pid);
    const r = await runLoadClient<RateResult>(work, rateJob(p));
    const to = Date.now();
    const f = (x: number) => x.toFixed(2).padStart(6);
    log(`  ${label.padEnd(22)} achieved ${r.achievedRate.toFixed(0).padStart(6)}  p50 ${f(r.p50Ms)}  p99 ${f(r.p99Ms)}  p99.9 ${f(r.p999Ms)}  max ${f(r.maxMs)} ms${r.errors ? `  ERRORS ${r.errors}` : ''}`);
    if (p === port) log(`      ${windowSummary(probeLines(probeLog, from, to))}\n      proxy threads: ${ticksSince(cs.pid, t0)}`);
    return r;
  };
  try {
    await runLoadClient<RateResult>(work, { ...rateJob(port), durationMs: 2000 });
    if (floor) await runLoadClient<RateResult>(work, { ...rateJob(floorPort), durationMs: 2000 });
    for (let round = 0; round < ROUNDS; round++) {
      log(`round ${round + 1}`);
      const direct = await point('direct', backendPort);
      const steady = await point(round === 0 ? 'fresh process' : 'steady', port);
      if (floor) {
        const t0 = threadTicks(floor.pid);
        const fl = await point('Node floor (tls-pipe)', floorPort);
        log(`      floor threads: ${ticksSince(floor.pid, t0)}; added p99 over direct: floor ${(fl.p99Ms - direct.p99Ms).toFixed(2)}, countersign ${(steady.p99Ms - direct.p99Ms).toFixed(2)} ms`);
      }
      if (BENCH_SEQUENCE) {
        for (const keepAlive of [true, false]) {
          const ab = await runAb({ port, certKeyPem: aliceCertKeyPem, keepAlive, concurrency: keepAlive ? 32 : 16, seconds: 3, csvFile: join(work, `ab-${jobSeq++}.csv`) });
          log(`  ab ${keepAlive ? 'keep-alive' : 'new conns '} ${ab.requestsPerSecond.toFixed(0)}/s`);
        }
      }
      if (FLOOD > 0) {
        const from = Date.now();
        const t0 = threadTicks(cs.pid);
        const fl = await runLoadClient<ConnectionsResult>(work, { mode: 'connections', port, certsFile, from: round * FLOOD, count: FLOOD, concurrency: 16, maxMs: 120_000 });
        log(`  flood: ${fl.completed} first-time identities, ${fl.perSecond.toFixed(0)}/s${fl.errors ? `, ${fl.errors} errors (${fl.firstError})` : ''}`);
        log(`      ${windowSummary(probeLines(probeLog, from, Date.now()))}\n      proxy threads: ${ticksSince(cs.pid, t0)}`);
      }
      if (BENCH_SEQUENCE) {
        const back = await runLoadClient<ConnectionsResult>(work, { mode: 'connections', port, certsFile: aliceFile, from: 0, count: FLOOD, concurrency: 16, sameCert: true, maxMs: 120_000 });
        log(`  returning identity: ${back.completed} new connections, ${back.perSecond.toFixed(0)}/s`);
      }
      const after = await point('right after the flood', port);
      const idle0 = threadTicks(cs.pid);
      await sleep(LATER_S * 1000);
      log(`  idle ${LATER_S} s: proxy threads: ${ticksSince(cs.pid, idle0)}`);
      const later = await point(`+${LATER_S} s`, port);
      log(`  added p99 over direct: steady ${(steady.p99Ms - direct.p99Ms).toFixed(2)}, after flood ${(after.p99Ms - direct.p99Ms).toFixed(2)}, later ${(later.p99Ms - direct.p99Ms).toFixed(2)} ms`);
    }
  } finally {
    if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.once('close', r)); }
    await cs.stop();
    await floor?.stop();
    await backend.stop();
    if (process.env.KEEP_PROBE_LOG) log(`probe log kept: ${probeLog}`);
    else await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1); });
