/**
 * Private nginx instances for the benchmark (Debian's /usr/sbin/nginx): own
 * prefix directory, `daemon off`, one worker. Two roles: the fixed mTLS backend
 * every target forwards to, and the nginx reverse proxy configured as the KES
 * guide does, with its best settings.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { launchNginx, NGINX_BIN, NGINX_STREAM_MODULE } from '../../test/helpers/nginx-process.js';
import { childPids } from './proc.js';

export { NGINX_BIN, NGINX_STREAM_MODULE };

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

/** A private nginx in <parentDir>/<name> (test/helpers/nginx-process.ts), quiet logs, 8192 connections a worker. */
export async function startNginx(name: string, parentDir: string, port: number, http: (dir: string) => string, workers = 1): Promise<RunningNginx> {
  const dir = join(parentDir, name);
  await mkdir(dir, { recursive: true });
  // A block that starts with `stream {` goes beside an empty `http {}`.
  const block = http(dir);
  const stream = block.trimStart().startsWith('stream {') ? block : undefined;
  const { pid, errorLog, stop } = await launchNginx({
    dir, port, http: stream ? '' : block, stream, what: `nginx (${name})`, workers, errorLogLevel: 'warn', workerConnections: 8192, accessLog: false,
  });
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

/** Client mTLS at the edge, as both nginx proxies configure it. nginx 1.22 leaves TLSv1.3 out of its defaults. */
function edgeMtls(f: NginxProxyFiles): string {
  return [
    'ssl_protocols TLSv1.2 TLSv1.3;', `ssl_certificate     ${f.edgeCert};`, `ssl_certificate_key ${f.edgeKey};`,
    `ssl_client_certificate ${f.clientCa};`, 'ssl_verify_client on;',
  ].map((l) => `    ${l}`).join('\n');
}

/** The upstream mTLS both nginx proxies use: the proxy's own certificate, the backend's name verified, sessions reused. */
function upstreamTls(f: NginxProxyFiles, indent: string): string {
  return [
    'proxy_ssl_session_reuse on;', 'proxy_ssl_verify on;', `proxy_ssl_trusted_certificate ${f.backendCa};`,
    'proxy_ssl_name backend.internal;', 'proxy_ssl_server_name on;', 'proxy_ssl_protocols TLSv1.3;',
    `proxy_ssl_certificate     ${f.proxyCert};`, `proxy_ssl_certificate_key ${f.proxyKey};`,
  ].map((l) => `${indent}${l}`).join('\n');
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
${edgeMtls(f)}
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    proxy_buffering off;
    client_max_body_size 0;
    location / {
      proxy_pass https://kes;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${upstreamTls(f, '      ')}
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
${edgeMtls(f)}
    proxy_pass 127.0.0.1:${backendPort};
    proxy_ssl on;
${upstreamTls(f, '    ')}
    proxy_timeout 300s;
  }
}`;
}
