/**
 * Failover that a client does not notice, against a real 3-member etcd
 * cluster behind countersign (connection mode, default connectRace): a bounded
 * loop of `etcdctl put` (each a new connection, 3 s client timeout) runs while
 * one member is SIGSTOPped (accepts TCP, never answers TLS), then SIGKILLed,
 * then restarted. No write fails (the writes are sequential, so none is in
 * flight on the member when it freezes), the member is logged down once and up
 * once, at warn; afterwards nothing stays in use (/status: no open connection,
 * every member's active count back at 0).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startEtcdCluster, etcdctl, type EtcdCluster } from '../helpers/etcd.js';
import { runCommand } from '../helpers/run-command.js';
import { writeIssued } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { untilNothingInUse } from '../helpers/admin-client.js';

let pki: TestPki;
let etcd: EtcdCluster;
let proxy: ProxyProcess;
const adminSocket = () => join(pki.dir, 'admin.sock');

before(async () => {
  pki = await makePki();
  etcd = await startEtcdCluster({ n: 3, pkiDir: pki.dir });
  // a certificate for asking the members directly which one leads
  await writeIssued(pki.dir, 'direct', { subject: 'CN=root', issuer: pki.pki.delegationCa, usage: 'client' });
  const config = baseConfig(pki.dir, 0) as { upstreams: { backend: Record<string, unknown> }; admin?: unknown };
  config.upstreams.backend.servers = etcd.members.map((m) => `127.0.0.1:${m.clientPort}`);
  config.upstreams.backend.failTimeout = '1s';
  config.admin = { listen: adminSocket() };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await etcd?.stop(); });

/** the member that is not the leader, asked of the members themselves */
async function aFollower() {
  const r = await runCommand('etcdctl', [
    `--endpoints=${etcd.members.map((m) => `https://127.0.0.1:${m.clientPort}`).join(',')}`, `--cacert=${pki.dir}/backend-ca.crt`,
    `--cert=${pki.dir}/direct.crt`, `--key=${pki.dir}/direct.key`, 'endpoint', 'status', '-w', 'json',
  ], { timeoutMs: 20_000 });
  const status = JSON.parse(r.stdout) as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
  const f = status.find((s) => s.Status.header.member_id !== s.Status.leader)!;
  return etcd.members.find((m) => f.Endpoint.endsWith(`:${m.clientPort}`))!;
}

test('writes through a frozen, killed and restarted member: none fails; down and up logged once each', async () => {
  const member = await aFollower();
  const server = `127.0.0.1:${member.clientPort}`;
  const failures: string[] = [];
  let n = 0;
  const write = async () => {
    const key = `failover/${String(n++).padStart(3, '0')}`;
    const r = await etcdctl(proxy.port, pki.dir, 'alice', ['put', key, 'v'], { timeout: '3s', endpoints: `https://localhost:${proxy.port}` });
    if (r.code !== 0 || !/OK/.test(r.stdout)) failures.push(`${key}: ${r.stderr.trim()}`);
  };
  for (let i = 0; i < 6; i++) await write();

  member.freeze();
  for (let i = 0; i < 12; i++) await write();
  const down = await proxy.waitForLog((l) => l.msg === 'upstream server down' && l.server === server);
  assert.equal(down.level, 40, 'warn');

  await member.kill();
  for (let i = 0; i < 9; i++) await write();

  await member.restart();
  // writes go on until the member is retried after its backoff (≤ 6 × failTimeout) and logged up
  await waitFor(async () => { await write(); return proxy.logs.some((l) => l.msg === 'upstream server up' && l.server === server); }, `${server} logged up`, 30_000, 0);
  for (let i = 0; i < 6; i++) await write();

  assert.deepEqual(failures, [], `${failures.length} of ${n} writes failed`);
  const lines = proxy.logs.filter((l) => l.server === server && (l.msg === 'upstream server down' || l.msg === 'upstream server up'));
  assert.deepEqual(lines.map((l) => l.msg), ['upstream server down', 'upstream server up'], 'once per state change');
  assert.ok(lines.every((l) => l.level === 40));
  const keys = await etcdctl(proxy.port, pki.dir, 'alice', ['get', 'failover/', '--prefix', '--keys-only'], { endpoints: `https://localhost:${proxy.port}` });
  assert.equal(keys.stdout.split('\n').filter((l) => l.startsWith('failover/')).length, n, 'every write is in the cluster');
  await untilNothingInUse(adminSocket());
});
