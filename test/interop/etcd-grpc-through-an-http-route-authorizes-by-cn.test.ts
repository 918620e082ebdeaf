/**
 * gRPC through http mode: Debian's etcd 3.4 behind an http route (not
 * connection mode), its clients speaking gRPC over HTTP/2, countersign
 * speaking HTTP/2 to etcd (the member selects h2 by ALPN) with a minted
 * certificate per request's identity. etcd's own RBAC by CN holds: the roles
 * are set up through the proxy as root, alice writes and reads her prefix,
 * bob is denied; a watch (a long-lived server stream) sees alice's next
 * write. Each call is one request record; when the calls are done the pool's
 * counts are back at zero (/status).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { etcdctl, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { adminJson } from '../helpers/admin-client.js';
import { identityOfFile } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let etcd: EtcdCluster;
let proxy: ProxyProcess;
let admin: string;
const through = (who: string, args: string[]) => etcdctl(proxy.port, pki.dir, who, args, { endpoints: `https://localhost:${proxy.port}` });

before(async () => {
  pki = await makePki();
  etcd = await startEtcdCluster({ n: 1, pkiDir: pki.dir });
  admin = `${pki.dir}/admin.sock`; // a unix socket: no port to race other tests for
  const config = { ...baseConfig(pki.dir, etcd.members[0].clientPort, { mode: 'http' }), admin: { listen: admin } };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  for (const args of [
    ['user', 'add', 'root', '--no-password'], ['user', 'add', 'alice', '--no-password'], ['role', 'add', 'alice-rw'],
    ['role', 'grant-permission', 'alice-rw', 'readwrite', '/alice/', '--prefix=true'], ['user', 'grant-role', 'alice', 'alice-rw'], ['auth', 'enable'],
  ]) {
    const r = await through('root', args);
    assert.equal(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
});
after(async () => { await proxy?.stop(); await etcd?.stop(); });

test('alice writes and reads her prefix over gRPC through an http route, as herself', async () => {
  const put = await through('alice', ['put', '/alice/config', 'v1']);
  assert.match(put.stdout, /OK/, put.stderr);
  const get = await through('alice', ['get', '/alice/config', '--print-value-only']);
  assert.equal(get.stdout.trim(), 'v1', get.stderr);
  // each unary call is one request of the http route, recorded with alice's identity
  const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === '/etcdserverpb.KV/Put' && l.identity === identityOfFile(pki.dir, 'alice'));
  assert.equal(line.status, 200);
  assert.equal(line.outcome, 'ok');
});

test('bob is denied by etcd\'s own permission check: the gRPC status reaches him', async () => {
  for (const key of ['/alice/config', '/bob/notes']) {
    const put = await through('bob', ['put', key, 'bob was here']);
    assert.notEqual(put.code, 0, `bob wrote ${key}`);
    assert.match(put.stderr, /permission denied/);
  }
  const get = await through('alice', ['get', '/alice/config', '--print-value-only']);
  assert.equal(get.stdout.trim(), 'v1', 'bob changed nothing');
});

test('a watch (a server stream) sees alice\'s next write through the proxy', async () => {
  const watch = spawn('etcdctl', [
    `--endpoints=https://localhost:${proxy.port}`, `--cacert=${pki.dir}/edge-ca.crt`, `--cert=${pki.dir}/alice.crt`, `--key=${pki.dir}/alice.key`,
    'watch', '/alice/w',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  watch.stdout!.on('data', (d) => { out += d; });
  try {
    // the watch is established once its stream is open: write until it reports one
    await waitFor(async () => {
      await through('alice', ['put', '/alice/w', 'seen']);
      return out.includes('seen');
    }, 'the watch to report the write', 20_000, 500);
    assert.match(out, /PUT\n\/alice\/w\nseen/);
  } finally {
    const exited = new Promise((r) => watch.once('exit', r));
    watch.kill('SIGTERM');
    await exited;
  }
});

test('when the calls are done, every count of the pool is back at zero', async () => {
  const status = await waitFor(async () => {
    const s = (await adminJson<{ http: Record<string, number>; upstreams: Record<string, { servers: { active: number }[] }> }>(admin, '/status')).body;
    return s.http.leases === 0 && s.http.busy === 0 && s.http.waiting === 0 && s.http.connecting === 0 ? s : undefined;
  }, 'the pool idle', 10_000);
  assert.deepEqual(status.upstreams.backend.servers.map((x) => x.active), [0]);
  assert.ok(status.http.connections >= 1, 'the identities\' sessions stay open for reuse');
});
