/**
 * gRPC unary calls per second: a client straight to etcd, through an http
 * route (delegated identity, HTTP/2 to etcd, a minted certificate per
 * identity) and through a connection-mode route (issue 24). One etcd member
 * (Debian's etcd 3.4, TLS with client certificates required, trusting both
 * the client CA, for the direct client, and the delegation CA, for
 * countersign's minted certificates; etcd's auth is not enabled: this
 * measures the transport), two countersign processes, and a load client of
 * its own (bench/grpc-client.ts, a separate process) calling
 * `etcdserverpb.KV/Range` on one key as alice. Rounds alternate the three
 * targets so the machine's load falls on all alike; medians are reported
 * with ratios to direct, and the proxy's CPU per call from /proc/<pid>/stat.
 *
 *   node dist/bench/grpc.js [--rounds 3] [--seconds 5] [--connections 4] [--concurrency 32] [--out bench/results/grpc.md]
 *
 * `npm run bench` runs it after the comparison (not with --quick).
 * COUNTERSIGN_BENCH_CLI points at another build of the CLI.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:http2';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateDevPki, writeDevPki, type DevPki } from '../src/pki/dev/index.js';
import { startEtcdCluster } from '../test/helpers/etcd.js';
import type { GrpcClientMessage, GrpcLoadJob, GrpcLoadResult } from './grpc-client.js';
import { CLI, startCountersign } from './lib/countersign.js';
import { grpcFrame, putRequest, unaryCall } from './lib/grpc-unary.js';
import { freePort, sleep } from './lib/net.js';
import { clockTicks, cpuTicksOf } from './lib/proc.js';
import { median, round3 } from './lib/stats.js';

export interface GrpcBenchOptions {
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  concurrency: number;
  log?: (line: string) => void;
}

export const GRPC_DEFAULTS: GrpcBenchOptions = { rounds: 3, seconds: 5, warmupSeconds: 1, connections: 4, concurrency: 32 };

type TargetId = 'direct' | 'http' | 'connection';
const TARGETS: TargetId[] = ['direct', 'http', 'connection'];
const LABELS: Record<TargetId, string> = { direct: 'direct to etcd', http: 'http mode (delegated, HTTP/2 upstream)', connection: 'connection mode (delegated)' };

interface Point extends GrpcLoadResult { proxyCpuUsPerCall: number }

export interface GrpcBenchResult {
  options: GrpcBenchOptions;
  points: Record<TargetId, Point[]>;
  /** the report without a title, for bench/results/grpc.md and `npm run bench`'s report */
  markdown: string;
}

const ETCD_BIN = '/usr/bin/etcd';
const KEY = '/bench/grpc';

/** countersign in front of etcd: one route, delegated identity, in `mode`. */
function countersignConfig(mode: 'http' | 'connection', dir: string, port: number, etcdPort: number): Record<string, unknown> {
  return {
    listen: `127.0.0.1:${port}`,
    edge: { certificates: [{ cert: `${dir}/edge.crt`, key: `${dir}/edge.key` }], clientAuth: { mode: 'require', ca: `${dir}/client-ca.crt` } },
    delegation: { ca: { cert: `${dir}/delegation-ca.crt`, key: `${dir}/delegation-ca.key` }, ttl: '1h' },
    upstreams: {
      etcd: {
        servers: [`127.0.0.1:${etcdPort}`], ca: `${dir}/backend-ca.crt`, servername: 'backend.internal',
        ...(mode === 'http' ? { http2: 'auto' } : {}),
      },
    },
    routes: [{ upstream: 'etcd', mode, identity: 'delegated' }],
    log: { level: 'warn' },
  };
}

/** Puts the key the load reads, straight to etcd; retried until the member has elected itself. */
async function putKey(pki: DevPki, etcdPort: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const session = connect(`https://127.0.0.1:${etcdPort}`, {
      servername: 'backend.internal', ca: pki.backendCa.certPem, cert: pki.clients.alice.certPem, key: pki.clients.alice.keyPem,
    });
    session.on('error', () => {});
    const error = await unaryCall(session, '/etcdserverpb.KV/Put', grpcFrame(putRequest(KEY, 'x'.repeat(64))), `backend.internal:${etcdPort}`);
    session.close();
    if (!error) return;
    if (Date.now() > deadline) throw new Error(`etcd did not accept a Put: ${error}`);
    await sleep(200);
  }
}

/** One point: the load client in its own process, the proxy's CPU read when its window opens and closes. */
async function measure(job: GrpcLoadJob, proxyPids: number[]): Promise<Point> {
  const child = fork(fileURLToPath(new URL('./grpc-client.js', import.meta.url)), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-10_000); });
  let ticks0 = 0;
  let ticks1 = 0;
  let result: GrpcLoadResult | undefined;
  child.on('message', (m: GrpcClientMessage) => {
    if (m.type === 'measuring') ticks0 = cpuTicksOf(proxyPids);
    else if (m.type === 'window-end') ticks1 = cpuTicksOf(proxyPids);
    else result = m.result;
  });
  child.send(job);
  const [code] = await once(child, 'exit');
  if (!result) throw new Error(`the gRPC load client exited with ${code} and no result: ${stderr}`);
  const proxyCpuUsPerCall = proxyPids.length ? ((ticks1 - ticks0) / clockTicks()) * 1e6 / Math.max(1, result.calls) : NaN;
  return { ...result, proxyCpuUsPerCall };
}

export async function runGrpcBench(o: GrpcBenchOptions): Promise<GrpcBenchResult> {
  const log = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (!existsSync(ETCD_BIN)) throw new Error(`the gRPC benchmark needs ${ETCD_BIN} (apt-get install etcd-server)`);
  const dir = await mkdtemp(join(tmpdir(), 'countersign-grpc-bench-'));
  const stops: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const pki = await generateDevPki();
    await writeDevPki(pki, dir);
    const trusted = join(dir, 'etcd-trusted-cas.pem');
    await writeFile(trusted, pki.clientCa.certPem + pki.delegationCa.certPem);
    const etcd = await startEtcdCluster({
      n: 1, pkiDir: dir,
      flags: ['--cert-file', `${dir}/backend.crt`, '--key-file', `${dir}/backend.key`, '--client-cert-auth', '--trusted-ca-file', trusted, '--log-level', 'error'],
    });
    stops.unshift(() => etcd.stop());
    const etcdPort = etcd.members[0].clientPort;
    await putKey(pki, etcdPort);

    const targets = {} as Record<TargetId, { port: number; servername: string; caPem: string; pids: number[] }>;
    targets.direct = { port: etcdPort, servername: 'backend.internal', caPem: pki.backendCa.certPem, pids: [] };
    for (const mode of ['http', 'connection'] as const) {
      const port = await freePort();
      const cs = await startCountersign({ name: `grpc-${mode}`, dir, port, config: countersignConfig(mode, dir, port, etcdPort) });
      stops.unshift(() => cs.stop());
      targets[mode] = { port, servername: 'localhost', caPem: pki.edgeCa.certPem, pids: [cs.pid] };
    }

    const points = { direct: [], http: [], connection: [] } as Record<TargetId, Point[]>;
    for (let round = 0; round < o.rounds; round++) {
      // rotate the order each round so no target always runs first
      const order = TARGETS.map((_, i) => TARGETS[(i + round) % TARGETS.length]);
      for (const id of order) {
        const t = targets[id];
        const p = await measure({
          port: t.port, servername: t.servername, caPem: t.caPem, certPem: pki.clients.alice.certPem, keyPem: pki.clients.alice.keyPem,
          connections: o.connections, concurrency: o.concurrency, warmupMs: o.warmupSeconds * 1000, durationMs: o.seconds * 1000, key: KEY,
        }, t.pids);
        points[id].push(p);
        log(`  gRPC round ${round + 1} ${id.padEnd(10)} ${p.callsPerSecond.toFixed(0).padStart(6)} calls/s  p50 ${p.p50Ms.toFixed(2)} p99 ${p.p99Ms.toFixed(2)} ms  proxy ${Number.isFinite(p.proxyCpuUsPerCall) ? p.proxyCpuUsPerCall.toFixed(1) : '-'} µs/call${p.failures ? `  FAILED ${p.failures} (${p.firstError})` : ''}`);
      }
    }
    return { options: o, points, markdown: reportMarkdown(o, points) };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
  }
}

function reportMarkdown(o: GrpcBenchOptions, points: Record<TargetId, Point[]>): string {
  const med = (id: TargetId, f: (p: Point) => number) => median(points[id].map(f));
  const cell = (id: TargetId, f: (p: Point) => number, ratio: boolean) => {
    const v = med(id, f);
    if (!Number.isFinite(v)) return '–';
    return ratio && id !== 'direct' ? `${round3(v)} (${(v / med('direct', f)).toFixed(2)}×)` : String(round3(v));
  };
  const row = (label: string, f: (p: Point) => number, ratio = true) => `| ${label} | ${TARGETS.map((id) => cell(id, f, ratio)).join(' | ')} |`;
  return [
    `\`node dist/bench/grpc.js --rounds ${o.rounds} --seconds ${o.seconds} --connections ${o.connections} --concurrency ${o.concurrency}\` (${CLI}), ${new Date().toISOString()}, Node ${process.versions.node}, load average at the end ${loadavg()[0].toFixed(1)}.`,
    '',
    `etcd 3.4 \`KV/Range\` of one key (64-byte value), unary calls back to back from ${o.concurrency} streams over ${o.connections} HTTP/2 connections, client certificate alice; ${o.rounds} alternating round${o.rounds > 1 ? 's' : ''} of ${o.seconds} s after ${o.warmupSeconds} s of warm-up each, medians; ratios to direct in parentheses.`,
    '',
    `| | ${TARGETS.map((id) => LABELS[id]).join(' | ')} |`,
    '| --- | ---: | ---: | ---: |',
    row('unary calls/s', (p) => p.callsPerSecond),
    `| each round | ${TARGETS.map((id) => points[id].map((p) => p.callsPerSecond.toFixed(0)).join(', ')).join(' | ')} |`,
    row('p50 ms', (p) => p.p50Ms),
    row('p99 ms', (p) => p.p99Ms),
    row('proxy CPU µs / call', (p) => p.proxyCpuUsPerCall, false),
    row('load client CPU µs / call', (p) => (p.loadgenCpuS * 1e6) / Math.max(1, p.calls), false),
    `| failed calls (all rounds) | ${TARGETS.map((id) => points[id].reduce((a, p) => a + p.failures, 0)).join(' | ')} |`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, concurrency: { type: 'string' }, out: { type: 'string' },
    },
  });
  const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Math.max(1, Number(v) || fallback));
  const o: GrpcBenchOptions = {
    ...GRPC_DEFAULTS,
    rounds: num(values.rounds, GRPC_DEFAULTS.rounds), seconds: num(values.seconds, GRPC_DEFAULTS.seconds),
    connections: num(values.connections, GRPC_DEFAULTS.connections), concurrency: num(values.concurrency, GRPC_DEFAULTS.concurrency),
  };
  const r = await runGrpcBench(o);
  const md = `# gRPC through http mode\n\n${r.markdown}`;
  process.stdout.write(`\n${md}`);
  if (values.out) await writeFile(values.out, md);
}

// a program when run (`node dist/bench/grpc.js`), a module when bench/run.ts imports it
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (err) => { process.stderr.write(`gRPC bench failed: ${(err as Error).stack ?? err}\n`); process.exit(1); });
}
