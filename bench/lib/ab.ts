/**
 * ApacheBench (`ab` from Debian's apache2-utils) as the load generator for
 * keep-alive throughput and returning-identity new connections.
 *
 * What it can and cannot do (checked with ab 2.3 / apache2-utils 2.4 on OpenSSL 3.0):
 * - client certificates: `-E file.pem` (certificate and key in one PEM); one
 *   certificate for the whole run, so every connection is the same identity;
 * - TLS 1.3: yes (`-f TLS1.3`, or the default `ALL` when the server offers it);
 *   it never resumes a session, so without `-k` each connection is a full
 *   handshake;
 * - keep-alive: `-k`, but it speaks HTTP/1.0 with `Connection: Keep-Alive`;
 * - no HTTP/2, no rate limit (closed loop: `-c` requests in flight), one
 *   thread (one core at most), and it stores every request's timing, so `-n`
 *   bounds its memory (40 bytes a request);
 * - `-t` implies `-n 50000` unless `-n` comes after it.
 * The ab process's own CPU is read from its parent shell's cutime/cstime.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { clockTicks } from './proc.js';

export const AB_BIN = process.env.COUNTERSIGN_BENCH_AB ?? '/usr/bin/ab';

export interface AbOptions {
  port: number;
  /** PEM with the client certificate and its key */
  certKeyPem: string;
  keepAlive: boolean;
  concurrency: number;
  seconds: number;
  /** where the percentile CSV goes (deleted after reading) */
  csvFile: string;
  path?: string;
}

export interface AbResult {
  complete: number;
  failed: number;
  non2xx: number;
  keepAliveRequests: number;
  requestsPerSecond: number;
  timeTakenS: number;
  tls: string;
  /** latency percentiles, ms (from ab's -e CSV) */
  p50Ms: number;
  p99Ms: number;
  /** the load generator's own CPU time, s */
  loadgenCpuS: number;
  errorSample: string;
}

export function runAb(o: AbOptions): Promise<AbResult> {
  const args = [
    ...(o.keepAlive ? ['-k'] : []),
    '-r', '-q', '-d', '-S',
    '-c', String(o.concurrency),
    '-t', String(Math.max(1, Math.round(o.seconds))), // ab reads whole seconds
    '-n', '1000000', // after -t: -t alone would cap the run at 50 000 requests
    '-s', '10',
    '-E', o.certKeyPem,
    '-e', o.csvFile,
    `https://127.0.0.1:${o.port}${o.path ?? '/'}`,
  ];
  const script = `"$0" "$@"; rc=$?; echo "@@STAT $(cat /proc/$$/stat)" >&2; exit $rc`;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script, AB_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-50_000); });
    child.on('error', reject);
    child.on('close', async () => {
      const num = (re: RegExp) => { const m = re.exec(out); return m ? Number(m[1]) : 0; };
      const statLine = /@@STAT (.*)$/m.exec(err)?.[1] ?? '';
      const f = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
      const loadgenCpuS = f.length > 14 ? (Number(f[13]) + Number(f[14])) / clockTicks() : NaN;
      let p50Ms = NaN;
      let p99Ms = NaN;
      try {
        const csv = await readFile(o.csvFile, 'utf8');
        for (const line of csv.split('\n')) {
          const [p, ms] = line.split(',');
          if (p === '50') p50Ms = Number(ms);
          if (p === '99') p99Ms = Number(ms);
        }
        await rm(o.csvFile, { force: true });
      } catch { /* no CSV: nothing completed */ }
      const complete = num(/Complete requests:\s+(\d+)/);
      if (!/Complete requests/.test(out)) {
        reject(new Error(`ab failed: ${err.split('\n').slice(-5).join('\n')}`));
        return;
      }
      resolve({
        complete,
        failed: num(/Failed requests:\s+(\d+)/),
        non2xx: num(/Non-2xx responses:\s+(\d+)/),
        keepAliveRequests: num(/Keep-Alive requests:\s+(\d+)/),
        requestsPerSecond: num(/Requests per second:\s+([\d.]+)/),
        timeTakenS: num(/Time taken for tests:\s+([\d.]+)/),
        tls: /SSL\/TLS Protocol:\s+(\S+)/.exec(out)?.[1] ?? '',
        p50Ms, p99Ms, loadgenCpuS,
        errorSample: err.replace(/^@@STAT.*$/m, '').split('\n').filter(Boolean).slice(0, 2).join(' | ').slice(0, 300),
      });
    });
  });
}
