/**
 * A real Redis (Debian's redis-server 7) for the interop tests, started from a
 * config text (an example's redis.conf): `certs/` points at the test's PKI,
 * `tls-port` at a free loopback port; data in a temp directory, nothing saved.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { runCommand, type CommandResult } from './run-command.js';

export type Redis = ServerProcess;

export async function startRedis(o: { conf: string; pkiDir: string }): Promise<Redis> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-redis-'));
  const port = await freePort();
  const conf = o.conf.replace(/\bcerts\//g, `${o.pkiDir}/`).replace(/^tls-port .*$/m, `tls-port ${port}`);
  await writeFile(join(dir, 'redis.conf'), [conf, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', 'appendonly no', 'daemonize no', 'logfile ""', ''].join('\n'));
  return startServerProcess({ command: 'redis-server', args: [join(dir, 'redis.conf')], ready: /Ready to accept connections/, port, dir });
}

/** redis-cli over TLS to `port` as `who` (a PKI file name), trusting `caFile`. */
export function redisCli(port: number, pkiDir: string, who: string, args: string[], caFile = `${pkiDir}/edge-ca.crt`): Promise<CommandResult> {
  return runCommand('redis-cli', [
    '--tls', '-h', 'localhost', '-p', String(port), '--cacert', caFile, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`, ...args,
  ], { timeoutMs: 60_000 });
}
