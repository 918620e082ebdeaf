/**
 * First-time identities against returning ones, per build and per mode, in
 * alternating rounds (the machine is shared: compare CPU per connection and
 * rounds, not absolute rates). Each round starts each build's CLI once per
 * mode (connection-delegated, http-delegated; defaults, log at warn) and
 * measures with the same tool (bench/load-client.ts, concurrency 16):
 *   - a returning identity: RETURNING connections with one certificate;
 *   - first-time identities: FIRST never-seen certificates.
 * and the proxy's CPU (all threads, /proc) per connection for each.
 *
 *   npm run build && CLIS=/tmp/a/bin/countersign.js,bin/countersign.js node dist/bench/first-time-rounds.js [ROUNDS]
 * MODES=connection,http (default both). PROFILE_DIR=dir: run the proxies with
 * `--cpu-prof` into dir (one profile per process; the returning load runs
 * first, so compare the two loads by CPU figures, the profile for where).
 * PERF_DIR=dir: `perf record -g` of each load into dir (returning and
 * first-time apart; with NODE_ARGS_0=--perf-basic-prof for JavaScript names).
 * NODE_ARGS_<i> adds Node flags to the i-th build (0-based).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { countersignConfig, shebangEnv, shebangNodeArgs, startNodeServer, type CountersignVariant } from './lib/countersign.js';
import { freePort, sleep } from './lib/net.js';
import { PERF_BIN } from './lib/perf.js';
import { clockTicks, cpuTicks } from './lib/proc.js';
import { median } from './lib/stats.js';
import type { ConnectionsJob, ConnectionsResult } from './load-client.js';
import { benchPki, startBenchBackend, runLoadClient } from './lib/bench-setup.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const FIRST = Number(process.env.FIRST ?? 600);
const RETURNING = Number(process.env.RETURNING ?? 1000);
const CLIS = (process.env.CLIS ?? 'bin/countersign.js').split(',').map((c) => resolve(c));
const MODES = (process.env.MODES ?? 'connection,http').split(',') as ('connection' | 'http')[];
const PROFILE_DIR = process.env.PROFILE_DIR;
const PERF_DIR = process.env.PERF_DIR;

/** PERF_DIR=dir: `perf record -g` of the proxy during one load (give the proxy --perf-basic-prof with NODE_ARGS_<i> for JavaScript names) */
function perfPhase(pid: number, name: string): (() => Promise<void>) | undefined {
  if (!PERF_DIR) return undefined;
  const child = spawn(PERF_BIN, ['record', '-q', '-F', '999', '-g', '-p', String(pid), '-o', join(resolve(PERF_DIR), `${name}.perf.data`)], { stdio: 'ignore' });
  const done = new Promise<void>((res) => child.on('close', () => res()));
  return () => { child.kill('SIGINT'); return done; };
}

interface Row { marksUs?: number[]; returningConns?: number; firstConns?: number; round: number; build: number; mode: string; returningCpuUs: number; firstCpuUs: number; returningPerS: number; firstPerS: number; errors: number }

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'countersign-first-time-'));
  const setup = await benchPki(work, FIRST + 1);
  const { pki, pkiDir, certsFile } = setup;
  // the same certificates for every build and round: each countersign process is a new one, so all are first-time to it
  const backend = await startBenchBackend(work, setup);
  const backendPort = backend.port;
  const rows: Row[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        for (const [i, cli] of CLIS.entries()) {
          const port = await freePort();
          const file = join(work, `cs-${i}.yaml`);
          const variant: CountersignVariant = mode === 'connection' ? 'connection-delegated' : 'http-delegated';
          await writeFile(file, stringify(countersignConfig(variant, pkiDir, port, backendPort)));
          const nodeArgs = process.env[`NODE_ARGS_${i}`]?.split(' ').filter(Boolean) ?? [];
          const prof = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE_DIR)}`, `--cpu-prof-name=r${round}-${mode}-b${i}.cpuprofile`] : [];
          const cs = await startNodeServer(`countersign ${i}`, [...shebangNodeArgs(cli), ...nodeArgs, ...prof, cli, 'start', '--config', file], port, shebangEnv(cli));
          try {
            await sleep(1000);
            const cpuMs = () => (cpuTicks(cs.pid) * 1000) / clockTicks();
            // warm-up: the returning identity's certificate (the last one; never one of the first-time ones)
            const returningJob: ConnectionsJob = { mode: 'connections', port, certsFile, from: FIRST, count: 200, concurrency: 16, sameCert: true, maxMs: 60_000 };
            await runLoadClient<ConnectionsResult>(work, returningJob);
            // CLOCK_MONOTONIC µs, the clock of a .cpuprofile's timestamps: the loads' windows in the profile
            const mark = () => Number(process.hrtime.bigint() / 1000n);
            const marks: number[] = [mark()];
            let perf = perfPhase(cs.pid, `r${round}-${mode}-b${i}-returning`);
            let c0 = cpuMs();
            const returning = await runLoadClient<ConnectionsResult>(work, { ...returningJob, count: RETURNING });
            await perf?.();
            const returningCpuUs = ((cpuMs() - c0) * 1000) / Math.max(1, returning.completed);
            marks.push(mark());
            perf = perfPhase(cs.pid, `r${round}-${mode}-b${i}-first`);
            c0 = cpuMs();
            const first = await runLoadClient<ConnectionsResult>(work, { mode: 'connections', port, certsFile, from: 0, count: FIRST, concurrency: 16, maxMs: 5 * 60_000 });
            await perf?.();
            marks.push(mark());
            const firstCpuUs = ((cpuMs() - c0) * 1000) / Math.max(1, first.completed);
            const row: Row = {
              round, build: i, mode, returningCpuUs: Math.round(returningCpuUs), firstCpuUs: Math.round(firstCpuUs),
              returningPerS: Math.round(returning.perSecond), firstPerS: Math.round(first.perSecond), errors: returning.errors + first.errors,
              ...(PROFILE_DIR ? { marksUs: marks, returningConns: returning.completed, firstConns: first.completed } : {}),
            };
            rows.push(row);
            process.stdout.write(`${JSON.stringify(row)}\n`);
          } finally { await cs.stop(); }
        }
      }
    }
    for (const mode of MODES) {
      for (const [i] of CLIS.entries()) {
        const mine = rows.filter((r) => r.mode === mode && r.build === i);
        const m = (k: keyof Row) => Math.round(median(mine.map((r) => r[k] as number)));
        const ratio = median(mine.map((r) => r.firstPerS / r.returningPerS));
        process.stdout.write(`median ${mode} build ${i}: CPU µs/conn returning ${m('returningCpuUs')} first-time ${m('firstCpuUs')} (extra ${m('firstCpuUs') - m('returningCpuUs')}); conn/s returning ${m('returningPerS')} first-time ${m('firstPerS')}; first/returning ${ratio.toFixed(2)}\n`);
      }
    }
  } finally {
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1); });
