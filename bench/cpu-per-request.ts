/**
 * CPU per keep-alive request of http mode against nginx's http proxy, in one
 * run: both in front of the same nginx backend, `ab -k` against each in
 * alternating rounds, and each proxy's own CPU time (/proc/<pid>/stat) over
 * the requests it answered. CPU per request varies less than requests/s on a
 * shared machine (other load takes time, not CPU, from the proxy). Run:
 * `npx tsc -p tsconfig.json && node dist/bench/cpu-per-request.js [rounds] [seconds] [variant]`.
 * A/B of a change: `COUNTERSIGN_BENCH_CLI_B=/path/to/other/clone/bin/countersign.js`
 * adds that build as a fourth target in the same rotation ("countersign-b").
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDevPki, writeDevPki } from '../src/pki/dev/index.js';
import { runAb } from './lib/ab.js';
import { CLI, countersignConfig, REPO_ROOT, startCountersign, startNodeServer, type CountersignVariant } from './lib/countersign.js';
import { backendHttpBlock, nginxProxyHttpBlock, startNginx } from './lib/nginx.js';
import { freePort } from './lib/net.js';
import { clockTicks, cpuTicksOf } from './lib/proc.js';
import { perfRecord, perfSummary } from './lib/perf.js';
import { median } from './lib/stats.js';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 3);
const variant = (process.argv[4] ?? 'http-delegated') as CountersignVariant;
const work = await mkdtemp(join(tmpdir(), 'countersign-cpu-'));
const pkiDir = join(work, 'pki');
const pki = await generateDevPki();
await writeDevPki(pki, pkiDir);
const alice = join(work, 'alice.pem');
await writeFile(alice, pki.clients.alice.certPem + pki.clients.alice.keyPem, { mode: 0o600 });
const trust = join(work, 'trust.pem');
await writeFile(trust, pki.delegationCa.certPem + pki.backendCa.certPem + pki.clientCa.certPem);
const backendPort = await freePort();
const backend = await startNginx('backend', work, backendPort, () => backendHttpBlock(backendPort, { cert: join(pkiDir, 'backend.crt'), key: join(pkiDir, 'backend.key'), trust }));
const d = pkiDir;
const nginxPort = await freePort();
const nginx = await startNginx('proxy', work, nginxPort, () => nginxProxyHttpBlock(nginxPort, backendPort, {
  edgeCert: `${d}/edge.crt`, edgeKey: `${d}/edge.key`, clientCa: `${d}/client-ca.crt`, backendCa: `${d}/backend-ca.crt`, proxyCert: `${d}/proxy-client.crt`, proxyKey: `${d}/proxy-client.key`,
}), 1);
const csPort = await freePort();
const profileDir = process.env.CPU_PROFILE_DIR;
/** extra node flags for countersign (e.g. --perf-basic-prof for `perf record` with JavaScript names) */
const extraNodeArgs = (process.env.COUNTERSIGN_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const cs = await startCountersign({ name: 'cs', dir: work, port: csPort, config: countersignConfig(variant, pkiDir, csPort, backendPort), nodeArgs: [...extraNodeArgs, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])] });
const cliB = process.env.COUNTERSIGN_BENCH_CLI_B;
const csBPort = cliB ? await freePort() : 0;
const csB = cliB ? await startCountersign({ name: 'cs-b', dir: work, port: csBPort, config: countersignConfig(variant, pkiDir, csBPort, backendPort), cli: cliB, nodeArgs: [...extraNodeArgs, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, 'b')}`] : [])] }) : undefined;
const pipePort = await freePort();
const pipe = await startNodeServer('floor tls-pipe', [join(REPO_ROOT, 'dist/bench/floor-server.js'), 'tls-pipe', String(pipePort), String(backendPort), pkiDir], pipePort);
const targets: Record<string, { port: number; pids: () => number[] }> = {
  nginx: { port: nginxPort, pids: () => nginx.pids() }, countersign: { port: csPort, pids: () => [cs.pid] }, 'tls-pipe': { port: pipePort, pids: () => [pipe.pid] },
  ...(csB ? { 'countersign-b': { port: csBPort, pids: () => [csB.pid] } } : {}),
};
const results: Record<string, { rps: number[]; cpuUs: number[] }> = Object.fromEntries(Object.keys(targets).map((k) => [k, { rps: [], cpuUs: [] }]));
const hz = clockTicks();
try {
  for (let r = 0; r <= rounds; r++) {
    for (const [name, t] of Object.entries(targets)) {
      const before = cpuTicksOf(t.pids());
      const perfDir = process.env.PERF_DIR;
      const stat = process.env.PERF_STAT && r === rounds ? spawn('/usr/bin/perf', ['stat', '-x', ',', '-e', 'syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,context-switches', '-p', String(t.pids().at(-1)), '--', 'sleep', String(Math.max(1, seconds - 1))], { stdio: ['ignore', 'ignore', 'pipe'] }) : undefined;
      let statOut = '';
      stat?.stderr!.on('data', (d) => { statOut += d; });
      // (perf ends before ab does: its close is awaited from here, not after ab, or it is missed)
      const statClosed = stat && new Promise((res) => stat.on('close', res));
      const perf = perfDir && r === rounds ? perfRecord(t.pids().at(-1)!, Math.max(1, seconds - 1), join(perfDir, `${name}.data`)) : undefined;
      const ab = await runAb({ port: t.port, certKeyPem: alice, keepAlive: true, concurrency: 32, seconds, csvFile: join(work, `${name}.csv`) });
      const ticks = cpuTicksOf(t.pids()) - before;
      if (stat) { await statClosed; console.log(name, `${Math.round(ab.requestsPerSecond * Math.max(1, seconds - 1))} requests`, statOut.trim().split('\n').map((l) => l.split(',').slice(0, 3).join(' ')).join(' | ')); }
      if (perf) { await perf.done; const sum = perfSummary(join(process.env.PERF_DIR!, `${name}.data`), 30); console.log(name, JSON.stringify(sum?.byCategory), '\n', sum?.top.map((x) => `${x.pct}% ${x.sym} (${x.category})`).join('\n ')); }
      if (r === 0) continue; // warm-up
      results[name].rps.push(ab.requestsPerSecond);
      results[name].cpuUs.push((ticks / hz) * 1e6 / Math.max(1, ab.complete));
      if (ab.failed || ab.non2xx) console.log(`${name}: ${ab.failed} failed, ${ab.non2xx} non-2xx`);
    }
  }
  const m = (n: string) => ({ rps: median(results[n].rps), cpuUs: median(results[n].cpuUs) });
  const [a, b] = [m('countersign'), m('nginx')];
  const c = m('tls-pipe');
  const bb = csB ? { countersignB: { cli: cliB, ...m('countersign-b'), cpuVsA: +(m('countersign-b').cpuUs / a.cpuUs).toFixed(3) } } : {};
  console.log(JSON.stringify({ variant, cli: CLI, countersign: a, ...bb, nginx: b, pipe: c, rpsRatio: +(a.rps / b.rps).toFixed(2), cpuRatio: +(a.cpuUs / b.cpuUs).toFixed(2), pipeCpuRatio: +(c.cpuUs / b.cpuUs).toFixed(2), rounds: results }));
} finally {
  await cs.stop();
  await csB?.stop();
  await pipe.stop();
  await nginx.stop();
  await backend.stop();
  await rm(work, { recursive: true, force: true });
}
