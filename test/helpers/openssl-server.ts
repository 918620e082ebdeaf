/**
 * A real `openssl s_server` backend that requires a client certificate: the
 * minted certificate is checked by something we did not write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './net.js';

export { freePort } from './net.js';

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
  let accepting: () => void = () => {};
  const onOutput = (d: Buffer) => { out += d; if (out.includes('ACCEPT')) accepting(); };
  child.stdout!.on('data', onOutput);
  child.stderr!.on('data', onOutput);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`openssl s_server did not start: ${out}`)), 10_000);
    accepting = () => { clearTimeout(t); child.removeListener('exit', onExit); resolve(); };
    const onExit = (c: number | null) => { clearTimeout(t); reject(new Error(`openssl s_server exited ${c}: ${out}`)); };
    child.once('exit', onExit);
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
