/**
 * A real PostgreSQL 15 server (Debian's binaries in /usr/lib/postgresql/15/bin)
 * in a temp directory, for the interop tests: TLS on 127.0.0.1 with
 * `hostssl all all 127.0.0.1/32 cert` and `ssl_ca_file` = the delegation CA, so
 * it authenticates the minted certificate's CN as the database user. As root
 * it runs as the `postgres` user (PostgreSQL refuses to run as root): the
 * directory is handed to that user and the server started through `setpriv`,
 * which execs, so the pid we hold is the postmaster's.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './openssl-server.js';
import { runCommand, type CommandResult } from './run-command.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface Postgres { port: number; dir: string; output(): string; sql(query: string): Promise<CommandResult>; stop(): Promise<void> }

function asPostgres(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export async function startPostgres(o: { pkiDir: string; setupSql: string }): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-pg-'));
  const owner = asPostgres();
  const wrap = (cmd: string, args: string[]): [string, string[]] => owner
    ? ['setpriv', ['--reuid', String(owner.uid), '--regid', String(owner.gid), '--init-groups', '--', cmd, ...args]]
    : [cmd, args];
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const [c, a] = wrap(`${PG_BIN}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const init = await runCommand(c, a, { timeoutMs: 60_000 });
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  for (const [from, to] of [['backend.crt', 'server.crt'], ['backend.key', 'server.key'], ['delegation-ca.crt', 'ca.crt']]) {
    copyFileSync(join(o.pkiDir, from), join(data, to));
    chmodSync(join(data, to), 0o600);
    if (owner) chownSync(join(data, to), owner.uid, owner.gid);
  }
  const port = await freePort();
  appendFileSync(join(data, 'postgresql.conf'), [
    '', `listen_addresses = '127.0.0.1'`, `port = ${port}`, `unix_socket_directories = '${dir}'`,
    'ssl = on', `ssl_cert_file = 'server.crt'`, `ssl_key_file = 'server.key'`, `ssl_ca_file = 'ca.crt'`,
    `ssl_min_protocol_version = 'TLSv1.3'`, 'fsync = off', 'log_connections = on', `log_min_messages = info`, '',
  ].join('\n'));
  writeFileSync(join(data, 'pg_hba.conf'), [
    'local all postgres trust',
    'hostssl all all 127.0.0.1/32 cert',
    '',
  ].join('\n'));
  const [sc, sa] = wrap(`${PG_BIN}/postgres`, ['-D', data]);
  const child: ChildProcess = spawn(sc, sa, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('ready to accept connections')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const sql = (query: string) => runCommand('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-X', '-q', '-c', query], { timeoutMs: 30_000 });
  const setup = await sql(o.setupSql);
  if (setup.code !== 0) throw new Error(`setup SQL failed: ${setup.stderr}`);
  return {
    port, dir, sql,
    output: () => out,
    stop: async () => {
      // SIGINT: PostgreSQL's fast shutdown
      if (child.exitCode === null && child.pid) { process.kill(child.pid, 'SIGINT'); await exited; }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** psql through the proxy as `who` (certificate), asking for database user `user`. */
export function psqlThrough(proxyPort: number, pkiDir: string, who: string, user: string, query: string): Promise<CommandResult> {
  const conn = [
    'host=localhost', `port=${proxyPort}`, `user=${user}`, 'dbname=postgres', 'sslmode=verify-full',
    `sslrootcert=${pkiDir}/edge-ca.crt`, `sslcert=${pkiDir}/${who}.crt`, `sslkey=${pkiDir}/${who}.key`, 'connect_timeout=10',
  ].join(' ');
  return runCommand('psql', [conn, '-X', '-A', '-t', '-c', query], { timeoutMs: 30_000 });
}
