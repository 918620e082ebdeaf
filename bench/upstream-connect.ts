/**
 * The upstream connect path before and after a change, in one process:
 * sequential UpstreamCluster.connectTo() + destroy against a loopback node:tls
 * server that requires a client certificate (TLS 1.3, no resumption), rounds
 * alternating between the two builds. Usage (after tsc):
 *   node dist/bench/upstream-connect.js <other dist root> [connects per round] [rounds]
 * e.g. a build of main in /tmp/main-build: dist/bench/upstream-connect.js /tmp/main-build/dist 200 30
 */
import { createServer } from 'node:tls';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateDevPki } from '../src/pki/dev/index.js';
import { UpstreamCluster } from '../src/forward/upstream-cluster.js';
import { median } from './lib/stats.js';

const [otherRoot, nArg, roundsArg] = process.argv.slice(2);
if (!otherRoot) { console.error('usage: upstream-connect.js <other dist root> [n] [rounds]'); process.exit(2); }
const n = Number(nArg ?? 1000);
const rounds = Number(roundsArg ?? 5);
const other = (await import(pathToFileURL(join(otherRoot, 'src/forward/upstream-cluster.js')).href)) as { UpstreamCluster: typeof UpstreamCluster };

const pki = await generateDevPki();
const server = createServer({ cert: pki.backend.certPem, key: pki.backend.keyPem, ca: pki.delegationCa.certPem, requestCert: true, rejectUnauthorized: true }, (s) => { s.on('error', () => {}); s.end(); });
server.on('tlsClientError', () => {});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
// the client certificate: the delegation CA's own (self-signed, trusted by the server): no minting in the loop
const creds = { certPem: pki.delegationCa.certPem, keyPem: pki.delegationCa.keyPem };

async function round(C: typeof UpstreamCluster): Promise<number> {
  const cluster = new C({
    name: 'b', servers: [`127.0.0.1:${port}`], caPem: pki.backendCa.certPem, servername: 'backend.internal',
    minVersion: 'TLSv1.3', balance: 'round-robin', connectTimeoutMs: 5000, failTimeoutMs: 10_000, connectRaceMs: 300,
  });
  const ctx = cluster.buildContext(creds);
  const s0 = cluster.servers[0];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) (await cluster.connectTo(s0, { secureContext: ctx })).destroy();
  return (performance.now() - t0) / n;
}

const results: Record<'this' | 'other', number[]> = { this: [], other: [] };
await round(UpstreamCluster); await round(other.UpstreamCluster); // warm-up
// alternate, and swap which goes first each round, so load changes on a shared machine hit both alike
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) { results.this.push(await round(UpstreamCluster)); results.other.push(await round(other.UpstreamCluster)); }
  else { results.other.push(await round(other.UpstreamCluster)); results.this.push(await round(UpstreamCluster)); }
}
server.close();
const fmt = (a: number[]) => `median ${median(a).toFixed(3)} ms/connect (rounds: ${a.map((x) => x.toFixed(3)).join(', ')})`;
console.log(`this build : ${fmt(results.this)}`);
console.log(`other build: ${fmt(results.other)}`);
console.log(`ratio this/other: ${(median(results.this) / median(results.other)).toFixed(3)}`);
