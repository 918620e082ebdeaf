/**
 * A real `openssl s_server` backend that requires a client certificate: the
 * minted certificate is checked by something we did not write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface OpensslServer {
  port: number;
  output: () => string;
  /** PEM of the client certificates it printed, in order */
  clientCertificates: () => string[];
  stop(): Promise<void>;
}

export async function startOpensslServer(o: { cert: string; key: string; caFile: string; tls13?: boolean; extraArgs?: string[] }): Promise<OpensslServer> {
  const port = await freePort();
  const args = ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', o.cert, '-key', o.key, '-CAfile', o.caFile, '-Verify', '2', '-verify_return_error'];
  if (o.tls13 !== false) args.push('-tls1_3');
  if (o.extraArgs) args.push(...o.extraArgs);
  // s_server exits when its stdin closes, so keep stdin open.
  const child: ChildProcess = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`openssl s_server did not start: ${out}`)), 5000);
    const check = () => { if (out.includes('ACCEPT')) { clearTimeout(t); resolve(); } else setTimeout(check, 20); };
    check();
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`openssl s_server exited ${c}: ${out}`)); });
  });
  return {
    port,
    output: () => out,
    clientCertificates: () => [...out.matchAll(/Client certificate\n(-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----)/g)].map((m) => m[1] + '\n'),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}
