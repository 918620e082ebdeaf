/**
 * One private nginx process (Debian's /usr/sbin/nginx), used by the interop
 * tests (test/helpers/nginx.ts) and the benchmark (bench/lib/nginx.ts): its own
 * prefix directory, `daemon off`, its own pid file and error log; waits until
 * the port accepts connections; stops gracefully (SIGQUIT, then SIGKILL after
 * 5 s). Never touches the system nginx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitForPort } from './net.js';

/** The nginx binary; COUNTERSIGN_TEST_NGINX (or the bench's COUNTERSIGN_BENCH_NGINX) overrides it. */
export const NGINX_BIN = process.env.COUNTERSIGN_TEST_NGINX ?? process.env.COUNTERSIGN_BENCH_NGINX ?? '/usr/sbin/nginx';

export interface NginxMainOptions {
  /** worker_processes, default 1 */
  workers?: number;
  /** error_log level, default info */
  errorLogLevel?: string;
  /** events { worker_connections }, default 256 */
  workerConnections?: number;
  /** access_log on (in the directory) or off, default on */
  accessLog?: boolean;
  /** a `stream { }` block beside `http { }`; loads the stream module (Debian's nginx-light has it only as a module) */
  stream?: string;
}

/** Where libnginx-mod-stream puts the stream module; COUNTERSIGN_BENCH_NGINX_STREAM overrides it. */
export const NGINX_STREAM_MODULE = process.env.COUNTERSIGN_BENCH_NGINX_STREAM ?? '/usr/lib/nginx/modules/ngx_stream_module.so';

/** nginx.conf around an `http { }` body: temp paths, pid and logs all inside `dir`. */
export function nginxMainConfig(dir: string, http: string, o: NginxMainOptions = {}): string {
  // Workers of a root master drop to "nobody", who cannot enter a 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const load = o.stream ? `load_module ${NGINX_STREAM_MODULE};\n` : '';
  return `${load}${user}worker_processes ${o.workers ?? 1};
error_log ${dir}/error.log ${o.errorLogLevel ?? 'info'};
pid ${dir}/nginx.pid;
events { worker_connections ${o.workerConnections ?? 256}; }
http {
  access_log ${o.accessLog === false ? 'off' : `${dir}/access.log`};
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}
}
${o.stream ?? ''}
`;
}

export interface NginxProcess {
  /** master pid */
  pid: number;
  child: ChildProcess;
  /** stderr and the error log so far */
  errorLog(): Promise<string>;
  /** graceful stop (SIGQUIT), SIGKILL after 5 s */
  stop(): Promise<void>;
}

/**
 * Writes `<dir>/nginx.conf` and starts nginx on it; resolves once 127.0.0.1:port
 * accepts connections. On failure nginx is stopped and the error carries its
 * log (as `log`, so a caller can retry on "Address already in use").
 */
export async function launchNginx(o: { dir: string; port: number; http: string; what?: string } & NginxMainOptions): Promise<NginxProcess> {
  const conf = join(o.dir, 'nginx.conf');
  await writeFile(conf, nginxMainConfig(o.dir, o.http, o));
  const child = spawn(NGINX_BIN, ['-p', o.dir, '-c', conf, '-e', join(o.dir, 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let exited = false;
  const exit = once(child, 'exit').then(() => { exited = true; });
  const errorLog = async () => `${stderr}${await readFile(join(o.dir, 'error.log'), 'utf8').catch(() => '')}`;
  const stop = async () => {
    if (exited) return;
    child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };
  const what = o.what ?? 'nginx';
  try {
    await waitForPort(o.port, { alive: () => !exited, what, timeoutMs: 60_000 });
  } catch (err) {
    const log = await errorLog();
    await stop();
    throw Object.assign(new Error(`${what} did not start: ${(err as Error).message}\n${log}`), { log });
  }
  return { pid: child.pid!, child, errorLog, stop };
}
