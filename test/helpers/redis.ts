/**
 * A real Redis (Debian's redis-server 7) for the interop tests, started as a
 * doc says, in a work directory.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './net.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { runCommand, type CommandResult } from './run-command.js';

export type Redis = ServerProcess;

/**
 * Redis as a user starts it: `redis-server ARGS` (a doc's command line, e.g.
 * `redis.conf`) in `cwd`, the directory holding the config and `certs/`, so
 * relative paths resolve as they do for the user. Only the address is this
 * test's: `tls-port` a free port, bound to loopback.
 */
export async function startRedisIn(o: { cwd: string; args: string[] }): Promise<Redis> {
  const port = await freePort();
  const confFile = join(o.cwd, o.args[0]);
  const conf = await readFile(confFile, 'utf8');
  if (!/^tls-port \d+/m.test(conf)) throw new Error(`${confFile}: no tls-port line`);
  await writeFile(confFile, `${conf.replace(/^tls-port \d+.*$/m, `tls-port ${port}`)}\nbind 127.0.0.1\n`);
  return startServerProcess({ command: 'redis-server', args: o.args, cwd: o.cwd, ready: /Ready to accept connections/, port });
}

/** redis-cli over TLS to `port` as `who` (a PKI file name), trusting `caFile`. */
export function redisCli(port: number, pkiDir: string, who: string, args: string[], caFile = `${pkiDir}/edge-ca.crt`): Promise<CommandResult> {
  return runCommand('redis-cli', [
    '--tls', '-h', 'localhost', '-p', String(port), '--cacert', caFile, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`, ...args,
  ], { timeoutMs: 60_000 });
}
