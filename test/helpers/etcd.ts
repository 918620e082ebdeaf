/**
 * Real etcd (Debian's etcd-server, /usr/bin/etcd) for the interop tests, on free
 * loopback ports in a temp directory, client URLs over TLS requiring a client
 * certificate (`--client-cert-auth`):
 * - `startEtcdCluster(n)`: n members that form one cluster, trusting the test
 *   PKI's delegation CA; each can be frozen (SIGSTOP), killed and restarted by pid.
 * - `startEtcd()`: one member with its own PKI, issued here; `files` are what a
 *   countersign config points `edge.acme.storage.etcd.tls` at.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { freePort, waitForPort } from './net.js';
import { makeTempDir } from './edge-tls.js';
import { waitFor } from './wait.js';
import { runCommand, type CommandResult } from './run-command.js';

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  pid(): number | undefined;
  output(): string;
  /** SIGSTOP: accepts TCP (the kernel does), never answers */
  freeze(): void;
  /** SIGKILL, waits for the exit */
  kill(): Promise<void>;
  /** starts the member again on the same data directory and ports */
  restart(): Promise<void>;
}

export interface EtcdCluster { members: EtcdMember[]; stop(): Promise<void> }

/** The flags the harness sets itself (names, addresses, data directory, cluster): a doc's values for them are placeholders. */
const HARNESS_FLAGS = new Set([
  '--name', '--data-dir', '--listen-client-urls', '--advertise-client-urls', '--listen-peer-urls', '--initial-advertise-peer-urls',
  '--initial-cluster', '--initial-cluster-state', '--initial-cluster-token',
]);

/** A doc's etcd arguments without the flags the harness sets (each with its value, when it has one). */
export function docEtcdFlags(args: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag] = args[i].split('=');
    const takesNext = !args[i].includes('=') && i + 1 < args.length && !args[i + 1].startsWith('--');
    if (HARNESS_FLAGS.has(flag)) { if (takesNext) i++; continue; }
    kept.push(args[i]);
    if (takesNext) kept.push(args[++i]);
  }
  return kept;
}

/**
 * `flags`: the TLS and auth flags as a doc gives them (see docEtcdFlags),
 * run in `cwd` so that its relative paths (`certs/backend.crt`) resolve as
 * they do for a user; default: the test PKI's backend certificate, client
 * certificates required from the delegation CA.
 */
export async function startEtcdCluster(o: { n: number; pkiDir: string; cert?: string; key?: string; flags?: string[]; cwd?: string }): Promise<EtcdCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-etcd-'));
  const ports = await Promise.all(Array.from({ length: o.n }, async () => ({ client: await freePort(), peer: await freePort() })));
  const names = ports.map((_, i) => `m${i}`);
  const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i].peer}`).join(',');
  const members: EtcdMember[] = names.map((name, i) => {
    let child: ChildProcess | undefined;
    let out = '';
    let exited: Promise<void> = Promise.resolve();
    const start = (state: 'new' | 'existing') => {
      child = spawn('etcd', [
        '--name', name, '--data-dir', join(dir, name),
        '--listen-client-urls', `https://127.0.0.1:${ports[i].client}`, '--advertise-client-urls', `https://127.0.0.1:${ports[i].client}`,
        '--listen-peer-urls', `http://127.0.0.1:${ports[i].peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${ports[i].peer}`,
        '--initial-cluster', initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', 'countersign-test',
        ...(o.flags ?? [
          '--cert-file', o.cert ?? `${o.pkiDir}/backend.crt`, '--key-file', o.key ?? `${o.pkiDir}/backend.key`,
          '--client-cert-auth', '--trusted-ca-file', `${o.pkiDir}/delegation-ca.crt`,
        ]),
        '--heartbeat-interval', '100', '--election-timeout', '1000', '--logger', 'zap', '--log-outputs', 'stderr',
      ], { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d) => { out += d; });
      child.stderr!.on('data', (d) => { out += d; });
      const c = child;
      exited = new Promise((r) => c.once('exit', () => r()));
    };
    return {
      name, clientPort: ports[i].client, peerPort: ports[i].peer,
      pid: () => child?.pid,
      output: () => out,
      start,
      freeze: () => { if (child?.pid) process.kill(child.pid, 'SIGSTOP'); },
      kill: async () => { if (child?.pid && child.exitCode === null) { process.kill(child.pid, 'SIGKILL'); await exited; } },
      restart: async () => { start('existing'); await waitForPort(ports[i].client, { what: 'etcd' }); },
      stopGracefully: async () => {
        if (child?.pid && child.exitCode === null) {
          process.kill(child.pid, 'SIGCONT');
          process.kill(child.pid, 'SIGTERM');
          const t = setTimeout(() => { if (child?.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL'); }, 5000);
          await exited;
          clearTimeout(t);
        }
      },
    } as EtcdMember & { start(s: 'new' | 'existing'): void; stopGracefully(): Promise<void> };
  });
  for (const m of members) (m as unknown as { start(s: string): void }).start('new');
  await Promise.all(members.map((m) => waitForPort(m.clientPort, { what: 'etcd' })));
  return {
    members,
    stop: async () => {
      await Promise.all(members.map((m) => (m as unknown as { stopGracefully(): Promise<void> }).stopGracefully()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** etcdctl through the proxy as `who` (a PKI file name). */
export function etcdctl(proxyPort: number, pkiDir: string, who: string, args: string[], o: { timeout?: string; endpoints?: string } = {}): Promise<CommandResult> {
  return runCommand('etcdctl', [
    `--endpoints=${o.endpoints ?? `https://127.0.0.1:${proxyPort}`}`, `--cacert=${pkiDir}/edge-ca.crt`, `--cert=${pkiDir}/${who}.crt`, `--key=${pkiDir}/${who}.key`,
    `--command-timeout=${o.timeout ?? '5s'}`, `--dial-timeout=${o.timeout ?? '5s'}`, ...args,
  ], { timeoutMs: 30_000 });
}

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
  try {
    const state = await waitFor(async () => {
      if (child.exitCode !== null) return 'exited';
      await etcdctl('endpoint', 'health');
      return 'healthy';
    }, 'etcd to be healthy', 30_000, 200);
    if (state === 'exited') throw new Error(`etcd exited with ${child.exitCode}`);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return { endpoint, dir, files, ca, client, logs: () => output, etcdctl, stop };
}
