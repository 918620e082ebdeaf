/**
 * A real Redis (Debian's redis-server 7) for the interop tests, started from a
 * config text (an example's redis.conf): `certs/` points at the test's PKI,
 * `tls-port` at a free loopback port; data in a temp directory, nothing saved.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { runCommand, type CommandResult } from './run-command.js';

export interface Redis { port: number; output(): string; stop(): Promise<void> }

export async function startRedis(o: { conf: string; pkiDir: string }): Promise<Redis> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-redis-'));
  const port = await freePort();
  const conf = o.conf.replace(/\bcerts\//g, `${o.pkiDir}/`).replace(/^tls-port .*$/m, `tls-port ${port}`);
  await writeFile(join(dir, 'redis.conf'), [conf, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', 'appendonly no', 'daemonize no', 'logfile ""', ''].join('\n'));
  const child: ChildProcess = spawn('redis-server', [join(dir, 'redis.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  while (!/Ready to accept connections/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) { child.kill('SIGTERM'); await exited; }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** redis-cli over TLS to `port` as `who` (a PKI file name), trusting `caFile`. */
export function redisCli(port: number, pkiDir: string, who: string, args: string[], caFile = `${pkiDir}/edge-ca.crt`): Promise<CommandResult> {
  return runCommand('redis-cli', [
    '--tls', '-h', 'localhost', '-p', String(port), '--cacert', caFile, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`, ...args,
  ], { timeoutMs: 15_000 });
}
