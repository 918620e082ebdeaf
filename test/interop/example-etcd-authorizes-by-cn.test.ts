/**
 * examples/etcd against Debian's etcd 3.4 run with the example's flags
 * (`--client-cert-auth --trusted-ca-file` = the delegation CA) and its RBAC
 * setup (users without passwords, a role granting alice /alice/): through
 * countersign, etcd takes the user from the minted certificate's CN — alice
 * writes and reads her prefix, bob is denied by etcd's own permission check;
 * alice's original certificate presented to etcd directly is refused.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { etcdctl, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { writeIssued } from '../helpers/e2e.js';
import { runCommand } from '../helpers/run-command.js';

let pki: TestPki;
let etcd: EtcdCluster;
let proxy: ProxyProcess;
let endpoint: string;

/** etcdctl straight to the member as `who` */
const direct = (who: string, args: string[]) => runCommand('etcdctl', [
  `--endpoints=${endpoint}`, `--cacert=${pki.dir}/backend-ca.crt`, `--cert=${pki.dir}/${who}.crt`, `--key=${pki.dir}/${who}.key`, '--dial-timeout=5s', '--command-timeout=5s', ...args,
], { timeoutMs: 30_000 });

before(async () => {
  pki = await makePki();
  etcd = await startEtcdCluster({ n: 1, pkiDir: pki.dir });
  endpoint = `https://127.0.0.1:${etcd.members[0].clientPort}`;
  // the README's setup, run as root straight against the member
  await writeIssued(pki.dir, 'etcd-root', { subject: 'CN=root', issuer: pki.pki.delegationCa, usage: 'client' });
  for (const args of [
    ['user', 'add', 'root', '--no-password'], ['user', 'add', 'alice', '--no-password'], ['user', 'add', 'bob', '--no-password'],
    ['role', 'add', 'alice-rw'], ['role', 'grant-permission', 'alice-rw', 'readwrite', '/alice/', '--prefix=true'],
    ['user', 'grant-role', 'alice', 'alice-rw'], ['auth', 'enable'],
  ]) {
    const r = await direct('etcd-root', args);
    assert.equal(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`);
  }
  const config = exampleConfig('etcd', pki.dir, { etcd: [`127.0.0.1:${etcd.members[0].clientPort}`] });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await etcd?.stop(); });

test('alice writes and reads her prefix through countersign', async () => {
  const put = await etcdctl(proxy.port, pki.dir, 'alice', ['put', '/alice/config', 'v1'], { endpoints: `https://localhost:${proxy.port}` });
  assert.match(put.stdout, /OK/, put.stderr);
  const get = await etcdctl(proxy.port, pki.dir, 'alice', ['get', '/alice/config', '--print-value-only'], { endpoints: `https://localhost:${proxy.port}` });
  assert.equal(get.stdout.trim(), 'v1', get.stderr);
});

test('bob is denied by etcd\'s own permission check on the minted certificate\'s CN', async () => {
  const put = await etcdctl(proxy.port, pki.dir, 'bob', ['put', '/alice/config', 'bob was here'], { endpoints: `https://localhost:${proxy.port}` });
  assert.notEqual(put.code, 0);
  assert.match(put.stderr, /permission denied/);
  const get = await etcdctl(proxy.port, pki.dir, 'bob', ['get', '/alice/config'], { endpoints: `https://localhost:${proxy.port}` });
  assert.match(get.stderr, /permission denied/);
});

test('alice\'s own certificate, presented to etcd directly, is refused', async () => {
  const r = await direct('alice', ['get', '/alice/config']);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stdout, /v1/);
});
