/**
 * Http mode, delegated identity, in front of the demo key service (a KES-like
 * backend built on countersign/backend): the service learns the real client
 * from the countersigned certificate and applies its policies, over HTTP/1.1
 * and HTTP/2 from the client, with keep-alive reuse.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { curl, curlStatus, runCommand } from '../helpers/run-command.js';
import { identityOfFile } from '../helpers/e2e.js';

interface KeyService { port: number; close(): Promise<void> }

let pki: TestPki;
let service: KeyService;
let proxy: ProxyProcess;
let url: string;

before(async () => {
  pki = await makePki();
  const { startKeyService } = await import(join(REPO_ROOT, 'examples/demo/key-service.mjs')) as {
    startKeyService(o: { certsDir: string; port: number; log: (l: string) => void }): Promise<KeyService>;
  };
  service = await startKeyService({ certsDir: pki.dir, port: 0, log: () => {} });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, service.port, { mode: 'http' })));
  url = `https://localhost:${proxy.port}`;
});
after(async () => { await proxy?.stop(); await service?.close(); });

test('alice creates a key over HTTP/1.1; the service sees her identity, delegated', async () => {
  const r = curlStatus(await curl(pki.dir, 'alice', `${url}/v1/key/create/app-key`, ['--http1.1', '-X', 'POST']));
  assert.equal(r.status, 200, r.body);
  const body = JSON.parse(r.body);
  assert.equal(body.created, 'app-key');
  assert.equal(body.client.identity, identityOfFile(pki.dir, 'alice'));
  assert.equal(body.client.via, 'delegated');
  assert.equal(body.client.policy, 'app-operator');
  assert.match(body.client.subject, /CN=alice/);
});

test('alice generates a data key over HTTP/2', async () => {
  const r = await curl(pki.dir, 'alice', `${url}/v1/key/generate/app-key`, ['--http2', '-X', 'POST', '-w', '\n%{http_code} %{http_version}']);
  const [status, version] = r.stdout.slice(r.stdout.lastIndexOf('\n') + 1).split(' ');
  assert.equal(version, '2', 'negotiated HTTP/2 with the edge');
  assert.equal(status, '200', r.stdout + r.stderr);
  const body = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\n')));
  assert.equal(body.key, 'app-key');
  assert.equal(body.client.identity, identityOfFile(pki.dir, 'alice'));
});

test('bob is prohibited by policy (403 from the service, passed through)', async () => {
  for (const v of ['--http1.1', '--http2']) {
    const r = curlStatus(await curl(pki.dir, 'bob', `${url}/v1/key/create/app-key2`, [v, '-X', 'POST']));
    assert.equal(r.status, 403, `${v}: ${r.body}`);
    assert.match(r.body, /prohibited by policy/);
  }
});

test('keep-alive: two requests from one curl use one client connection', async () => {
  for (const v of ['--http1.1', '--http2']) {
    const path = `/v1/status?keepalive=${v.slice(2)}`;
    const r = await runCommand('curl', [
      '-sS', '--max-time', '10', '--cacert', `${pki.dir}/edge-ca.crt`, '--cert', `${pki.dir}/alice.crt`, '--key', `${pki.dir}/alice.key`, v,
      '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', `${url}${path}`,
      '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', `${url}${path}`,
    ]);
    assert.equal(r.stdout, '200 1\n200 0\n', `${v}: the second request reused the connection (${r.stderr})`);
    const first = await proxy.waitForLog((l) => l.msg === 'request' && l.path === path);
    const second = await proxy.waitForLog((l) => l.msg === 'request' && l.path === path && l !== first);
    assert.equal(first.conn, second.conn, `${v}: both requests logged on the same client connection`);
    const closed = await proxy.waitForLog((l) => l.msg === 'connection' && l.conn === first.conn);
    assert.equal(closed.identity, identityOfFile(pki.dir, 'alice'));
    assert.equal(closed.outcome, 'closed');
  }
});
