/**
 * A/B of the two HTTP/1.1 paths of http mode (`http.http1: node` vs `relay`):
 * two countersign processes, one per setting, in front of the same nginx
 * backend, `ab -k -c 32 -t 3` against each in turn, interleaved, N rounds
 * (default 5); medians of req/s and of proxy CPU µs per request (utime+stime
 * from /proc/<pid>/stat). Run: `npx tsc -p tsconfig.json && node dist/bench/http1-relay-ab.js [rounds] [seconds]`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDevPki, writeDevPki } from '../src/pki/dev/index.js';
import { runAb, type AbResult } from './lib/ab.js';
import { countersignConfig, startCountersign } from './lib/countersign.js';
import { backendHttpBlock, startNginx } from './lib/nginx.js';
import { freePort } from './lib/net.js';
import { clockTicks, cpuTicks } from './lib/proc.js';

const rounds = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 3);
const concurrency = Number(process.env.AB_C ?? 32);
const keepAlive = process.env.AB_K !== '0';

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const work = await mkdtemp(join(tmpdir(), 'countersign-h1ab-'));
const pkiDir = join(work, 'pki');
const pki = await generateDevPki();
await writeDevPki(pki, pkiDir);
const certKeyPem = join(work, 'alice.pem');
await writeFile(certKeyPem, pki.clients.alice.certPem + pki.clients.alice.keyPem, { mode: 0o600 });
const trust = join(work, 'backend-trust.pem');
await writeFile(trust, pki.delegationCa.certPem + pki.backendCa.certPem + pki.clientCa.certPem);
const backendPort = await freePort();
const backend = await startNginx('backend', work, backendPort, () => backendHttpBlock(backendPort, { cert: join(pkiDir, 'backend.crt'), key: join(pkiDir, 'backend.key'), trust }));
const procs: Record<string, Awaited<ReturnType<typeof startCountersign>>> = {};
try {
  for (const http1 of ['node', 'relay']) {
    const port = await freePort();
    const config = { ...countersignConfig('http-delegated', pkiDir, port, backendPort), http: { http1 } };
    procs[http1] = await startCountersign({ name: `http-${http1}`, dir: work, port, config });
  }
  const results: Record<string, { rps: number[]; cpu: number[]; failed: number }> = { node: { rps: [], cpu: [], failed: 0 }, relay: { rps: [], cpu: [], failed: 0 } };
  let seq = 0;
  // warm-up, one short run each
  for (const k of ['node', 'relay']) await runAb({ port: procs[k].port, certKeyPem, keepAlive, concurrency, seconds: 1, csvFile: join(work, `w${seq++}.csv`) });
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 ? ['relay', 'node'] : ['node', 'relay'];
    for (const k of order) {
      const pid = procs[k].pid;
      const t0 = cpuTicks(pid);
      const r: AbResult = await runAb({ port: procs[k].port, certKeyPem, keepAlive, concurrency, seconds, csvFile: join(work, `r${seq++}.csv`) });
      const cpuS = (cpuTicks(pid) - t0) / clockTicks();
      results[k].rps.push(r.requestsPerSecond);
      results[k].cpu.push((cpuS * 1e6) / Math.max(1, r.complete));
      results[k].failed += r.failed + r.non2xx;
      console.log(`round ${i + 1} ${k}: ${Math.round(r.requestsPerSecond)} req/s, ${Math.round((cpuS * 1e6) / Math.max(1, r.complete))} µs CPU/req, ${r.complete} complete, ${r.failed} failed, ${r.non2xx} non-2xx, keep-alive ${r.keepAliveRequests}`);
    }
  }
  for (const k of ['node', 'relay']) {
    console.log(`${k}: median ${Math.round(median(results[k].rps))} req/s, median ${Math.round(median(results[k].cpu))} µs CPU/req, failed ${results[k].failed}`);
  }
  console.log(`relay/node: ${(median(results.relay.rps) / median(results.node.rps)).toFixed(2)}× req/s, ${(median(results.relay.cpu) / median(results.node.cpu)).toFixed(2)}× CPU/req`);
} finally {
  for (const p of Object.values(procs)) await p.stop();
  await backend.stop();
  await rm(work, { recursive: true, force: true });
}
