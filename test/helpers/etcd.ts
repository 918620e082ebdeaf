/**
 * A real etcd (Debian's etcd-server, /usr/bin/etcd) on free loopback ports, one
 * per test file, in a temp directory: client URL over TLS with client-certificate
 * auth (`--client-cert-auth`), so a client without a certificate from `ca` is
 * refused in the handshake. The PKI is issued here with src/pki; `files` are
 * what a countersign config points `edge.acme.storage.etcd.tls` at.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/issue-certificate.js';
import { freePort, makeTempDir, sleep } from './edge-tls.js';
import { runCommand } from './run-command.js';

export interface EtcdServer {
  /** https://127.0.0.1:<port> */
  endpoint: string;
  /** the directory holding ca.crt, client.crt, client.key (0600), and etcd's data */
  dir: string;
  files: { ca: string; cert: string; key: string };
  ca: IssuedCertificate;
  client: IssuedCertificate;
  /** output of etcd so far, for failure messages */
  logs(): string;
  /** etcdctl over mTLS with the client certificate, e.g. `etcdctl('get', '--prefix', '/x')` */
  etcdctl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startEtcd(): Promise<EtcdServer> {
  const { dir, cleanup } = await makeTempDir('countersign-etcd-');
  const ca = await issueCertificate({ subject: 'CN=etcd test CA', ca: true });
  const server = await issueCertificate({ subject: 'CN=etcd', issuer: ca, usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const client = await issueCertificate({ subject: 'CN=countersign', issuer: ca, usage: 'client' });
  const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.cert, client.certPem);
  await writeFile(files.key, client.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'server.crt'), server.certPem);
  await writeFile(join(dir, 'server.key'), server.keyPem, { mode: 0o600 });

  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `https://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let output = '';
  const child: ChildProcess = spawn('etcd', [
    '--name', 'test', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`, '--initial-cluster-state', 'new',
    '--cert-file', join(dir, 'server.crt'), '--key-file', join(dir, 'server.key'),
    '--trusted-ca-file', files.ca, '--client-cert-auth',
    '--log-level', 'warn', '--logger', 'zap',
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => { output += d; });
  child.stderr!.on('data', (d) => { output += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const etcdctl = async (...args: string[]): Promise<string> => {
    const r = await runCommand('etcdctl', ['--endpoints', endpoint, '--cacert', files.ca, '--cert', files.cert, '--key', files.key, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' }, timeoutMs: 20_000,
    });
    if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGTERM'); await exited; }
    await cleanup();
  };

  // ready when etcdctl (over mTLS) can read the cluster's health
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) { await cleanup(); throw new Error(`etcd exited with ${child.exitCode}:\n${output}`); }
    try {
      await etcdctl('endpoint', 'health');
      break;
    } catch (err) {
      if (Date.now() > deadline) { await stop(); throw new Error(`etcd not healthy after 30 s: ${(err as Error).message}\n${output}`); }
      await sleep(200);
    }
  }
  return { endpoint, dir, files, ca, client, logs: () => output, etcdctl, stop };
}
