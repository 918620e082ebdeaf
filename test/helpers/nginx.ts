/**
 * Test helpers for interop with real nginx (Debian's /usr/sbin/nginx): start a
 * private nginx on a free loopback port with a generated config, wait until it
 * accepts connections, stop it and remove its files; plus the other real tools
 * the interop tests drive (curl, openssl) and a capturing HTTPS backend.
 *
 * Never touches the system nginx: its own prefix, config, pid, logs and temp
 * directories all live in a fresh temporary directory.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevPki } from '../../src/pki/dev/index.js';
import { freePort } from './net.js';
import { launchNginx } from './nginx-process.js';
import { makePki } from './pki.js';

export { freePort, waitForPort } from './net.js';
export { NGINX_BIN } from './nginx-process.js';

export interface NginxContext {
  /** the free port the `server` block must listen on (127.0.0.1) */
  port: number;
  /** nginx's prefix directory; files given in `files` are written here */
  dir: string;
}

export interface StartNginxOptions {
  /** files to write into the nginx directory first (name -> content), e.g. certificates */
  files?: Record<string, string>;
  /** the contents of the `http { }` block: server blocks etc. */
  http: (ctx: NginxContext) => string;
}

export interface RunningNginx extends NginxContext {
  url: string;
  /** nginx's error log so far (for assertion messages) */
  errorLog(): Promise<string>;
  /** graceful stop (SIGQUIT), then SIGKILL after 5 s; removes the directory */
  stop(): Promise<void>;
}

async function startOnce(opts: StartNginxOptions): Promise<RunningNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-nginx-'));
  const port = await freePort();
  const ctx = { port, dir };
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    await writeFile(join(dir, name), content, { mode: name.endsWith('.key') ? 0o600 : 0o644 });
    if (name.endsWith('.key')) await chmod(join(dir, name), 0o600);
  }
  let nginx;
  try {
    nginx = await launchNginx({ dir, port, http: opts.http(ctx) });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const stop = async () => { await nginx.stop(); await rm(dir, { recursive: true, force: true }); };
  return { ...ctx, url: `https://127.0.0.1:${port}`, errorLog: nginx.errorLog, stop };
}

/** Starts nginx; retries on another port if the free one was taken in between. */
export async function startNginx(opts: StartNginxOptions): Promise<RunningNginx> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      const log = (err as { log?: string }).log ?? '';
      if (attempt < 3 && /Address already in use/.test(log)) continue;
      throw err;
    }
  }
}

// ---- real clients ----------------------------------------------------------

export interface CurlResult { status: number; body: string; stderr: string; exitCode: number }

/**
 * Runs curl. `args` are curl's own (e.g. --cert, --key, --cacert, -H); the
 * status code is taken from -w. Never throws on an HTTP or TLS failure: the
 * exit code and stderr are returned for the assertion.
 */
export function curl(url: string, args: string[] = []): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '15', '-o', '-', '-w', '\n%{http_code}', ...args, url], { maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const cut = stdout.lastIndexOf('\n');
      resolve({
        status: Number(stdout.slice(cut + 1)) || 0,
        body: stdout.slice(0, cut),
        stderr,
        exitCode: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
      });
    });
  });
}

export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) p.stdin!.end(input);
  });
}

/**
 * A client certificate made by the openssl CLI, for subjects the test-PKI
 * helper cannot express (multi-valued RDNs, escaped "+", ",", quotes, UTF-8).
 * `subject` is in `openssl req -subj` syntax: "/C=DE/O=Müller \+ Söhne/CN=a".
 * Without `issuer` the certificate is self-signed (what `kes identity new` makes).
 */
export async function opensslClientCertificate(opts: {
  dir: string;
  name: string;
  subject: string;
  issuer?: { certPath: string; keyPath: string };
  /** default ec-p256 */
  key?: 'ec-p256' | 'rsa-2048';
  /** extension lines for the leaf, e.g. "subjectAltName=DNS:a.example" */
  extensions?: string[];
}): Promise<{ certPath: string; keyPath: string; certPem: string }> {
  const keyPath = join(opts.dir, `${opts.name}.key`);
  const csrPath = join(opts.dir, `${opts.name}.csr`);
  const certPath = join(opts.dir, `${opts.name}.crt`);
  const extPath = join(opts.dir, `${opts.name}.ext`);
  const newkey = opts.key === 'rsa-2048' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await run('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', keyPath, '-out', csrPath, '-utf8', '-multivalue-rdn', '-subj', opts.subject]);
  await writeFile(extPath, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth', ...(opts.extensions ?? [])].join('\n') + '\n');
  const signer = opts.issuer ? ['-CA', opts.issuer.certPath, '-CAkey', opts.issuer.keyPath] : ['-signkey', keyPath];
  await run('openssl', ['x509', '-req', '-in', csrPath, ...signer, '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '2', '-out', certPath, '-extfile', extPath]);
  await chmod(keyPath, 0o600);
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8') };
}

// A backend that records what it receives now lives with the other Node backends.
export { startCapturingBackend, type CapturedRequest, type CapturingBackend } from './node-backend.js';

// ---- a dev PKI on disk ------------------------------------------------------------

export interface InteropPki {
  dir: string;
  pki: DevPki;
  /** path of a file of the dev PKI, e.g. file('client-ca.key') */
  file(name: string): string;
  /** the nginx `files` map: the certificates and keys nginx needs, by their dev-PKI names */
  nginxFiles: Record<string, string>;
  cleanup(): Promise<void>;
}

/** generateDevPki() written to a temporary directory (keys 0600), for curl/openssl/nginx (test/helpers/pki.ts). */
export async function interopPki(): Promise<InteropPki> {
  const { dir, pki, file, cleanup } = await makePki();
  return {
    dir,
    pki,
    file,
    nginxFiles: {
      'edge.crt': pki.edge.certPem, 'edge.key': pki.edge.keyPem,
      'client-ca.crt': pki.clientCa.certPem,
      'backend-ca.crt': pki.backendCa.certPem,
      'proxy-client.crt': pki.proxyClient.certPem, 'proxy-client.key': pki.proxyClient.keyPem,
    },
    cleanup,
  };
}

/**
 * The KES guide's nginx `server` block (https://min.io/docs/kes/concepts/tls-proxy),
 * pointed at `backendPort` on 127.0.0.1 and using the files of `interopPki().nginxFiles`.
 */
export function kesGuideServerBlock(ctx: NginxContext, opts: { backendPort: number; verifyClient: 'on' | 'optional' | 'optional_no_ca' }): string {
  const d = ctx.dir;
  return `
  server {
    listen 127.0.0.1:${ctx.port} ssl http2;
    server_name localhost;
    proxy_buffering off;
    client_max_body_size 0;
    ssl_certificate     ${d}/edge.crt;
    ssl_certificate_key ${d}/edge.key;
    ssl_client_certificate ${d}/client-ca.crt;
    ssl_verify_client   ${opts.verifyClient};
    location / {
      proxy_pass https://127.0.0.1:${opts.backendPort};
      proxy_buffering off;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${d}/backend-ca.crt;
      proxy_ssl_name backend.internal;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_certificate     ${d}/proxy-client.crt;
      proxy_ssl_certificate_key ${d}/proxy-client.key;
      proxy_set_header X-Tls-Client-Cert $ssl_client_escaped_cert;
    }
  }`;
}
