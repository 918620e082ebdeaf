/**
 * Caddy (Debian's 2.6) as an http-mode peer: client certificates required at
 * the edge, `reverse_proxy` to the backend with its own client certificate, the
 * client certificate passed in a header. One thread (GOMAXPROCS=1), no admin
 * endpoint, no automatic HTTPS (no :80 listener, no ACME), its data in the run's
 * directory.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type RunningDaemon } from './daemon.js';
import type { NginxProxyFiles } from './nginx.js';

export const CADDY_BIN = process.env.COUNTERSIGN_BENCH_CADDY ?? '/usr/bin/caddy';

export async function startCaddy(opts: { name: string; dir: string; port: number; backendPort: number; files: NginxProxyFiles }): Promise<RunningDaemon> {
  const dir = join(opts.dir, opts.name);
  await mkdir(dir, { recursive: true });
  const f = opts.files;
  const caddyfile = `{
  admin off
  auto_https off
  log {
    level ERROR
  }
}

https://localhost:${opts.port} {
  bind 127.0.0.1
  tls ${f.edgeCert} ${f.edgeKey} {
    protocols tls1.2 tls1.3
    client_auth {
      mode require_and_verify
      trusted_ca_cert_file ${f.clientCa}
    }
  }
  reverse_proxy https://127.0.0.1:${opts.backendPort} {
    header_up X-Tls-Client-Cert {http.request.tls.client.certificate_der_base64}
    flush_interval -1
    transport http {
      tls_client_auth ${f.proxyCert} ${f.proxyKey}
      tls_trusted_ca_certs ${f.backendCa}
      tls_server_name backend.internal
      keepalive 300s
      keepalive_idle_conns 64
      keepalive_idle_conns_per_host 64
    }
  }
}
`;
  const file = join(dir, 'Caddyfile');
  await writeFile(file, caddyfile);
  return startDaemon(`caddy (${opts.name})`, CADDY_BIN, ['run', '--config', file, '--adapter', 'caddyfile'], opts.port, {
    env: { GOMAXPROCS: '1', XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config'), HOME: dir },
    stopSignal: 'SIGTERM',
  });
}
