/**
 * Private nginx instances for the benchmark (Debian's /usr/sbin/nginx): own
 * prefix directory, `daemon off`, one worker. Two roles: the fixed mTLS backend
 * every target forwards to, and the nginx reverse proxy configured as the KES
 * guide does, with its best settings.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { childPids } from './proc.js';
import { waitForPort } from './net.js';

export const NGINX_BIN = process.env.COUNTERSIGN_BENCH_NGINX ?? '/usr/sbin/nginx';

/** The fixed response body of the backend (small, like a KES status reply). */
export const BACKEND_BODY = '{"status":"ok","service":"countersign-bench-backend","note":"a fixed small body"}\n';

export interface RunningNginx {
  port: number;
  /** master pid */
  pid: number;
  /** worker pids */
  workers(): number[];
  /** master and workers */
  pids(): number[];
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Debian's nginx-light has no stream module built in; libnginx-mod-stream ships it here. */
export const NGINX_STREAM_MODULE = process.env.COUNTERSIGN_BENCH_NGINX_STREAM ?? '/usr/lib/nginx/modules/ngx_stream_module.so';

/** A block that starts with `stream {` goes beside `http {}`, with the stream module loaded. */
function mainConfig(dir: string, block: string, workers: number): string {
  // Workers of a root master drop to "nobody", who cannot enter a 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const stream = block.trimStart().startsWith('stream {');
  const http = stream ? '' : block;
  return `${stream ? `load_module ${NGINX_STREAM_MODULE};\n` : ''}${user}worker_processes ${workers};
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}
}
${stream ? block : ''}
`;
}

export async function startNginx(name: string, parentDir: string, port: number, http: (dir: string) => string, workers = 1): Promise<RunningNginx> {
  const dir = join(parentDir, name);
  await mkdir(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, mainConfig(dir, http(dir), workers));
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let exited = false;
  const exit = once(child, 'exit').then(() => { exited = true; });
  const errorLog = async () => `${stderr}${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`;
  const stop = async () => {
    if (exited) return;
    child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };
  try {
    await waitForPort(port, { alive: () => !exited, what: `nginx (${name})` });
  } catch (err) {
    const log = await errorLog();
    await stop();
    throw new Error(`nginx (${name}) did not start: ${(err as Error).message}\n${log}`);
  }
  const pid = child.pid!;
  return { port, pid, workers: () => childPids(pid), pids: () => [pid, ...childPids(pid)], errorLog, stop };
}

export interface BackendFiles { cert: string; key: string; trust: string }

/**
 * The floor: a fixed small body, mTLS required (`ssl_verify_client on`) against a
 * bundle trusting the delegation CA (minted certificates), the backend CA (the
 * proxies' own header-mode certificate) and the client CA (direct clients).
 * nginx 1.22 leaves TLSv1.3 out of its default ssl_protocols, so it is listed.
 */
export function backendHttpBlock(port: number, f: BackendFiles): string {
  return `
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate     ${f.cert};
    ssl_certificate_key ${f.key};
    ssl_client_certificate ${f.trust};
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_session_cache shared:backend:10m;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    location / {
      default_type application/json;
      return 200 '${BACKEND_BODY.trim()}\n';
    }
  }`;
}

export interface NginxProxyFiles {
  edgeCert: string; edgeKey: string; clientCa: string;
  backendCa: string; proxyCert: string; proxyKey: string;
}

/**
 * nginx as the KES guide configures it (https://min.io/docs/kes/concepts/tls-proxy):
 * ssl_verify_client on, X-Tls-Client-Cert $ssl_client_escaped_cert, its own
 * client certificate upstream, proxy_buffering off; plus the settings that make
 * it fastest: upstream keepalive, HTTP/1.1 upstream with Connection "",
 * session reuse, one worker, no access log.
 */
export function nginxProxyHttpBlock(port: number, backendPort: number, f: NginxProxyFiles): string {
  return `
  upstream kes {
    server 127.0.0.1:${backendPort};
    keepalive 32;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} ssl http2;
    server_name localhost;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate     ${f.edgeCert};
    ssl_certificate_key ${f.edgeKey};
    ssl_client_certificate ${f.clientCa};
    ssl_verify_client on;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    proxy_buffering off;
    client_max_body_size 0;
    location / {
      proxy_pass https://kes;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_session_reuse on;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${f.backendCa};
      proxy_ssl_name backend.internal;
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_certificate     ${f.proxyCert};
      proxy_ssl_certificate_key ${f.proxyKey};
      proxy_set_header X-Tls-Client-Cert $ssl_client_escaped_cert;
    }
  }`;
}

/**
 * nginx `stream` doing what connection mode does: client mTLS at the edge, then
 * one upstream mTLS connection per client connection (its own client
 * certificate, the backend's name verified, sessions reused), bytes piped.
 */
export function nginxStreamBlock(port: number, backendPort: number, f: NginxProxyFiles): string {
  return `stream {
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate     ${f.edgeCert};
    ssl_certificate_key ${f.edgeKey};
    ssl_client_certificate ${f.clientCa};
    ssl_verify_client on;
    proxy_pass 127.0.0.1:${backendPort};
    proxy_ssl on;
    proxy_ssl_session_reuse on;
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate ${f.backendCa};
    proxy_ssl_name backend.internal;
    proxy_ssl_server_name on;
    proxy_ssl_protocols TLSv1.3;
    proxy_ssl_certificate     ${f.proxyCert};
    proxy_ssl_certificate_key ${f.proxyKey};
    proxy_timeout 300s;
  }
}`;
}
