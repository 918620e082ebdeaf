/**
 * Real etcd members (etcd-server 3.4) for the interop tests: client URLs on
 * TLS requiring a client certificate from the delegation CA (`--client-cert-auth`),
 * peers on plain HTTP over loopback. `startEtcdCluster(n)` starts n members that
 * form one cluster; each can be stopped (SIGSTOP), continued, killed and
 * restarted by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './openssl-server.js';
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

export async function startEtcdCluster(o: { n: number; pkiDir: string; cert?: string; key?: string }): Promise<EtcdCluster> {
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
        '--cert-file', o.cert ?? `${o.pkiDir}/backend.crt`, '--key-file', o.key ?? `${o.pkiDir}/backend.key`,
        '--client-cert-auth', '--trusted-ca-file', `${o.pkiDir}/delegation-ca.crt`,
        '--heartbeat-interval', '100', '--election-timeout', '1000', '--logger', 'zap', '--log-outputs', 'stderr',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      restart: async () => { start('existing'); await waitReady(ports[i].client, out); },
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
  await Promise.all(members.map((m) => waitReady(m.clientPort, '')));
  return {
    members,
    stop: async () => {
      await Promise.all(members.map((m) => (m as unknown as { stopGracefully(): Promise<void> }).stopGracefully()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until the member's TLS client port accepts connections. */
async function waitReady(port: number, _out: string): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`etcd on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** etcdctl through the proxy as `who` (a PKI file name). */
export function etcdctl(proxyPort: number, pkiDir: string, who: string, args: string[], o: { timeout?: string; endpoints?: string } = {}): Promise<CommandResult> {
  return runCommand('etcdctl', [
    `--endpoints=${o.endpoints ?? `https://127.0.0.1:${proxyPort}`}`, `--cacert=${pkiDir}/edge-ca.crt`, `--cert=${pkiDir}/${who}.crt`, `--key=${pkiDir}/${who}.key`,
    `--command-timeout=${o.timeout ?? '5s'}`, `--dial-timeout=${o.timeout ?? '5s'}`, ...args,
  ], { timeoutMs: 30_000 });
}
