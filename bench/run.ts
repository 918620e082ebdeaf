/**
 * `npm run bench`: countersign side by side with a direct connection and nginx,
 * in one run, on loopback. Sets everything up itself (temporary dev PKI, an
 * nginx mTLS backend, nginx as the KES guide's proxy, three countersign
 * processes) and measures, for each target, repeated and reported as medians:
 *
 * - requests/s on keep-alive connections (ab -k), with p50/p99;
 * - new connections/s for a returning identity (ab without -k) and for a
 *   first-time identity (bench/load-client.ts: a never-seen certificate each);
 * - the proxy's own CPU per request and per new connection (/proc/<pid>/stat);
 * - p99 added over a direct connection at a fixed rate, open loop: every
 *   target of a kind at half the best peer's maximum, and each countersign
 *   target at half its own maximum beside the best peer of its kind (steady
 *   state: before the first-time identities of the repeat); and connection
 *   mode once more right after them;
 * - peak RSS (VmHWM); and micro-benchmarks of mint and cached lookup;
 * - after the comparison (not with --quick), gRPC unary calls/s direct, through
 *   http mode and through connection mode (bench/grpc.ts, also bench/results/grpc.md).
 *
 * Options: --quick (about a minute), --repeats N, --seconds S, --update-docs
 * (rewrite the results block of docs/performance.md), --profile (instead of
 * the comparison: each workload against a fresh countersign under
 * `node --cpu-prof` and Linux perf, and nginx under perf, summarized in
 * bench/results/profile.md). Never part of `npm test`.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { certificatesDer } from '../src/pki/index.js';
import { generateDevPki, writeDevPki, type DevPki } from '../src/pki/dev/index.js';
import { AB_BIN, runAb, type AbResult } from './lib/ab.js';
import { generateClientCerts, type ClientCert } from './lib/client-certs.js';
import { countersignConfig, REPO_ROOT, startCountersign, startNodeServer, type CountersignVariant, type RunningCountersign } from './lib/countersign.js';
import type { FloorKind } from './floor-server.js';
import { GRPC_DEFAULTS, runGrpcBench } from './grpc.js';
import { summarizeCpuProfile } from './lib/cpu-profile.js';
import { perfAvailable, perfRecord, perfSummary } from './lib/perf.js';
import { machineInfo, type MachineInfo } from './lib/machine.js';
import { freePort, sleep } from './lib/net.js';
import { backendHttpBlock, NGINX_BIN, NGINX_STREAM_MODULE, nginxProxyHttpBlock, nginxStreamBlock, startNginx, type NginxProxyFiles, type RunningNginx } from './lib/nginx.js';
import { HAPROXY_BIN, startHaproxy } from './lib/haproxy.js';
import { CADDY_BIN, startCaddy } from './lib/caddy.js';
import { ratioChartSvg, type ChartGroup } from './lib/chart.js';
import { childPids, clockTicks, cpuTicksOf, loadAverage, machineTicks, peakRssKiB, rssKiB } from './lib/proc.js';
import {
  afterFloodLine, bestPeer, evaluateGoals, goalsMarkdown, halfOwnTable, isCountersign, machineMarkdown, markdownTable, microMarkdown, PEERS_OF, perRepeatRatio, resultsTable, seriesCell, SHORT_LABELS, textTable, TARGET_LABELS,
  type Goal, type MicroSummary, type Series, type TargetId, type TargetSummary,
} from './lib/report.js';
import { median } from './lib/stats.js';
import type { ConnectionsJob, ConnectionsResult, RateJob, RateResult } from './load-client.js';
import { runMicro } from './micro.js';

interface Params {
  repeats: number;
  /** length of each ab / open-loop point */
  seconds: number;
  warmupSeconds: number;
  kaConcurrency: number;
  ncConcurrency: number;
  /** connections per first-time-identity point (each a never-seen certificate) */
  firstTimeConns: number;
  ftConcurrency: number;
  /** also run the node client with a returning identity (same tool, to isolate the mint) */
  nodeReturning: boolean;
  latencySeconds: number;
  latencyConnections: number;
  microIterations: number;
  /** first-time identities driven through a fresh process per mode for the memory point */
  rssIdentities: number;
}

// Short points, more repeats: on a shared machine a burst of other load spoils one
// short point (and the median drops it) rather than a long one of every target.
const FULL: Params = {
  repeats: 5, seconds: 3, warmupSeconds: 1, kaConcurrency: 32, ncConcurrency: 16, firstTimeConns: 300, ftConcurrency: 16,
  nodeReturning: true, latencySeconds: 3, latencyConnections: 16, microIterations: 1000, rssIdentities: 10_000,
};
const QUICK: Params = {
  repeats: 1, seconds: 2, warmupSeconds: 1, kaConcurrency: 32, ncConcurrency: 16, firstTimeConns: 200, ftConcurrency: 16,
  nodeReturning: false, latencySeconds: 2, latencyConnections: 16, microIterations: 300, rssIdentities: 1_000,
};

const ORDER: TargetId[] = ['direct', 'connection', 'nginx-stream', 'haproxy-tcp', 'http', 'http-header', 'nginx', 'haproxy-http', 'caddy'];
const PROXIES: TargetId[] = ORDER.filter((id) => id !== 'direct');
/** L4 targets pay an upstream handshake per client connection; L7 ones reuse upstream connections */
const KIND_OF = (id: TargetId): 'l4' | 'l7' => (id === 'connection' || id === 'nginx-stream' || id === 'haproxy-tcp' ? 'l4' : 'l7');
const PEERS_OF_KIND = { l4: PEERS_OF.connection, l7: PEERS_OF.http };
const VARIANT: Record<'connection' | 'http' | 'http-header', CountersignVariant> = {
  connection: 'connection-delegated', http: 'http-delegated', 'http-header': 'http-header',
};

interface Target {
  port: number;
  /** processes whose CPU is "the proxy" (none for direct) */
  pids(): number[];
  /** the process whose VmHWM is reported */
  rssPid(): number | undefined;
}

/** What one measured point cost, beside the load generator's own result. */
interface Cost {
  wallS: number;
  proxyCpuS: number;
  backendCpuS: number;
  loadgenCpuS: number;
  /** CPU used by everything else on the machine during the point, % of all cores */
  otherPct: number;
  loadAvg: number;
}

interface KaPoint extends Cost { ab: AbResult; cpuUsPerReq: number; backendCpuUsPerReq: number }
interface NcPoint extends Cost { ab: AbResult; cpuUsPerConn: number }
interface FtPoint extends Cost { r: ConnectionsResult; cpuUsPerConn: number }
interface LatPoint { rate: number; target: RateResult & Cost; direct: RateResult & Cost; addedP99Ms: number }
/** a countersign target at half its own keep-alive max, with the best peer of its kind (that repeat) and direct at the same rate */
interface OwnRatePoint extends LatPoint { peer: TargetId; peerAt: RateResult & Cost; peerAddedP99Ms: number }
/** connection mode at the half-best-L4-peer rate right after the repeat's first-time identities */
interface AfterFloodPoint extends LatPoint { identities: number }

interface TargetPoints { ka: KaPoint[]; nc: NcPoint[]; ft: FtPoint[]; ncNode: FtPoint[]; lat: LatPoint[]; own: OwnRatePoint[]; afterFlood: AfterFloodPoint[] }

interface Env {
  work: string;
  pkiDir: string;
  pki: DevPki;
  aliceCertKeyPem: string;
  certsFile: string;
  aliceFile: string;
  certs: ClientCert[];
  backend: RunningNginx;
  cleanup: (() => Promise<unknown>)[];
}

const log = (msg: string) => process.stdout.write(`${msg}\n`);
const ticksToS = (t: number) => t / clockTicks();

function checkTools(): void {
  const missing: string[] = [];
  if (!existsSync(AB_BIN)) missing.push(`${AB_BIN} (apt-get install apache2-utils)`);
  if (!existsSync(NGINX_BIN)) missing.push(`${NGINX_BIN} (apt-get install nginx-light)`);
  if (!existsSync(NGINX_STREAM_MODULE)) missing.push(`${NGINX_STREAM_MODULE} (apt-get install libnginx-mod-stream)`);
  if (!existsSync(HAPROXY_BIN)) missing.push(`${HAPROXY_BIN} (apt-get install haproxy)`);
  if (!existsSync(CADDY_BIN)) missing.push(`${CADDY_BIN} (apt-get install caddy)`);
  if (missing.length) throw new Error(`the benchmark needs: ${missing.join(', ')}`);
}

async function setup(p: Params, extraCerts: number): Promise<Env> {
  const work = await mkdtemp(join(tmpdir(), 'countersign-bench-'));
  const cleanup: (() => Promise<unknown>)[] = [() => rm(work, { recursive: true, force: true })];
  const pkiDir = join(work, 'pki');
  const pki = await generateDevPki();
  await writeDevPki(pki, pkiDir);
  const aliceCertKeyPem = join(work, 'alice.pem');
  await writeFile(aliceCertKeyPem, pki.clients.alice.certPem + pki.clients.alice.keyPem, { mode: 0o600 });
  const trust = join(work, 'backend-trust.pem');
  await writeFile(trust, pki.delegationCa.certPem + pki.backendCa.certPem + pki.clientCa.certPem);

  const nCerts = Math.max(p.repeats * p.firstTimeConns + extraCerts, 2 * p.microIterations);
  const t = performance.now();
  const certs = await generateClientCerts({ certDer: certificatesDer(pki.clientCa.certPem)[0], key: createPrivateKey(pki.clientCa.keyPem) }, nCerts);
  log(`  ${nCerts} distinct client certificates in ${Math.round(performance.now() - t)} ms`);
  const certsFile = join(work, 'fresh-certs.json');
  await writeFile(certsFile, JSON.stringify(certs));
  const aliceFile = join(work, 'alice.json');
  await writeFile(aliceFile, JSON.stringify([{ certPem: pki.clients.alice.certPem, keyPem: pki.clients.alice.keyPem }]));

  const backendPort = await freePort();
  const backend = await startNginx('backend', work, backendPort, () => backendHttpBlock(backendPort, {
    cert: join(pkiDir, 'backend.crt'), key: join(pkiDir, 'backend.key'), trust,
  }));
  cleanup.unshift(() => backend.stop());
  return { work, pkiDir, pki, aliceCertKeyPem, certsFile, aliceFile, certs, backend, cleanup };
}

function proxyFiles(env: Env): NginxProxyFiles {
  const d = env.pkiDir;
  return {
    edgeCert: `${d}/edge.crt`, edgeKey: `${d}/edge.key`, clientCa: `${d}/client-ca.crt`,
    backendCa: `${d}/backend-ca.crt`, proxyCert: `${d}/proxy-client.crt`, proxyKey: `${d}/proxy-client.key`,
  };
}

/** nginx configured as the KES guide's proxy in front of the bench backend. */
async function startNginxProxy(env: Env, name: string, workers: number, port?: number): Promise<RunningNginx> {
  port ??= await freePort();
  const p = port;
  return startNginx(name, env.work, p, () => nginxProxyHttpBlock(p, env.backend.port, proxyFiles(env)), workers);
}

/** The L4 and L7 peers besides nginx's http proxy, one worker or thread each. */
async function startPeers(env: Env, targets: Record<TargetId, Target>): Promise<void> {
  const b = env.backend;
  const files = proxyFiles(env);
  const streamPort = await freePort();
  const stream = await startNginx('nginx-stream', env.work, streamPort, () => nginxStreamBlock(streamPort, b.port, files), 1);
  env.cleanup.unshift(() => stream.stop());
  targets['nginx-stream'] = { port: streamPort, pids: () => stream.pids(), rssPid: () => stream.workers()[0] };
  for (const mode of ['tcp', 'http'] as const) {
    const port = await freePort();
    const h = await startHaproxy({ name: `haproxy-${mode}`, dir: env.work, port, backendPort: b.port, mode, files, edge: env.pki.edge, proxyClient: env.pki.proxyClient });
    env.cleanup.unshift(() => h.stop());
    targets[`haproxy-${mode}`] = { port, pids: () => h.pids(), rssPid: () => h.pid };
  }
  const caddyPort = await freePort();
  const caddy = await startCaddy({ name: 'caddy', dir: env.work, port: caddyPort, backendPort: b.port, files });
  env.cleanup.unshift(() => caddy.stop());
  targets.caddy = { port: caddyPort, pids: () => caddy.pids(), rssPid: () => caddy.pid };
}

async function startTargets(env: Env): Promise<{ targets: Record<TargetId, Target>; countersign: Record<string, RunningCountersign> }> {
  const b = env.backend;
  const direct: Target = { port: b.port, pids: () => [], rssPid: () => b.workers()[0] };
  const d = env.pkiDir;
  const ng = await startNginxProxy(env, 'nginx-proxy', 1);
  env.cleanup.unshift(() => ng.stop());
  const nginx: Target = { port: ng.port, pids: () => ng.pids(), rssPid: () => ng.workers()[0] };
  const countersign: Record<string, RunningCountersign> = {};
  const targets = { direct, nginx } as Record<TargetId, Target>;
  await startPeers(env, targets);
  for (const id of ['connection', 'http', 'http-header'] as const) {
    const port = await freePort();
    const cs = await startCountersign({ name: id, dir: env.work, port, config: countersignConfig(VARIANT[id], d, port, b.port) });
    env.cleanup.unshift(() => cs.stop());
    countersign[id] = cs;
    targets[id] = { port, pids: () => [cs.pid], rssPid: () => cs.pid };
  }
  return { targets, countersign };
}

/** Seconds the run may still spend waiting for other load on the machine to pass. */
let quietBudgetS = 60;

/**
 * Before a point: if the machine is busy with something else (our processes are
 * idle between points), wait for it to pass, up to 5 s a point and 60 s a run.
 */
async function waitForQuiet(): Promise<void> {
  for (let waited = 0; waited < 5 && quietBudgetS > 0;) {
    const m0 = machineTicks();
    await sleep(250);
    const m1 = machineTicks();
    const busyPct = (100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total);
    if (busyPct < 20) return;
    waited += 0.25;
    quietBudgetS -= 0.25;
  }
}

/** Runs `fn` and reads the CPU the proxy, the backend and the rest of the machine spent meanwhile. */
async function measured<T extends { loadgenCpuS: number }>(target: Target, backend: RunningNginx, fn: () => Promise<T>, o: { quietFirst?: boolean } = {}): Promise<T & Cost> {
  if (interrupted) throw new Error('interrupted');
  if (o.quietFirst !== false) await waitForQuiet();
  const pids = target.pids();
  const bpids = backend.pids();
  const p0 = cpuTicksOf(pids);
  const b0 = cpuTicksOf(bpids);
  const m0 = machineTicks();
  const t0 = performance.now();
  const r = await fn();
  const wallS = (performance.now() - t0) / 1000;
  const proxyCpuS = ticksToS(cpuTicksOf(pids) - p0);
  const backendCpuS = ticksToS(cpuTicksOf(bpids) - b0);
  const m1 = machineTicks();
  const machineBusyS = ticksToS(m1.busy - m0.busy);
  const machineTotalS = ticksToS(m1.total - m0.total);
  const other = Math.max(0, machineBusyS - proxyCpuS - backendCpuS - (Number.isFinite(r.loadgenCpuS) ? r.loadgenCpuS : 0));
  return { ...r, wallS, proxyCpuS, backendCpuS, otherPct: machineTotalS > 0 ? (100 * other) / machineTotalS : 0, loadAvg: loadAverage() };
}

let jobSeq = 0;
async function loadClient<R>(env: Env, job: ConnectionsJob | RateJob): Promise<R> {
  const file = join(env.work, `job-${jobSeq++}.json`);
  await writeFile(file, JSON.stringify(job));
  const script = join(REPO_ROOT, 'dist/bench/load-client.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-10_000); });
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(line) as R);
      } catch (e) {
        reject(new Error(`load client failed (${(e as Error).message}): ${err}`));
      }
    });
  });
}

const ab = (env: Env, t: Target, p: Params, keepAlive: boolean, seconds: number) => runAb({
  port: t.port, certKeyPem: env.aliceCertKeyPem, keepAlive, concurrency: keepAlive ? p.kaConcurrency : p.ncConcurrency,
  seconds, csvFile: join(env.work, `ab-${jobSeq++}.csv`),
});

async function sanityCheck(env: Env, targets: Record<TargetId, Target>): Promise<void> {
  for (const id of ORDER) {
    const r = await loadClient<ConnectionsResult>(env, { mode: 'connections', port: targets[id].port, certsFile: env.aliceFile, from: 0, count: 2, concurrency: 1, sameCert: true, maxMs: 10_000 });
    if (r.completed !== 2) throw new Error(`${TARGET_LABELS[id]} does not answer 200 (${r.firstError ?? 'no response'})`);
  }
}

async function comparison(p: Params, opts: { updateDocs: boolean; quick: boolean }): Promise<void> {
  const started = Date.now();
  const machine = machineInfo(NGINX_BIN, AB_BIN);
  log(`countersign benchmark (${opts.quick ? 'quick' : 'full'}): ${machine.nproc} × ${machine.cpuModel}, Node ${machine.node}, nginx ${machine.nginx}, OpenSSL ${machine.openssl}`);
  log('setting up: dev PKI, client certificates, nginx backend, nginx proxy, countersign ×3');
  const env = await setup(p, p.rssIdentities);
  const results = {} as Record<TargetId, TargetPoints>;
  for (const id of ORDER) results[id] = { ka: [], nc: [], ft: [], ncNode: [], lat: [], own: [], afterFlood: [] };
  let micro: MicroSummary | undefined;
  try {
    log(`micro-benchmarks (${p.microIterations} iterations, 3 runs)`);
    const runs: MicroSummary[] = [];
    for (let i = 0; i < 3; i++) {
      await waitForQuiet();
      runs.push(await runMicro(env.pki, env.certs, p.microIterations));
    }
    micro = {
      iterations: p.microIterations,
      mintMissMedianUs: median(runs.map((m) => m.mintMissMedianUs)),
      mintMissP90Us: median(runs.map((m) => m.mintMissP90Us)),
      mintPlusContextMedianUs: median(runs.map((m) => m.mintPlusContextMedianUs)),
      cachedLookupMedianUs: median(runs.map((m) => m.cachedLookupMedianUs)),
      identifyReturningMedianUs: median(runs.map((m) => m.identifyReturningMedianUs)),
    };
    log(`  mint (miss) ${micro.mintMissMedianUs.toFixed(1)} µs, mint+context ${micro.mintPlusContextMedianUs.toFixed(1)} µs, cached lookup ${micro.cachedLookupMedianUs.toFixed(3)} µs`);

    const { targets, countersign } = await startTargets(env);
    // the one-process targets stop before the two-worker run, so they do not hold memory or ports
    const countersignStops = Object.values(countersign).map((c) => () => c.stop());
    await sanityCheck(env, targets);
    log('warm-up');
    for (const id of ORDER) {
      await ab(env, targets[id], p, true, p.warmupSeconds);
      await ab(env, targets[id], p, false, p.warmupSeconds);
    }
    const b = env.backend;
    const steadyRss = {} as Record<TargetId, number>;
    /** one open-loop point at `rate` against `id` */
    const atRate = (id: TargetId, rate: number, quietFirst = true) => measured(targets[id], b, () => loadClient<RateResult>(env, {
      mode: 'rate', port: targets[id].port, certPem: env.pki.clients.alice.certPem, keyPem: env.pki.clients.alice.keyPem,
      connections: p.latencyConnections, rate, durationMs: p.latencySeconds * 1000, warmupMs: Math.min(1000, p.latencySeconds * 200),
    }), { quietFirst });
    const halfOf = (rps: number) => Math.max(100, Math.round(rps * 0.5));
    const f = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(2));
    const errs = (r: RateResult) => (r.errors ? `  ERRORS ${r.errors} (${r.firstError})` : '');
    for (let rep = 0; rep < p.repeats; rep++) {
      // rotate the order each repeat so no target always runs first or last
      const order = ORDER.map((_, i) => ORDER[(i + rep) % ORDER.length]);
      log(`repeat ${rep + 1}/${p.repeats}`);
      for (const id of order) {
        const t = targets[id];
        const r = await measured(t, b, () => ab(env, t, p, true, p.seconds).then((ab) => ({ ab, loadgenCpuS: ab.loadgenCpuS })));
        const n = Math.max(1, r.ab.complete);
        results[id].ka.push({ ...r, cpuUsPerReq: id === 'direct' ? NaN : (r.proxyCpuS * 1e6) / n, backendCpuUsPerReq: (r.backendCpuS * 1e6) / n });
        log(`  keep-alive      ${id.padEnd(12)} ${r.ab.requestsPerSecond.toFixed(0).padStart(7)} req/s  p99 ${r.ab.p99Ms} ms  proxy ${id === 'direct' ? '-' : ((r.proxyCpuS * 1e6) / n).toFixed(1)} µs/req  ${r.ab.tls}${r.ab.failed ? `  FAILED ${r.ab.failed}` : ''}  other ${r.otherPct.toFixed(0)}%`);
      }
      for (const id of order) {
        const t = targets[id];
        const r = await measured(t, b, () => ab(env, t, p, false, p.seconds).then((ab) => ({ ab, loadgenCpuS: ab.loadgenCpuS })));
        const n = Math.max(1, r.ab.complete);
        results[id].nc.push({ ...r, cpuUsPerConn: id === 'direct' ? NaN : (r.proxyCpuS * 1e6) / n });
        log(`  new, returning  ${id.padEnd(12)} ${r.ab.requestsPerSecond.toFixed(0).padStart(7)} conn/s  proxy ${id === 'direct' ? '-' : ((r.proxyCpuS * 1e6) / n).toFixed(0)} µs/conn${r.ab.failed ? `  FAILED ${r.ab.failed}` : ''}  other ${r.otherPct.toFixed(0)}%`);
      }
      if (rep === 0) {
        // VmHWM so far: keep-alive and returning-identity load only, one identity
        for (const id of ORDER) { const pid = targets[id].rssPid(); steadyRss[id] = pid ? peakRssKiB(pid) / 1024 : NaN; }
      }
      // Fixed-rate points, steady state: before this repeat's first-time identities (their aftermath is measured apart, below).
      // p99 at half the best peer's maximum of this repeat, for every target of that kind; direct once per kind at the same rate, right after
      const halfPeer = {} as Record<'l4' | 'l7', { peer: TargetId; rate: number }>;
      for (const kind of ['l4', 'l7'] as const) {
        const peer = bestPeer(PEERS_OF_KIND[kind], (id) => results[id].ka[rep]?.ab.requestsPerSecond ?? NaN);
        const rate = halfOf(results[peer].ka[rep].ab.requestsPerSecond);
        halfPeer[kind] = { peer, rate };
        const rts: [TargetId, RateResult & Cost][] = [];
        for (const id of order.filter((x) => x !== 'direct' && KIND_OF(x) === kind)) rts.push([id, await atRate(id, rate)]);
        const rd = await atRate('direct', rate);
        for (const [id, rt] of rts) {
          results[id].lat.push({ rate, target: rt, direct: rd, addedP99Ms: rt.p99Ms - rd.p99Ms });
          log(`  50% of ${SHORT_LABELS[peer].padEnd(12)} ${id.padEnd(12)} ${String(rate).padStart(7)} req/s (achieved ${rt.achievedRate.toFixed(0)})  p50 ${f(rt.p50Ms)} p99 ${f(rt.p99Ms)} ms; direct p99 ${f(rd.p99Ms)} ms; added ${f(rt.p99Ms - rd.p99Ms)} ms${errs(rt)}`);
        }
      }
      // issue 24: each countersign target at half its own maximum of this repeat, the best peer of its kind and direct at that same rate
      for (const id of order.filter(isCountersign)) {
        const rate = halfOf(results[id].ka[rep].ab.requestsPerSecond);
        const peer = bestPeer(PEERS_OF[id], (x) => results[x].ka[rep]?.ab.requestsPerSecond ?? NaN);
        const rt = await atRate(id, rate);
        const rp = await atRate(peer, rate);
        const rd = await atRate('direct', rate);
        results[id].own.push({ rate, target: rt, direct: rd, addedP99Ms: rt.p99Ms - rd.p99Ms, peer, peerAt: rp, peerAddedP99Ms: rp.p99Ms - rd.p99Ms });
        log(`  50% of own max  ${id.padEnd(12)} ${String(rate).padStart(7)} req/s (achieved ${rt.achievedRate.toFixed(0)})  p99 ${f(rt.p99Ms)} ms, added ${f(rt.p99Ms - rd.p99Ms)} ms; ${SHORT_LABELS[peer]} p99 ${f(rp.p99Ms)}, added ${f(rp.p99Ms - rd.p99Ms)} ms; direct p99 ${f(rd.p99Ms)} ms${errs(rt)}${errs(rp)}`);
      }
      for (const id of order) {
        const t = targets[id];
        const job: ConnectionsJob = { mode: 'connections', port: t.port, certsFile: env.certsFile, from: rep * p.firstTimeConns, count: p.firstTimeConns, concurrency: p.ftConcurrency, maxMs: 60_000 };
        const r = await measured(t, b, () => loadClient<ConnectionsResult>(env, job));
        results[id].ft.push({ ...r, r, cpuUsPerConn: id === 'direct' ? NaN : (r.proxyCpuS * 1e6) / Math.max(1, r.completed) });
        log(`  new, first-time ${id.padEnd(12)} ${r.perSecond.toFixed(0).padStart(7)} conn/s  proxy ${id === 'direct' ? '-' : ((r.proxyCpuS * 1e6) / Math.max(1, r.completed)).toFixed(0)} µs/conn${r.errors ? `  ERRORS ${r.errors} (${r.firstError})` : ''}  other ${r.otherPct.toFixed(0)}%`);
        if (id === 'connection') {
          // the flood's aftermath, at once (no wait for a quiet machine): connection mode at the half-best-L4-peer rate, then direct at the same rate (not a target)
          const rate = halfPeer.l4.rate;
          const rt = await atRate('connection', rate, false);
          const rd = await atRate('direct', rate);
          results.connection.afterFlood.push({ rate, target: rt, direct: rd, addedP99Ms: rt.p99Ms - rd.p99Ms, identities: r.completed });
          log(`  right after ${r.completed} first-time identities: connection ${String(rate).padStart(7)} req/s (achieved ${rt.achievedRate.toFixed(0)})  p99 ${f(rt.p99Ms)} ms; direct p99 ${f(rd.p99Ms)} ms; added ${f(rt.p99Ms - rd.p99Ms)} ms${errs(rt)}`);
        }
        if (p.nodeReturning) {
          const job2: ConnectionsJob = { ...job, certsFile: env.aliceFile, from: 0, sameCert: true };
          const r2 = await measured(t, b, () => loadClient<ConnectionsResult>(env, job2));
          results[id].ncNode.push({ ...r2, r: r2, cpuUsPerConn: id === 'direct' ? NaN : (r2.proxyCpuS * 1e6) / Math.max(1, r2.completed) });
          log(`  new, returning* ${id.padEnd(12)} ${r2.perSecond.toFixed(0).padStart(7)} conn/s  proxy ${id === 'direct' ? '-' : ((r2.proxyCpuS * 1e6) / Math.max(1, r2.completed)).toFixed(0)} µs/conn (node client)`);
        }
      }
    }
    const summaries = {} as Record<TargetId, TargetSummary>;
    for (const id of ORDER) {
      const r = results[id];
      const rss = targets[id].rssPid();
      summaries[id] = {
        kaRps: median(r.ka.map((x) => x.ab.requestsPerSecond)),
        kaCpuUsPerReq: median(r.ka.map((x) => x.cpuUsPerReq)),
        kaP50Ms: median(r.ka.map((x) => x.ab.p50Ms)),
        kaP99Ms: median(r.ka.map((x) => x.ab.p99Ms)),
        backendCpuUsPerReq: median(r.ka.map((x) => x.backendCpuUsPerReq)),
        ncRps: median(r.nc.map((x) => x.ab.requestsPerSecond)),
        ncCpuUsPerConn: median(r.nc.map((x) => x.cpuUsPerConn)),
        ftRps: median(r.ft.map((x) => x.r.perSecond)),
        ftCpuUsPerConn: median(r.ft.map((x) => x.cpuUsPerConn)),
        ncNodeRps: median(r.ncNode.map((x) => x.r.perSecond)),
        ncNodeCpuUsPerConn: median(r.ncNode.map((x) => x.cpuUsPerConn)),
        halfLoadRate: median(r.lat.map((x) => x.rate)),
        halfLoadP50Ms: median(r.lat.map((x) => x.target.p50Ms)),
        halfLoadP99Ms: median(r.lat.map((x) => x.target.p99Ms)),
        directAtRateP99Ms: median(r.lat.map((x) => x.direct.p99Ms)),
        addedP99Ms: median(r.lat.map((x) => x.addedP99Ms)),
        addedP50Ms: median(r.lat.map((x) => x.target.p50Ms - x.direct.p50Ms)),
        ...(r.own.length ? {
          halfOwnRate: median(r.own.map((x) => x.rate)),
          halfOwnP99Ms: median(r.own.map((x) => x.target.p99Ms)),
          halfOwnAddedP99Ms: median(r.own.map((x) => x.addedP99Ms)),
          halfOwnPeer: mostOften(r.own.map((x) => x.peer)),
          peerAtHalfOwnAddedP99Ms: median(r.own.map((x) => x.peerAddedP99Ms)),
          directAtHalfOwnP99Ms: median(r.own.map((x) => x.direct.p99Ms)),
        } : {}),
        ...(r.afterFlood.length ? {
          afterFloodRate: median(r.afterFlood.map((x) => x.rate)),
          afterFloodAddedP99Ms: median(r.afterFlood.map((x) => x.addedP99Ms)),
          afterFloodIdentities: median(r.afterFlood.map((x) => x.identities)),
        } : {}),
        steadyRssMiB: steadyRss[id],
        peakRssMiB: rss ? peakRssKiB(rss) / 1024 : NaN,
        firstTimeIdentities: p.repeats * p.firstTimeConns,
      };
    }
    const noise = {
      medianOtherCpuPct: median(ORDER.flatMap((id) => [...results[id].ka, ...results[id].nc].map((x) => x.otherPct))),
      maxOtherCpuPct: Math.max(...ORDER.flatMap((id) => [...results[id].ka, ...results[id].nc].map((x) => x.otherPct))),
      quietWaitS: 60 - quietBudgetS,
    };
    const per = <K extends keyof Series>(k: K, f: (x: TargetPoints) => number[]) => Object.fromEntries(ORDER.map((id) => [id, f(results[id])])) as Series[K];
    const series: Series = {
      kaRps: per('kaRps', (x) => x.ka.map((k) => k.ab.requestsPerSecond)),
      kaCpuUsPerReq: per('kaCpuUsPerReq', (x) => x.ka.map((k) => k.cpuUsPerReq)),
      ncRps: per('ncRps', (x) => x.nc.map((k) => k.ab.requestsPerSecond)),
      ftRps: per('ftRps', (x) => x.ft.map((k) => k.r.perSecond)),
    };
    const goals = evaluateGoals(summaries, micro, series);
    for (const c of countersignStops) await c();
    const chart = chartGroups(series);
    const twoWorkers = await twoWorkerRun(env, p, summaries);
    const floors = await floorRun(env, p);
    const memory = await memoryRun(env, p);
    const grpc = opts.quick ? undefined : await grpcRun();
    const durationS = Math.round((Date.now() - started) / 1000);
    await report({ machine, params: p, quick: opts.quick, summaries, results, micro, goals, durationS, noise, updateDocs: opts.updateDocs, twoWorkers, floors, memory, chart, grpc });
  } finally {
    for (const c of env.cleanup) await c().catch(() => {});
  }
}

/** The value seen most often (the first of equals). */
function mostOften<T>(values: T[]): T | undefined {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: T | undefined;
  for (const [v, n] of counts) if (best === undefined || n > counts.get(best)!) best = v;
  return best;
}

/** countersign ÷ each peer of its kind, per mode and metric (median of per-repeat ratios). */
function chartGroups(series: Series): ChartGroup[] {
  const metrics: [keyof Series, string][] = [['kaRps', 'keep-alive req/s'], ['ncRps', 'new conn/s'], ['ftRps', 'first-time conn/s']];
  const groups: ChartGroup[] = [];
  for (const id of ['connection', 'http', 'http-header'] as const) {
    for (const [metric, label] of metrics) {
      groups.push({
        label: `${SHORT_LABELS[id]} · ${label}`,
        bars: PEERS_OF[id].map((peer) => ({ peer: SHORT_LABELS[peer], ratio: perRepeatRatio(series[metric][id], series[metric][peer]) })),
      });
    }
  }
  return groups;
}

/**
 * Issue 24's gRPC row: bench/grpc.ts with its defaults (its own etcd and
 * countersign processes), also written to bench/results/grpc.md. A failure
 * (no etcd, say) is reported in the section rather than losing the run.
 */
async function grpcRun(): Promise<string> {
  log(`gRPC: direct, http mode, connection mode, ${GRPC_DEFAULTS.rounds} rounds of ${GRPC_DEFAULTS.seconds} s (bench/grpc.ts)`);
  try {
    const r = await runGrpcBench({ ...GRPC_DEFAULTS, log });
    const dir = join(REPO_ROOT, 'bench/results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'grpc.md'), `# gRPC through http mode\n\n${r.markdown}`);
    return r.markdown;
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    log(`  gRPC benchmark failed: ${first}`);
    return `Not measured: ${first}`;
  }
}

interface MemoryPoint { id: 'connection' | 'http'; identities: number; completed: number; errors: number; rssBeforeMiB: number; rssAfterMiB: number; peakMiB: number; perIdentityKiB: number }

/**
 * RSS after many first-time identities: a fresh countersign per mode (default
 * settings: cache size, pools), one returning request to warm it, then
 * `rssIdentities` connections each with a never-seen certificate.
 */
async function memoryRun(env: Env, p: Params): Promise<MemoryPoint[]> {
  log(`memory: ${p.rssIdentities} first-time identities through a fresh process per mode`);
  const out: MemoryPoint[] = [];
  const from = p.repeats * p.firstTimeConns;
  for (const id of ['connection', 'http'] as const) {
    const port = await freePort();
    const cs = await startCountersign({ name: `${id}-memory`, dir: env.work, port, config: countersignConfig(VARIANT[id], env.pkiDir, port, env.backend.port) });
    try {
      await loadClient<ConnectionsResult>(env, { mode: 'connections', port, certsFile: env.aliceFile, from: 0, count: 20, concurrency: 4, sameCert: true, maxMs: 20_000 });
      const before = rssKiB(cs.pid) / 1024;
      const r = await loadClient<ConnectionsResult>(env, { mode: 'connections', port, certsFile: env.certsFile, from, count: p.rssIdentities, concurrency: p.ftConcurrency, maxMs: 600_000 });
      const after = rssKiB(cs.pid) / 1024;
      const point = { id, identities: p.rssIdentities, completed: r.completed, errors: r.errors, rssBeforeMiB: before, rssAfterMiB: after, peakMiB: peakRssKiB(cs.pid) / 1024, perIdentityKiB: ((after - before) * 1024) / Math.max(1, r.completed) };
      out.push(point);
      log(`  ${id.padEnd(12)} RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB after ${r.completed} identities (peak ${point.peakMiB.toFixed(0)} MiB, ${point.perIdentityKiB.toFixed(1)} KiB each)${r.errors ? `  ERRORS ${r.errors} (${r.firstError})` : ''}`);
    } finally {
      await cs.stop();
    }
  }
  return out;
}

type TwoWorkerId = 'connection' | 'http' | 'nginx';
interface TwoWorkerSummary {
  header: string[];
  rows: string[][];
  points: Record<TwoWorkerId, { kaRps: number[]; kaCpuUs: number[]; ncRps: number[]; ncCpuUs: number[]; ftRps: number[]; ftCpuUs: number[] }>;
}

/**
 * The issue's "run with 2": countersign connection and http (delegated) with
 * `workers: 2` against nginx with two workers; keep-alive, returning and
 * first-time new connections, the same points as the one-process run.
 */
async function twoWorkerRun(env: Env, p: Params, one: Record<TargetId, TargetSummary>): Promise<TwoWorkerSummary> {
  log('two worker processes: countersign workers: 2, nginx worker_processes 2');
  const b = env.backend;
  const d = env.pkiDir;
  const ng = await startNginxProxy(env, 'nginx-proxy-2', 2);
  const stops: (() => Promise<unknown>)[] = [() => ng.stop()];
  const targets = { nginx: { port: ng.port, pids: () => ng.pids(), rssPid: () => undefined } } as Record<TwoWorkerId, Target>;
  try {
    for (const id of ['connection', 'http'] as const) {
      const port = await freePort();
      const config = { ...countersignConfig(VARIANT[id], d, port, b.port), workers: 2 };
      const cs = await startCountersign({ name: `${id}-2`, dir: env.work, port, config });
      stops.push(() => cs.stop());
      targets[id] = { port, pids: () => [cs.pid, ...childPids(cs.pid)], rssPid: () => undefined };
    }
    const ids: TwoWorkerId[] = ['connection', 'http', 'nginx'];
    const points = Object.fromEntries(ids.map((id) => [id, { kaRps: [], kaCpuUs: [], ncRps: [], ncCpuUs: [], ftRps: [], ftCpuUs: [] }])) as unknown as TwoWorkerSummary['points'];
    for (const id of ids) { await ab(env, targets[id], p, true, p.warmupSeconds); await ab(env, targets[id], p, false, p.warmupSeconds); }
    for (let rep = 0; rep < p.repeats; rep++) {
      const order = ids.map((_, i) => ids[(i + rep) % ids.length]);
      for (const id of order) {
        const r = await measured(targets[id], b, () => ab(env, targets[id], p, true, p.seconds).then((a) => ({ ab: a, loadgenCpuS: a.loadgenCpuS })));
        points[id].kaRps.push(r.ab.requestsPerSecond);
        points[id].kaCpuUs.push((r.proxyCpuS * 1e6) / Math.max(1, r.ab.complete));
        log(`  ×2 keep-alive      ${id.padEnd(12)} ${r.ab.requestsPerSecond.toFixed(0).padStart(7)} req/s${r.ab.failed ? `  FAILED ${r.ab.failed}` : ''}`);
      }
      for (const id of order) {
        const r = await measured(targets[id], b, () => ab(env, targets[id], p, false, p.seconds).then((a) => ({ ab: a, loadgenCpuS: a.loadgenCpuS })));
        points[id].ncRps.push(r.ab.requestsPerSecond);
        points[id].ncCpuUs.push((r.proxyCpuS * 1e6) / Math.max(1, r.ab.complete));
        log(`  ×2 new, returning  ${id.padEnd(12)} ${r.ab.requestsPerSecond.toFixed(0).padStart(7)} conn/s${r.ab.failed ? `  FAILED ${r.ab.failed}` : ''}`);
      }
      for (const id of order) {
        const job: ConnectionsJob = { mode: 'connections', port: targets[id].port, certsFile: env.certsFile, from: rep * p.firstTimeConns, count: p.firstTimeConns, concurrency: p.ftConcurrency, maxMs: 60_000 };
        const r = await measured(targets[id], b, () => loadClient<ConnectionsResult>(env, job));
        points[id].ftRps.push(r.perSecond);
        points[id].ftCpuUs.push((r.proxyCpuS * 1e6) / Math.max(1, r.completed));
        log(`  ×2 new, first-time ${id.padEnd(12)} ${r.perSecond.toFixed(0).padStart(7)} conn/s${r.errors ? `  ERRORS ${r.errors} (${r.firstError})` : ''}`);
      }
    }
    const cell = (k: keyof TwoWorkerSummary['points']['nginx'], id: TwoWorkerId) => seriesCell(points[id][k], id === 'nginx' ? undefined : points.nginx[k]);
    const scale = (id: TwoWorkerId, k: 'kaRps' | 'ncRps' | 'ftRps') => {
      const base = id === 'nginx' ? one.nginx : one[id];
      const v = k === 'kaRps' ? base.kaRps : k === 'ncRps' ? base.ncRps : base.ftRps;
      return `${(median(points[id][k]) / v).toFixed(2)}×`;
    };
    const header = ['metric (median of repeats)', 'cs connection ×2', 'cs http delegated ×2', 'nginx ×2'];
    const rows = [
      ['keep-alive req/s', ...ids.map((id) => cell('kaRps', id))],
      ['proxy CPU µs / request (keep-alive)', ...ids.map((id) => cell('kaCpuUs', id))],
      ['new conn/s, returning identity (ab)', ...ids.map((id) => cell('ncRps', id))],
      ['proxy CPU µs / new conn, returning', ...ids.map((id) => cell('ncCpuUs', id))],
      ['new conn/s, first-time identity (node client)', ...ids.map((id) => cell('ftRps', id))],
      ['proxy CPU µs / new conn, first-time', ...ids.map((id) => cell('ftCpuUs', id))],
      ['keep-alive req/s × one process', ...ids.map((id) => scale(id, 'kaRps'))],
      ['new conn/s (returning) × one process', ...ids.map((id) => scale(id, 'ncRps'))],
      ['new conn/s (first-time) × one process', ...ids.map((id) => scale(id, 'ftRps'))],
    ];
    return { header, rows, points };
  } finally {
    for (const s of stops) await s().catch(() => {});
  }
}

type FloorId = 'nginx' | 'https' | 'undici' | 'http' | 'tls-pipe' | 'connection';
interface FloorSummary {
  repeats: number;
  header: string[];
  rows: string[][];
  points: Record<FloorId, { kaRps: number[]; kaCpuUs: number[]; ncRps: number[]; ncCpuUs: number[] }>;
}
const FLOOR_LABELS: Record<FloorId, string> = {
  nginx: 'nginx', https: 'node https, answers itself', undici: 'node https + undici', http: 'cs http delegated',
  'tls-pipe': 'node TLS pipe', connection: 'cs connection',
};

/**
 * Node floors: the least a Node proxy can cost here (bench/floor-server.ts),
 * beside nginx and countersign in one rotation, keep-alive and returning new
 * connections. Says how much of each gap to nginx is Node's and how much ours.
 */
async function floorRun(env: Env, p: Params): Promise<FloorSummary> {
  const repeats = Math.min(p.repeats, 3);
  log(`node floors: ${repeats} repeat${repeats > 1 ? 's' : ''}`);
  const b = env.backend;
  const ids: FloorId[] = ['nginx', 'https', 'undici', 'http', 'tls-pipe', 'connection'];
  const ng = await startNginxProxy(env, 'nginx-proxy-floor', 1);
  const stops: (() => Promise<unknown>)[] = [() => ng.stop()];
  const targets = { nginx: { port: ng.port, pids: () => ng.pids(), rssPid: () => undefined } } as Record<FloorId, Target>;
  try {
    for (const id of ids) {
      if (id === 'nginx') continue;
      const port = await freePort();
      const server = id === 'http' || id === 'connection'
        ? await startCountersign({ name: `${id}-floor`, dir: env.work, port, config: countersignConfig(VARIANT[id], env.pkiDir, port, b.port) })
        : await startNodeServer(`floor ${id}`, [join(REPO_ROOT, 'dist/bench/floor-server.js'), id satisfies FloorKind, String(port), String(b.port), env.pkiDir], port);
      stops.push(() => server.stop());
      targets[id] = { port, pids: () => [server.pid], rssPid: () => undefined };
    }
    for (const id of ids) await ab(env, targets[id], p, true, p.warmupSeconds);
    const points = Object.fromEntries(ids.map((id) => [id, { kaRps: [], kaCpuUs: [], ncRps: [], ncCpuUs: [] }])) as unknown as FloorSummary['points'];
    for (let rep = 0; rep < repeats; rep++) {
      const order = ids.map((_, i) => ids[(i + rep) % ids.length]);
      for (const keepAlive of [true, false]) {
        for (const id of order) {
          const t = targets[id];
          const r = await measured(t, b, () => ab(env, t, p, keepAlive, p.seconds).then((ab) => ({ ab, loadgenCpuS: ab.loadgenCpuS })));
          if (r.ab.failed || r.ab.non2xx) throw new Error(`floor point ${FLOOR_LABELS[id]} had ${r.ab.failed} failed and ${r.ab.non2xx} non-2xx responses`);
          const us = (r.proxyCpuS * 1e6) / Math.max(1, r.ab.complete);
          (keepAlive ? points[id].kaRps : points[id].ncRps).push(r.ab.requestsPerSecond);
          (keepAlive ? points[id].kaCpuUs : points[id].ncCpuUs).push(us);
          log(`  ${keepAlive ? 'keep-alive' : 'new, returning'} ${FLOOR_LABELS[id].padEnd(28)} ${r.ab.requestsPerSecond.toFixed(0).padStart(7)} ${keepAlive ? 'req' : 'conn'}/s  ${us.toFixed(keepAlive ? 1 : 0)} µs`);
        }
      }
    }
    type K = keyof FloorSummary['points']['nginx'];
    const cell = (k: K, id: FloorId) => seriesCell(points[id][k], id === 'nginx' ? undefined : points.nginx[k]);
    // countersign over the floor of its own mode
    const FLOOR_OF: Partial<Record<FloorId, FloorId>> = { http: 'undici', connection: 'tls-pipe' };
    const overFloor = (k: 'kaRps' | 'ncRps', id: FloorId) => {
      const floor = FLOOR_OF[id];
      return floor ? `${perRepeatRatio(points[id][k], points[floor][k]).toFixed(2)}×` : '';
    };
    const header = ['metric (median of repeats)', ...ids.map((id) => FLOOR_LABELS[id])];
    const rows = [
      ['keep-alive req/s', ...ids.map((id) => cell('kaRps', id))],
      ['CPU µs / request (keep-alive)', ...ids.map((id) => cell('kaCpuUs', id))],
      ['new conn/s, returning identity (ab)', ...ids.map((id) => cell('ncRps', id))],
      ['CPU µs / new conn', ...ids.map((id) => cell('ncCpuUs', id))],
      ['keep-alive req/s ÷ floor', ...ids.map((id) => overFloor('kaRps', id))],
      ['new conn/s ÷ floor', ...ids.map((id) => overFloor('ncRps', id))],
    ];
    return { repeats, header, rows, points };
  } finally {
    for (const s of stops) await s().catch(() => {});
  }
}

async function report(r: {
  machine: MachineInfo; params: Params; quick: boolean; summaries: Record<TargetId, TargetSummary>; results: Record<TargetId, TargetPoints>;
  micro?: MicroSummary; goals: Goal[]; durationS: number; noise: { medianOtherCpuPct: number; maxOtherCpuPct: number; quietWaitS: number }; updateDocs: boolean;
  twoWorkers: TwoWorkerSummary; floors: FloorSummary; memory: MemoryPoint[]; chart: ChartGroup[];
  /** the gRPC section's markdown (bench/grpc.ts); none in a quick run */
  grpc?: string;
}): Promise<void> {
  const { header, rows } = resultsTable(ORDER, r.summaries);
  const half = halfOwnTable(r.summaries);
  const afterFlood = afterFloodLine(r.summaries);
  const p = r.params;
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const method = [
    `${p.repeats} repeat${p.repeats > 1 ? 's' : ''}, medians; ${p.seconds} s per point; targets in rotating order.`,
    `Keep-alive: \`ab -k -c ${p.kaConcurrency}\` (HTTP/1.0 keep-alive, TLS 1.3). Returning identity: \`ab -c ${p.ncConcurrency}\`, a full handshake per connection.`,
    `First-time identity: bench/load-client.ts, ${p.firstTimeConns} connections per point at concurrency ${p.ftConcurrency}, each with a never-seen client certificate (${p.repeats * p.firstTimeConns} in all, which is what the last RSS row holds). "returning identity (node client)" is the same tool with one certificate, to separate the tool from the mint.`,
    `Fixed rate: open-loop client (bench/load-client.ts, presenting alice's certificate), ${p.latencyConnections} keep-alive connections, ${p.latencySeconds} s a point, latency from the intended send time; direct measured at the same rate right after. Every fixed-rate point of a repeat runs before that repeat's first-time identities (steady state).`,
    `Peers, one worker or thread each, with their documented best settings: ${PROXIES.filter((id) => !isCountersign(id)).map((id) => TARGET_LABELS[id]).join('; ')}. countersign's ratios in parentheses are to the best peer of its kind for that row (connection mode: the L4 peers; http mode: the L7 ones), named beside the ratio; higher is better for rates, lower for CPU and RSS. countersign logs at \`warn\` (the peers: no access log).`,
    `50% load: every target of a kind at half the best peer's keep-alive max of that repeat (the table's rows "at that rate"); and each countersign target at half its own keep-alive max of that repeat, beside the best peer of its kind (that repeat's) and direct at the same rate (below the table).`,
    `Other load on the machine during ab points (CPU not used by the proxy, the backend or ab): median ${r.noise.medianOtherCpuPct.toFixed(0)}% of all cores, max ${r.noise.maxOtherCpuPct.toFixed(0)}%; ${r.noise.quietWaitS.toFixed(0)} s spent waiting for other load to pass before points.`,
  ];
  const md = [
    `## Results (${r.quick ? 'quick run' : 'full run'}, ${when}, ${r.durationS} s)`,
    '',
    machineMarkdown(r.machine),
    '',
    ...method.map((m) => `- ${m}`),
    '',
    markdownTable(header, rows),
    '',
    '### Tail latency at half our own maximum',
    '',
    'Issue 24\'s point: each countersign target at a fixed rate of half its own keep-alive max, the best peer of its kind and direct at that same rate (medians of the repeats; the peer named is the one most often best).',
    '',
    markdownTable(half.header, half.rows),
    ...(afterFlood ? ['', afterFlood] : []),
    '',
    '### Targets',
    '',
    'Ratio targets are judged on the median of the per-repeat ratios (targets of one repeat run seconds apart, so a slow minute moves both sides together); the medians of the values are shown beside them.',
    '',
    goalsMarkdown(r.goals),
    '',
    ...(r.micro ? ['### Micro-benchmarks', '', microMarkdown(r.micro), ''] : []),
    '### Ratios to the peers',
    '',
    `![countersign ÷ each peer, per mode and metric](${r.quick ? '../bench/results/quick-ratios.svg' : 'performance-ratios.svg'})`,
    '',
    '### Memory per identity',
    '',
    markdownTable(['mode', 'first-time identities', 'RSS before MiB', 'RSS after MiB', 'peak MiB', 'KiB per identity'],
      r.memory.map((m) => [SHORT_LABELS[m.id], `${m.completed} of ${m.identities}${m.errors ? ` (${m.errors} errors)` : ''}`, m.rssBeforeMiB.toFixed(0), m.rssAfterMiB.toFixed(0), m.peakMiB.toFixed(0), m.perIdentityKiB.toFixed(1)])),
    '',
    '### Two worker processes',
    '',
    `countersign with \`workers: 2\` against nginx with \`worker_processes 2\`, same backend and load (${p.repeats} repeat${p.repeats > 1 ? 's' : ''}, medians; CPU is the primary's and both workers'). On this 2-core machine the load generator and the backend share the same two cores, so two workers cannot double anything; "× one process" compares with the same target's one-process median above.`,
    '',
    markdownTable(r.twoWorkers.header, r.twoWorkers.rows),
    '',
    '### Node floors',
    '',
    `What Node itself costs, measured in the same run: \`bench/floor-server.ts\` with countersign's edge settings (same certificates, client certificates verified by OpenSSL) and nothing else — an https server answering the body itself; that server forwarding through one undici \`Pool\` with a raw dispatch handler; a TLS server piping each connection to an upstream TLS connection that resumes one stored session. One process each, beside nginx (one worker) and countersign, ${r.floors.repeats} repeat${r.floors.repeats > 1 ? 's' : ''}, medians; ratios to nginx, and "÷ floor" is countersign's rate over the floor of its mode (1.00× = countersign costs nothing beyond Node).`,
    '',
    markdownTable(r.floors.header, r.floors.rows),
    '',
    ...(r.grpc ? ['### gRPC through http mode', '', r.grpc, ''] : []),
  ].join('\n');

  log('');
  log(textTable(header, rows));
  log('');
  log(textTable(half.header, half.rows));
  if (afterFlood) log(afterFlood);
  log('');
  log(textTable(r.twoWorkers.header, r.twoWorkers.rows));
  log('');
  log(textTable(r.floors.header, r.floors.rows));
  log('');
  for (const g of r.goals) log(`${g.status === 'met' ? '  met   ' : '  MISSED'}  ${g.goal}: ${g.measured}${g.by ? ` (${g.by})` : ''}`);
  const dir = join(REPO_ROOT, 'bench/results');
  await mkdir(dir, { recursive: true });
  const base = r.quick ? 'quick' : 'latest';
  const svg = ratioChartSvg(`countersign ÷ peer, same run (${when}, Node ${r.machine.node})`, r.chart);
  await writeFile(r.quick ? join(dir, 'quick-ratios.svg') : join(REPO_ROOT, 'docs/performance-ratios.svg'), svg);
  await writeFile(join(dir, `${base}.md`), `# countersign benchmark\n\n${md.replace('](performance-ratios.svg)', '](../../docs/performance-ratios.svg)').replace('](../bench/results/quick-ratios.svg)', '](quick-ratios.svg)')}`);
  await writeFile(join(dir, `${base}.json`), JSON.stringify({
    when, durationS: r.durationS, quick: r.quick, machine: r.machine, params: r.params, noise: r.noise, labels: TARGET_LABELS,
    summaries: r.summaries, goals: r.goals, micro: r.micro, points: r.results, twoWorkers: r.twoWorkers, floors: r.floors, memory: r.memory, chart: r.chart,
  }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
  log(`\nwritten: bench/results/${base}.md, bench/results/${base}.json`);
  if (r.updateDocs) {
    const docs = join(REPO_ROOT, 'docs/performance.md');
    const text = await readFile(docs, 'utf8').catch(() => '');
    const start = '<!-- bench:results:start -->';
    const end = '<!-- bench:results:end -->';
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) { log(`docs/performance.md has no ${start} … ${end} block; not updated`); return; }
    await writeFile(docs, `${text.slice(0, i + start.length)}\n${md.replace(/^## /, '### ').replace(/^### (Tail|Targets|Micro)/gm, '#### $1')}\n${text.slice(j)}`);
    log('updated: docs/performance.md');
  }
}

/**
 * `--profile`: each workload against a fresh countersign under `node --cpu-prof`
 * and, when available, Linux perf (which also sees native work run from the event
 * loop and the kernel); nginx under perf with the same workloads for comparison.
 */
async function profile(p: Params): Promise<void> {
  const machine = machineInfo(NGINX_BIN, AB_BIN);
  const ftCount = Math.min(p.firstTimeConns, 600);
  // fresh certificates: ftCount for each first-time workload of countersign, 50 for each warm-up
  const env = await setup({ ...p, repeats: 0 }, 3 * ftCount + 150);
  const profDir = await mkdtemp(join(tmpdir(), 'countersign-profiles-'));
  const usePerf = perfAvailable();
  if (!usePerf) log('perf is not available: V8 profiles only');
  type Load = 'ka' | 'nc' | 'ft';
  const workloads: { name: string; variant: CountersignVariant | 'nginx'; load: Load }[] = [
    { name: 'connection-keepalive', variant: 'connection-delegated', load: 'ka' },
    { name: 'http-keepalive', variant: 'http-delegated', load: 'ka' },
    { name: 'http-header-keepalive', variant: 'http-header', load: 'ka' },
    { name: 'nginx-keepalive', variant: 'nginx', load: 'ka' },
    { name: 'connection-new-returning', variant: 'connection-delegated', load: 'nc' },
    { name: 'http-new-returning', variant: 'http-delegated', load: 'nc' },
    { name: 'nginx-new-returning', variant: 'nginx', load: 'nc' },
    { name: 'connection-new-first-time', variant: 'connection-delegated', load: 'ft' },
    { name: 'http-new-first-time', variant: 'http-delegated', load: 'ft' },
    { name: 'nginx-new-first-time', variant: 'nginx', load: 'ft' },
  ];
  const sections: string[] = [];
  const json: Record<string, unknown> = {};
  let ftFrom = 0;
  let warmFrom = 3 * ftCount;
  try {
    for (const w of workloads) {
      if (w.variant === 'nginx' && !usePerf) continue;
      const port = await freePort();
      const spawnedAt = performance.now();
      let stop: () => Promise<unknown>;
      let t: Target;
      if (w.variant === 'nginx') {
        const ng = await startNginxProxy(env, `prof-${w.name}`, 1, port);
        stop = () => ng.stop();
        t = { port, pids: () => ng.pids(), rssPid: () => ng.workers()[0] };
      } else {
        const cs = await startCountersign({
          name: `prof-${w.name}`, dir: env.work, port, config: countersignConfig(w.variant, env.pkiDir, port, env.backend.port),
          nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${w.name}.cpuprofile`],
        });
        stop = () => cs.stop();
        t = { port, pids: () => [cs.pid], rssPid: () => cs.pid };
      }
      let line = '';
      let window = { fromMs: 0, toMs: Infinity };
      const perfFile = join(profDir, `${w.name}.perf.data`);
      try {
        // warm up (JIT, pools, sessions) outside the profiled window
        if (w.load === 'ft') {
          await loadClient<ConnectionsResult>(env, { mode: 'connections', port, certsFile: env.certsFile, from: warmFrom, count: 50, concurrency: p.ftConcurrency, maxMs: 30_000 });
          warmFrom += 50;
        }
        else await ab(env, t, p, w.load === 'ka', 1);
        const loadFrom = performance.now() - spawnedAt;
        const pid = w.variant === 'nginx' ? t.rssPid()! : t.pids()[0];
        const perf = usePerf ? perfRecord(pid, w.load === 'ft' ? 2 : Math.max(1, p.seconds - 1), perfFile) : undefined;
        if (w.load === 'ft') {
          // first-time identities: each workload gets certificates no process has seen
          const job: ConnectionsJob = { mode: 'connections', port, certsFile: env.certsFile, from: ftFrom, count: ftCount, concurrency: p.ftConcurrency, maxMs: 60_000 };
          ftFrom += ftCount;
          const r = await measured(t, env.backend, () => loadClient<ConnectionsResult>(env, job));
          line = `${r.perSecond.toFixed(0)} conn/s, ${((r.proxyCpuS * 1e6) / r.completed).toFixed(0)} µs CPU/conn`;
        } else {
          const r = await measured(t, env.backend, () => ab(env, t, p, w.load === 'ka', p.seconds).then((ab) => ({ ab, loadgenCpuS: ab.loadgenCpuS })));
          line = `${r.ab.requestsPerSecond.toFixed(0)} ${w.load === 'ka' ? 'req' : 'conn'}/s, ${((r.proxyCpuS * 1e6) / r.ab.complete).toFixed(w.load === 'ka' ? 1 : 0)} µs CPU/${w.load === 'ka' ? 'req' : 'conn'}`;
        }
        window = { fromMs: loadFrom + 100, toMs: performance.now() - spawnedAt - 100 };
        await perf?.done;
      } finally {
        await stop();
      }
      const section = [`### ${w.name}`, '', `${line} (under the profilers).`, ''];
      const entry: Record<string, unknown> = { load: line };
      log(`\n${w.name}: ${line}`);
      const perfS = usePerf && existsSync(perfFile) ? perfSummary(perfFile, 25) : undefined;
      if (perfS) {
        entry.perf = perfS;
        log(`  perf (${perfS.samples} samples): ${perfS.byCategory.map((c) => `${c.category} ${c.pct}%`).join(', ')}`);
        section.push(`perf, whole process (${perfS.samples} samples):`, '',
          markdownTable(['category', '%'], perfS.byCategory.map((c) => [c.category, `${c.pct}%`])), '',
          '<details><summary>top symbols (perf)</summary>', '',
          markdownTable(['%', 'symbol', 'category'], perfS.top.map((x) => [`${x.pct}%`, `\`${x.sym.slice(0, 70)}\``, x.category])), '', '</details>', '');
      }
      const file = join(profDir, `${w.name}.cpuprofile`);
      if (w.variant !== 'nginx' && existsSync(file)) {
        const v8 = summarizeCpuProfile(file, 15, window);
        entry.v8 = v8;
        log(`  V8 main thread: busy ${Math.round(v8.busyMs)} of ${Math.round(v8.totalMs)} ms; top: ${v8.top.slice(0, 6).map((f) => `${f.fn} ${f.pct}%`).join(', ')}`);
        section.push(`V8 (\`--cpu-prof\`, main thread, JavaScript view): busy ${Math.round(v8.busyMs)} ms of ${Math.round(v8.totalMs)} ms sampled.`, '',
          markdownTable(['function', 'where', 'self ms', 'self %'], v8.top.map((f) => [f.fn, f.where, String(f.selfMs), `${f.pct}%`])), '');
      }
      json[w.name] = entry;
      sections.push(section.join('\n'));
    }
    const dir = join(REPO_ROOT, 'bench/results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'profile.md'), [
      '# CPU profiles (`npm run bench -- --profile`)', '',
      machineMarkdown(machine), '',
      `Each workload runs against a fresh proxy process after a warm-up (${p.seconds} s for ab workloads, ${ftCount} connections with never-seen certificates for first-time ones).`,
      '**perf** samples the whole process, kernel included, by symbol (OpenSSL is linked into node statically, into nginx as libssl/libcrypto).',
      '**V8** (`node --cpu-prof`, only the measured window) shows the JavaScript view of the main thread: a native call made from JavaScript (a TLS write, a certificate parse, a context build) counts under the JavaScript function that called it, but native work run from the event loop without entering JavaScript — the TLS handshake itself, driven by socket reads — is sampled as idle, so for new-connection workloads perf is the one to read.',
      'Rates are lower than in the comparison: the profilers cost CPU.', '',
      ...sections,
    ].join('\n'));
    await writeFile(join(dir, 'profile.json'), JSON.stringify(json, null, 2));
    log(`\nwritten: bench/results/profile.md, bench/results/profile.json; raw profiles in ${profDir}`);
  } finally {
    for (const c of env.cleanup) await c().catch(() => {});
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' }, profile: { type: 'boolean' }, 'update-docs': { type: 'boolean' },
      repeats: { type: 'string' }, seconds: { type: 'string' },
    },
  });
  checkTools();
  const p = { ...(values.quick ? QUICK : FULL) };
  if (values.repeats) p.repeats = Math.max(1, Math.min(10, Number(values.repeats) || p.repeats));
  if (values.seconds) p.seconds = p.latencySeconds = Math.max(1, Math.min(60, Number(values.seconds) || p.seconds));
  if (values.profile) await profile(p);
  else await comparison(p, { updateDocs: !!values['update-docs'], quick: !!values.quick });
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: stopping (Ctrl-C again to leave at once)');
});

main().then(() => process.exit(0), async (err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  await sleep(10);
  process.exit(1);
});
