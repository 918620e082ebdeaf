/**
 * Builds compared in alternating rounds (the machine is shared: compare rounds,
 * not absolute rates). Each round starts each build's CLI in connection mode
 * (defaults, the bench's config without an admin listener, log at warn) and
 * measures, in this order:
 *   - RSS at start (and its split: file-backed, brk heap, thread arenas, other);
 *   - peak RSS with one identity: VmHWM after `ab -k -c 32 -t 3` then
 *     `ab -c 16 -t 3` with alice's certificate (the second gives the returning
 *     identity's new connections/s);
 *   - new connections/s of first-time identities (bench/load-client.ts, FIRST
 *     never-seen certificates, concurrency 16).
 *
 *   npm run build && CLIS=/tmp/a/bin/countersign.js,bin/countersign.js node dist/bench/ab-rounds.js [ROUNDS]
 * NODE_ARGS_<i> / ENV_<i> (JSON) add Node flags or environment to the i-th build (0-based).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { runAb } from './lib/ab.js';
import { countersignConfig, shebangEnv, shebangNodeArgs, startNodeServer } from './lib/countersign.js';
import { freePort, sleep } from './lib/net.js';
import { clockTicks, cpuTicks, peakRssKiB, residentSplit, rssKiB } from './lib/proc.js';
import type { ConnectionsResult } from './load-client.js';
import { benchPki, startBenchBackend, runLoadClient } from './lib/bench-setup.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const FIRST = Number(process.env.FIRST ?? 600);
const CLIS = (process.env.CLIS ?? 'bin/countersign.js').split(',').map((c) => resolve(c));

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'countersign-ab-rounds-'));
  const setup = await benchPki(work, FIRST);
  const { pki, pkiDir, certsFile } = setup;
  const alice = join(work, 'alice.pem');
  await writeFile(alice, pki.clients.alice.certPem + pki.clients.alice.keyPem, { mode: 0o600 });
  // the same certificates for every build and round: each countersign process is a new one, so all are first-time to it
  const backend = await startBenchBackend(work, setup);
  const backendPort = backend.port;
  const mib = (kib: number) => Math.round(kib / 102.4) / 10;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, cli] of CLIS.entries()) {
        const port = await freePort();
        const file = join(work, `cs-${i}.yaml`);
        await writeFile(file, stringify(countersignConfig('connection-delegated', pkiDir, port, backendPort)));
        const nodeArgs = process.env[`NODE_ARGS_${i}`]?.split(' ').filter(Boolean) ?? [];
        const env = { ...shebangEnv(cli), ...(process.env[`ENV_${i}`] ? JSON.parse(process.env[`ENV_${i}`]!) as Record<string, string> : {}) };
        const cs = await startNodeServer(`countersign ${i}`, [...shebangNodeArgs(cli), ...nodeArgs, cli, 'start', '--config', file], port, env);
        try {
          await sleep(1000);
          const start = { rssMiB: mib(rssKiB(cs.pid)), ...residentSplit(cs.pid) };
          const ab = (keepAlive: boolean) => runAb({ port, certKeyPem: alice, keepAlive, concurrency: keepAlive ? 32 : 16, seconds: 3, csvFile: join(work, `ab-${i}-${round}-${keepAlive}.csv`) });
          // CPU time of the proxy per request or connection: steadier than rates when the machine is shared
          const cpuMs = () => (cpuTicks(cs.pid) * 1000) / clockTicks();
          let c0 = cpuMs();
          const ka = await ab(true);
          const kaCpuUs = ((cpuMs() - c0) * 1000) / Math.max(1, ka.complete);
          const afterKeepAlive = { rssMiB: mib(rssKiB(cs.pid)), ...residentSplit(cs.pid) };
          c0 = cpuMs();
          const returning = await ab(false);
          const returningCpuUs = ((cpuMs() - c0) * 1000) / Math.max(1, returning.complete);
          const afterReturning = { rssMiB: mib(rssKiB(cs.pid)), ...residentSplit(cs.pid) };
          const peakOneMiB = mib(peakRssKiB(cs.pid));
          c0 = cpuMs();
          const first = await runLoadClient<ConnectionsResult>(work, { mode: 'connections', port, certsFile, from: 0, count: FIRST, concurrency: 16, maxMs: 5 * 60_000 });
          const firstCpuUs = ((cpuMs() - c0) * 1000) / Math.max(1, first.completed);
          const row = {
            kaCpuUs: Math.round(kaCpuUs), returningCpuUs: Math.round(returningCpuUs), firstCpuUs: Math.round(firstCpuUs),
            round, build: i, startRssMiB: start.rssMiB, peakOneIdentityMiB: peakOneMiB,
            keepAliveRps: Math.round(ka.requestsPerSecond), returningConnPerS: Math.round(returning.requestsPerSecond),
            firstTimeConnPerS: Math.round(first.perSecond), firstTimeErrors: first.errors, afterFirstRssMiB: mib(rssKiB(cs.pid)),
            start, afterKeepAlive, afterReturning,
          };
          process.stdout.write(`${JSON.stringify(row)}\n`);
        } finally { await cs.stop(); }
      }
    }
  } finally {
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1); });
