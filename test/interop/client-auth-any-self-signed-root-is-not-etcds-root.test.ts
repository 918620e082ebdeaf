/**
 * clientAuth mode any in front of a real etcd (3.4, `--client-cert-auth`:
 * the user is the client certificate's CN) with RBAC on, root and alice set
 * up as examples/etcd says. A self-signed `CN=root, O=system:masters` — a
 * name no configured CA vouches for — must not become etcd's root through
 * countersign: it is minted `CN=<its identity>`, so etcd sees the user its
 * key names (granted here a prefix of its own, to show that is who etcd sees),
 * never root. alice, issued by the client CA that mode any is also given,
 * keeps her name and her role.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { etcdctl, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { identityOfFile, writeIssued } from '../helpers/e2e.js';
import { runCommand } from '../helpers/run-command.js';

let pki: TestPki;
let etcd: EtcdCluster;
let proxy: ProxyProcess;
let endpoint: string;
let selfRootIdentity: string;

/** etcdctl straight to the member as `who` */
const direct = (who: string, args: string[]) => runCommand('etcdctl', [
  `--endpoints=${endpoint}`, `--cacert=${pki.dir}/backend-ca.crt`, `--cert=${pki.dir}/${who}.crt`, `--key=${pki.dir}/${who}.key`, '--dial-timeout=5s', '--command-timeout=5s', ...args,
], { timeoutMs: 30_000 });
/** etcdctl through countersign as `who` */
const through = (who: string, args: string[]) => etcdctl(proxy.port, pki.dir, who, args, { endpoints: `https://localhost:${proxy.port}` });

before(async () => {
  pki = await makePki();
  etcd = await startEtcdCluster({ n: 1, pkiDir: pki.dir });
  endpoint = `https://127.0.0.1:${etcd.members[0].clientPort}`;
  // what anyone can make: a self-signed certificate naming itself root, in Kubernetes' admin group too
  await writeIssued(pki.dir, 'self-root', { subject: 'CN=root, O=system:masters', usage: 'client' });
  selfRootIdentity = identityOfFile(pki.dir, 'self-root');
  // the examples/etcd setup, run as root straight against the member; the self-signed client's
  // identity is a user with a prefix of its own, so a write there proves which user etcd saw
  await writeIssued(pki.dir, 'etcd-root', { subject: 'CN=root', issuer: pki.pki.delegationCa, usage: 'client' });
  for (const args of [
    ['user', 'add', 'root', '--no-password'], ['user', 'add', 'alice', '--no-password'], ['user', 'add', selfRootIdentity, '--no-password'],
    ['role', 'add', 'alice-rw'], ['role', 'grant-permission', 'alice-rw', 'readwrite', '/alice/', '--prefix=true'],
    ['user', 'grant-role', 'alice', 'alice-rw'],
    ['role', 'add', 'by-key'], ['role', 'grant-permission', 'by-key', 'readwrite', '/by-key/', '--prefix=true'],
    ['user', 'grant-role', selfRootIdentity, 'by-key'],
    ['put', '/secret', 'only root reads this'], ['auth', 'enable'],
  ]) {
    const r = await direct('etcd-root', args);
    assert.equal(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`);
  }
  const config = exampleConfig('etcd', pki.dir, { etcd: [`127.0.0.1:${etcd.members[0].clientPort}`] });
  config.edge.clientAuth = { mode: 'any', ca: `${pki.dir}/client-ca.crt` };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await etcd?.stop(); });

test('a self-signed "CN=root, O=system:masters" is not etcd\'s root through countersign', async () => {
  for (const args of [['user', 'list'], ['get', '/secret'], ['put', '/alice/config', 'root was here'], ['auth', 'disable']]) {
    const r = await through('self-root', args);
    assert.notEqual(r.code, 0, `etcdctl ${args.join(' ')} succeeded: ${r.stdout}`);
    assert.match(r.stderr, /permission denied/, `etcdctl ${args.join(' ')}`);
  }
  // auth is still on (etcdctl 3.4 has no `auth status`): a user without rights on /secret is still refused
  const after = await through('alice', ['get', '/secret']);
  assert.match(after.stderr, /permission denied/, 'auth is still enabled');
});

test('etcd sees the self-signed client as the user its key names, CN=<identity>', async () => {
  const put = await through('self-root', ['put', '/by-key/x', 'v']);
  assert.equal(put.code, 0, put.stderr);
  const get = await direct('etcd-root', ['get', '/by-key/x', '--print-value-only']);
  assert.equal(get.stdout.trim(), 'v');
});

test('alice, vouched for by the client CA, is still alice', async () => {
  const put = await through('alice', ['put', '/alice/config', 'v1']);
  assert.match(put.stdout, /OK/, put.stderr);
  const get = await through('alice', ['get', '/alice/config', '--print-value-only']);
  assert.equal(get.stdout.trim(), 'v1', get.stderr);
  const denied = await through('alice', ['get', '/secret']);
  assert.match(denied.stderr, /permission denied/, 'and only alice');
});
