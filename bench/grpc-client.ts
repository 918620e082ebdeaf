/**
 * The gRPC load client of bench/grpc.ts, run in its own process
 * (child_process.fork) so its CPU is not the proxy's: `concurrency` streams
 * over `connections` HTTP/2 connections, each stream issuing etcd
 * `KV/Range` unary calls back to back (closed loop), presenting one client
 * certificate. It gets its job as the first IPC message and answers with
 * three: `measuring` when the warm-up ends, `window-end` when it stops
 * issuing calls (the parent reads the proxy's CPU at both), then `result`
 * (calls and latency of the calls completed between the two).
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { grpcFrame, rangeRequest, unaryCall } from './lib/grpc-unary.js';
import { percentiles } from './lib/stats.js';

export interface GrpcLoadJob {
  port: number;
  /** TLS server name and :authority */
  servername: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  connections: number;
  /** streams in flight at once, spread over the connections */
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  key: string;
}

export interface GrpcLoadResult {
  calls: number;
  failures: number;
  windowS: number;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  loadgenCpuS: number;
  firstError?: string;
}

export type GrpcClientMessage = { type: 'measuring' } | { type: 'window-end' } | { type: 'result'; result: GrpcLoadResult };

const RANGE = '/etcdserverpb.KV/Range';

async function run(job: GrpcLoadJob): Promise<GrpcLoadResult> {
  const send = (m: GrpcClientMessage) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
  const frame = grpcFrame(rangeRequest(job.key));
  const authority = `${job.servername}:${job.port}`;
  const sessions: (ClientHttp2Session | undefined)[] = new Array(job.connections);
  // a session that went away (GOAWAY, reset) is replaced on the next call
  const sessionFor = (stream: number): ClientHttp2Session => {
    const i = stream % job.connections;
    let s = sessions[i];
    if (!s || s.closed || s.destroyed) {
      s = connect(`https://127.0.0.1:${job.port}`, { servername: job.servername, ca: job.caPem, cert: job.certPem, key: job.keyPem });
      s.on('error', () => {}); // each call reports its own failure
      sessions[i] = s;
    }
    return s;
  };

  let phase: 'warmup' | 'measure' | 'drain' = 'warmup';
  const latencies: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  const stream = async (n: number) => {
    while (phase !== 'drain') {
      const t0 = performance.now();
      const error = await unaryCall(sessionFor(n), RANGE, frame, authority);
      if (error) {
        firstError ??= error;
        if (phase === 'measure') failures++;
        // a failing target answers at once: do not spin on it
        await new Promise((r) => setTimeout(r, 10));
      } else if (phase === 'measure') latencies.push(performance.now() - t0);
    }
  };
  const streams = Array.from({ length: job.concurrency }, (_, n) => stream(n));

  await new Promise((r) => setTimeout(r, job.warmupMs));
  phase = 'measure';
  await send({ type: 'measuring' });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, job.durationMs));
  phase = 'drain';
  const windowS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await send({ type: 'window-end' });
  // a call the target never answers must not hold the point: the sessions go after 30 s
  const drainLimit = setTimeout(() => { for (const s of sessions) s?.destroy(); }, 30_000);
  await Promise.all(streams);
  clearTimeout(drainLimit);
  for (const s of sessions) s?.close();
  const [p50Ms, p99Ms] = percentiles(latencies, [50, 99]);
  return {
    calls: latencies.length, failures, windowS, callsPerSecond: latencies.length / windowS, p50Ms, p99Ms,
    loadgenCpuS: (cpu.user + cpu.system) / 1e6, ...(firstError ? { firstError } : {}),
  };
}

process.once('message', (job: GrpcLoadJob) => {
  run(job).then(
    (result) => process.send!({ type: 'result', result } satisfies GrpcClientMessage, () => process.exit(0)),
    (err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); },
  );
});
