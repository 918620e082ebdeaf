/**
 * A real PostgreSQL 15 server (Debian's binaries in /usr/lib/postgresql/15/bin)
 * in a temp directory, for the interop tests, set up as a doc says (TLS with
 * `ssl_ca_file` = the delegation CA, `hostssl … cert`), so it authenticates
 * the minted certificate's CN as the database user. As root it runs as the
 * `postgres` user (PostgreSQL refuses to run as root): the directory is handed
 * to that user and the server started through `setpriv`, which execs, so the
 * pid we hold is the postmaster's.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './openssl-server.js';
import { runCommand, type CommandResult } from './run-command.js';
import { docBlock, runShell } from './doc-blocks.js';
import { waitForOutput } from './wait.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface Postgres { port: number; dir: string; output(): string; sql(query: string): Promise<CommandResult>; stop(): Promise<void> }

function asPostgres(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Runs `cmd` as the server's owner: `postgres` when the test is root (PostgreSQL refuses root), else this user. */
export function asServerOwner(cmd: string, args: string[]): [string, string[]] {
  const owner = asPostgres();
  return owner
    ? ['setpriv', ['--reuid', String(owner.uid), '--regid', String(owner.gid), '--init-groups', '--', cmd, ...args]]
    : [cmd, args];
}

/**
 * A fresh cluster (initdb, local connections trusted until `prepare` says
 * otherwise), set up by `prepare(dataDir)` — a doc's steps: certificates,
 * postgresql.conf and pg_hba.conf — then started on a free loopback port and
 * given `setupSql` (run as the `postgres` user over the Unix socket, as a
 * `local … peer` line expects). The docs' client network `10.0.0.0/8` in
 * pg_hba.conf is this test's loopback. The harness's own settings (address,
 * port, socket directory, fsync off, connection logging) are appended last.
 */
export async function startPostgres(o: { prepare: (dataDir: string) => Promise<void>; setupSql: string }): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-pg-'));
  const owner = asPostgres();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const [c, a] = asServerOwner(`${PG_BIN}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const init = await runCommand(c, a, { timeoutMs: 60_000 });
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  await o.prepare(data);
  const hba = join(data, 'pg_hba.conf');
  writeFileSync(hba, readFileSync(hba, 'utf8').replaceAll('10.0.0.0/8', '127.0.0.1/32'));
  const port = await freePort();
  appendFileSync(join(data, 'postgresql.conf'), [
    '', '# the test harness', `listen_addresses = '127.0.0.1'`, `port = ${port}`, `unix_socket_directories = '${dir}'`,
    'fsync = off', 'log_connections = on', `log_min_messages = info`, '',
  ].join('\n'));
  const [sc, sa] = asServerOwner(`${PG_BIN}/postgres`, ['-D', data]);
  const child: ChildProcess = spawn(sc, sa, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitForOutput(child, () => out, 'ready to accept connections', 'postgres', 30_000);
  const sql = (query: string) => {
    const [pc, pa] = asServerOwner('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-X', '-q', '-c', query]);
    return runCommand(pc, pa, { timeoutMs: 30_000 });
  };
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

/**
 * Copies a PKI file into the data directory under the name a postgresql.conf
 * gives it, owned by the server's user (keys 0600, as PostgreSQL demands).
 */
export function installForServer(from: string, dataDir: string, name: string): void {
  const to = join(dataDir, name);
  copyFileSync(from, to);
  chmodSync(to, name.endsWith('.key') ? 0o600 : 0o644);
  const owner = asPostgres();
  if (owner) chownSync(to, owner.uid, owner.gid);
}

/** psql through the proxy as `who` (certificate), asking for database user `user`. */
export function psqlThrough(proxyPort: number, pkiDir: string, who: string, user: string, query: string): Promise<CommandResult> {
  const conn = [
    'host=localhost', `port=${proxyPort}`, `user=${user}`, 'dbname=postgres', 'sslmode=verify-full',
    `sslrootcert=${pkiDir}/edge-ca.crt`, `sslcert=${pkiDir}/${who}.crt`, `sslkey=${pkiDir}/${who}.key`, 'connect_timeout=10',
  ].join(' ');
  return runCommand('psql', [conn, '-X', '-A', '-t', '-c', query], { timeoutMs: 30_000 });
}

/**
 * examples/postgres/README.md's server block, run as written by sh in `workdir`
 * (the example's files; `certs/` from the block's own `countersign certs
 * init`) with PGDATA the fresh cluster's data directory.
 */
export function prepareAsExample(workdir: string): (dataDir: string) => Promise<void> {
  return async (dataDir) => {
    const r = await runShell(docBlock('examples/postgres/README.md', 'postgres-server').text, { cwd: workdir, env: { PGDATA: dataDir } });
    if (r.code !== 0) throw new Error(`examples/postgres/README.md's postgres-server block failed:\n${r.stdout}${r.stderr}`);
  };
}
