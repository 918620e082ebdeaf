/**
 * What a large CRL costs countersign: new connections per second with a
 * 100,000-entry CRL (4.8 MB) against none (ab, a full TLS handshake with a
 * client certificate per request), start-up time, RSS, and the time from a
 * new CRL's publication (the file written) to the revoked client's open
 * connection closed, and whether loading it stalls the clients it does not
 * revoke (request latency of a keep-alive client that keeps asking while the
 * new CRL is read, parsed and applied, against the same client before). Rounds alternate (none, crl, none, crl, …) so the
 * machine's load falls on both alike.
 *
 *   node dist/bench/crl-scale.js [--seconds 8] [--rounds 3] [--concurrency 8] [--out bench/results/crl-scale.md]
 *
 * COUNTERSIGN_BENCH_CLI points at another clone's bin/countersign.js (to
 * measure the code before a change).
 */
import { createServer } from 'node:https';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'node:https';
import { parseArgs } from 'node:util';
import { generateDevPki, writeDevPki } from '../src/pki/dev/index.js';
import { bigCrlPem, crlPem } from '../test/helpers/crl.js';
import { runAb } from './lib/ab.js';
import { startCountersign, CLI } from './lib/countersign.js';
import { freePort } from './lib/net.js';
import { rssKiB } from './lib/proc.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '8' }, out: { type: 'string' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);

const dir = await mkdtemp(join(tmpdir(), 'countersign-crl-bench-'));
const pki = await generateDevPki();
await writeDevPki(pki, dir);
const bigCrl = join(dir, 'big.crl');
await writeFile(bigCrl, bigCrlPem(pki.clientCa, 100_000));
const liveCrl = join(dir, 'live.crl');
const certKey = join(dir, 'alice.pem');
await writeFile(certKey, (await readFile(join(dir, 'alice.crt'), 'utf8')) + (await readFile(join(dir, 'alice.key'), 'utf8')));

const backendPort = await freePort();
const backend = createServer({ cert: await readFile(join(dir, 'backend.crt')), key: await readFile(join(dir, 'backend.key')) }, (_req, res) => { res.end('ok'); });
await new Promise<void>((r) => backend.listen(backendPort, '127.0.0.1', r));

function config(port: number, crl?: string): Record<string, unknown> {
  return {
    listen: `127.0.0.1:${port}`,
    edge: { certificates: [{ cert: `${dir}/edge.crt`, key: `${dir}/edge.key` }], clientAuth: { mode: 'require', ca: `${dir}/client-ca.crt`, ...(crl ? { crl } : {}) }, reloadPollInterval: '200ms' },
    delegation: { ca: { cert: `${dir}/delegation-ca.crt`, key: `${dir}/delegation-ca.key` }, ttl: '1h' },
    upstreams: { backend: { servers: [`127.0.0.1:${backendPort}`], ca: `${dir}/backend-ca.crt`, servername: 'backend.internal' } },
    routes: [{ upstream: 'backend', mode: 'http', identity: 'delegated' }],
    log: { level: 'warn' },
  };
}

interface Round { variant: 'none' | 'crl100k'; startupMs: number; rps: number; failed: number; rssMiB: number }
const results: Round[] = [];
for (let r = 0; r < rounds; r++) {
  for (const variant of ['none', 'crl100k'] as const) {
    const port = await freePort();
    const t0 = performance.now();
    const proxy = await startCountersign({ name: `${variant}-${r}`, dir, port, config: config(port, variant === 'crl100k' ? bigCrl : undefined) });
    const startupMs = performance.now() - t0;
    await runAb({ port, certKeyPem: certKey, keepAlive: false, concurrency, seconds: 2, csvFile: join(dir, 'warm.csv') });
    const ab = await runAb({ port, certKeyPem: certKey, keepAlive: false, concurrency, seconds, csvFile: join(dir, 'ab.csv') });
    results.push({ variant, startupMs, rps: ab.requestsPerSecond, failed: ab.failed + ab.non2xx, rssMiB: rssKiB(proxy.pid) / 1024 });
    console.log(`${variant} round ${r + 1}: ${ab.requestsPerSecond} conn/s (${ab.failed + ab.non2xx} failed), start-up ${Math.round(startupMs)} ms, RSS ${Math.round(rssKiB(proxy.pid) / 1024)} MiB`);
    await proxy.stop();
  }
}

// publication → closed: bob holds a connection open; a new CRL (100,000 entries + bob) is written
await writeFile(liveCrl, await crlPem(pki.clientCa, []));
const port = await freePort();
const proxy = await startCountersign({ name: 'publication', dir, port, config: config(port, liveCrl) });
const closedAfter: number[] = [];
/** alice is never revoked: her requests, one after another on one keep-alive connection, before and during each publication */
const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: await readFile(join(dir, 'edge-ca.crt')), cert: await readFile(join(dir, 'alice.crt')), key: await readFile(join(dir, 'alice.key')), servername: 'localhost' });
const ask = () => new Promise<number>((resolve, reject) => {
  const t = performance.now();
  request({ host: '127.0.0.1', port, path: '/', agent }, (res) => { res.resume(); res.on('end', () => resolve(performance.now() - t)); }).on('error', reject).end();
});
async function latencies(until: Promise<unknown>, minMs: number): Promise<number[]> {
  let done = false;
  void until.then(() => { done = true; });
  const out: number[] = [];
  const t0 = performance.now();
  while (!done || performance.now() - t0 < minMs) out.push(await ask());
  return out;
}
const before: number[] = [];
const during: number[] = [];
for (let i = 0; i < 3; i++) {
  await writeFile(liveCrl, await crlPem(pki.clientCa, []));
  await new Promise((r) => setTimeout(r, 1500)); // the empty CRL is loaded (the poll is 200 ms)
  before.push(...await latencies(new Promise((r) => setTimeout(r, 1000)), 1000));
  const sock = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: await readFile(join(dir, 'edge-ca.crt')), cert: await readFile(join(dir, 'bob.crt')), key: await readFile(join(dir, 'bob.key')) });
  await new Promise((r) => sock.once('secureConnect', r));
  sock.on('error', () => {});
  const closed = new Promise((r) => sock.once('close', r));
  // built before the clock starts: building it blocks this process, whose requests are the measurement
  const revoking = bigCrlPem(pki.clientCa, 100_000, [pki.clients.bob]);
  const t = performance.now();
  const asking = latencies(closed, 0);
  await writeFile(liveCrl, revoking);
  await closed;
  closedAfter.push(performance.now() - t);
  during.push(...await asking);
  console.log(`publication → closed: ${Math.round(performance.now() - t)} ms`);
}
agent.destroy();
const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN; };
const ms = (x: number) => x.toFixed(1);
await proxy.stop();
backend.close();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const of = (v: Round['variant']) => results.filter((x) => x.variant === v);
const none = of('none');
const crl = of('crl100k');
const lines = [
  '# A 100,000-entry CRL: what it costs',
  '',
  `\`node dist/bench/crl-scale.js --seconds ${seconds} --rounds ${rounds} --concurrency ${concurrency}\` (${CLI}), ${new Date().toISOString()}, load average at the end ${loadavg()[0].toFixed(1)} (2 cores, shared with other work: compare the two columns, not the absolute rates).`,
  '',
  'New connections: `ab` without keep-alive, one full TLS 1.3 handshake with a client certificate (ECDSA P-256) per request, http mode, concurrency ' + concurrency + '.',
  '',
  '| | no CRL | 100,000-entry CRL (4.8 MB) | ratio |',
  '| --- | ---: | ---: | ---: |',
  `| new connections/s (mean of ${rounds}) | ${mean(none.map((x) => x.rps)).toFixed(0)} | ${mean(crl.map((x) => x.rps)).toFixed(0)} | ${(mean(crl.map((x) => x.rps)) / mean(none.map((x) => x.rps))).toFixed(2)} |`,
  `| each round | ${none.map((x) => x.rps.toFixed(0)).join(', ')} | ${crl.map((x) => x.rps.toFixed(0)).join(', ')} | |`,
  `| start-up (spawn → port accepts), ms | ${mean(none.map((x) => x.startupMs)).toFixed(0)} | ${mean(crl.map((x) => x.startupMs)).toFixed(0)} | |`,
  `| RSS after the run, MiB | ${mean(none.map((x) => x.rssMiB)).toFixed(0)} | ${mean(crl.map((x) => x.rssMiB)).toFixed(0)} | +${(mean(crl.map((x) => x.rssMiB)) - mean(none.map((x) => x.rssMiB))).toFixed(0)} |`,
  `| failed requests | ${none.reduce((a, x) => a + x.failed, 0)} | ${crl.reduce((a, x) => a + x.failed, 0)} | |`,
  '',
  `Publication to closed connection (a CRL file revoking a connected client is written; the file is polled every 200 ms, the new CRL has 100,001 entries): ${closedAfter.map((x) => Math.round(x)).join(', ')} ms.`,
  '',
  'A client the new CRL does not revoke, asking one request after another on one keep-alive connection, for 1 s before each publication and from the publication until the revoked client is closed:',
  '',
  '| request latency, ms | requests | p50 | p99 | max |',
  '| --- | ---: | ---: | ---: | ---: |',
  `| before | ${before.length} | ${ms(quantile(before, 0.5))} | ${ms(quantile(before, 0.99))} | ${ms(Math.max(...before))} |`,
  `| while the 100,001-entry CRL is loaded | ${during.length} | ${ms(quantile(during, 0.5))} | ${ms(quantile(during, 0.99))} | ${ms(Math.max(...during))} |`,
  '',
];
console.log(lines.join('\n'));
if (values.out) await writeFile(values.out, lines.join('\n'));
