/**
 * HAProxy 2.6 (Debian) as a peer, one thread, in the two shapes users compare
 * us with: `mode tcp` with TLS on both sides (what connection mode does: client
 * mTLS, then an upstream mTLS connection per client connection) and `mode http`
 * (the KES-guide contract: the client certificate in a header, the proxy's own
 * certificate upstream, upstream connections reused).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type RunningDaemon } from './daemon.js';
import type { NginxProxyFiles } from './nginx.js';

export const HAPROXY_BIN = process.env.COUNTERSIGN_BENCH_HAPROXY ?? '/usr/sbin/haproxy';

export interface PemPair { certPem: string; keyPem: string }

export async function startHaproxy(opts: {
  name: string; dir: string; port: number; backendPort: number; mode: 'tcp' | 'http';
  files: NginxProxyFiles; edge: PemPair; proxyClient: PemPair;
}): Promise<RunningDaemon> {
  const dir = join(opts.dir, opts.name);
  await mkdir(dir, { recursive: true });
  // HAProxy takes certificate and key in one file
  const edgePem = join(dir, 'edge.pem');
  const clientPem = join(dir, 'proxy-client.pem');
  await writeFile(edgePem, opts.edge.certPem + opts.edge.keyPem, { mode: 0o600 });
  await writeFile(clientPem, opts.proxyClient.certPem + opts.proxyClient.keyPem, { mode: 0o600 });
  const f = opts.files;
  const http = opts.mode === 'http';
  const conf = `global
  nbthread 1
  maxconn 8000
  ssl-server-verify required
  tune.ssl.cachesize 20000

defaults
  mode ${opts.mode}
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
${http ? '  option http-keep-alive\n  http-reuse always\n' : ''}
frontend edge
  bind 127.0.0.1:${opts.port} ssl crt ${edgePem} ca-file ${f.clientCa} verify required ssl-min-ver TLSv1.2${http ? ' alpn http/1.1' : ''}
${http ? '  http-request set-header X-Tls-Client-Cert %[ssl_c_der,base64]\n' : ''}  default_backend kes

backend kes
  server s1 127.0.0.1:${opts.backendPort} ssl crt ${clientPem} ca-file ${f.backendCa} verify required verifyhost backend.internal sni str(backend.internal) ssl-min-ver TLSv1.3${http ? ' alpn http/1.1 pool-max-conn 64' : ''}
`;
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, conf);
  return startDaemon(`haproxy (${opts.name})`, HAPROXY_BIN, ['-db', '-f', file], opts.port, { stopSignal: 'SIGTERM' });
}
