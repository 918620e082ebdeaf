/**
 * A real MariaDB 10.11 server (Debian's mariadbd) for the interop tests, in a
 * temp directory on a free loopback port, configured as docs/unaware-backends.md
 * says (its `mariadb-cnf` block: TLS with the backend certificate, the
 * delegation CA as its only client CA; `mariadb-users`: users authenticated
 * by certificate subject; examples/mariadb's my.cnf and users.sql are those
 * blocks, checked by the MariaDB interop test). As
 * root it runs with `--user=root` (mariadbd refuses root otherwise); setup SQL
 * goes through its unix socket as root. Stopped by its pid (SIGTERM).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { REPO_ROOT } from './proxy-process.js';
import { runCommand, type CommandResult } from './run-command.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { docBlock } from './doc-blocks.js';

export interface Mariadb extends ServerProcess {
  dir: string;
  /** SQL as root over the unix socket */
  sql(query: string): Promise<CommandResult>;
}

/** The docs' MariaDB blocks (docs/unaware-backends.md), with `certs/` pointing at the test's PKI. */
export const mariadbDoc = {
  cnf: (pkiDir: string) => docBlock('docs/unaware-backends.md', 'mariadb-cnf').text.replace(/\bcerts\//g, `${pkiDir}/`),
  users: () => docBlock('docs/unaware-backends.md', 'mariadb-users').text,
};

/** examples/mariadb/<file>, as it is */
export const mariadbExampleFile = (file: string): string => readFileSync(join(REPO_ROOT, 'examples', 'mariadb', file), 'utf8');

export async function startMariadb(o: { pkiDir: string; cnf?: string; setupSql?: string }): Promise<Mariadb> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-mariadb-'));
  const data = join(dir, 'data');
  const init = await runCommand('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=socket', '--skip-test-db'], { timeoutMs: 120_000 });
  if (init.code !== 0) throw new Error(`mariadb-install-db failed: ${init.stdout}${init.stderr}`);
  const port = await freePort();
  const socket = join(dir, 'sock');
  await writeFile(join(dir, 'my.cnf'), [
    '[mariadbd]', 'user = root', `datadir = ${data}`, `socket = ${socket}`, `port = ${port}`, 'bind_address = 127.0.0.1', `pid_file = ${join(dir, 'pid')}`,
    'skip_name_resolve', 'skip_log_bin', 'innodb_buffer_pool_size = 16M', 'innodb_log_file_size = 8M', 'performance_schema = OFF', 'log_warnings = 4',
    '', o.cnf ?? mariadbDoc.cnf(o.pkiDir), '',
  ].join('\n'));
  const server = await startServerProcess({ command: 'mariadbd', args: [`--defaults-file=${join(dir, 'my.cnf')}`], ready: /ready for connections/, port, dir, readyTimeoutMs: 60_000 });
  const sql = (query: string) => runCommand('mariadb', ['--no-defaults', '-S', socket, '-u', 'root', '--batch', '-e', query], { timeoutMs: 30_000 });
  const setup = await sql(o.setupSql ?? mariadbDoc.users());
  if (setup.code !== 0) { await server.stop(); throw new Error(`setup SQL failed: ${setup.stderr}`); }
  return { ...server, dir, sql };
}

/** The `mariadb` command-line client through the proxy as `who` (certificate), logging in as `user`. */
export function mariadbThrough(port: number, pkiDir: string, who: string | undefined, user: string, query: string, extra: string[] = []): Promise<CommandResult> {
  return runCommand('mariadb', [
    '--no-defaults', '--protocol=TCP', '-h', 'localhost', '-P', String(port), '-u', user, '--batch', '--skip-column-names', '--connect-timeout=10',
    ...(who ? ['--ssl', '--ssl-verify-server-cert', `--ssl-ca=${pkiDir}/edge-ca.crt`, `--ssl-cert=${pkiDir}/${who}.crt`, `--ssl-key=${pkiDir}/${who}.key`] : []),
    ...extra, '-e', query,
  ], { timeoutMs: 30_000 });
}
