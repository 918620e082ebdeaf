/**
 * With no `alpn` key, the edge negotiates with a client only what the chosen
 * upstream really speaks, learned by probe handshakes: an HTTP/1.1-only
 * node:https server, `openssl s_server -www` (no ALPN at all), etcd (gRPC over
 * h2) and Mosquitto (no ALPN), with clients that offer h2, mqtt, or nothing.
 * One proxy routes by SNI (etcdctl and mosquitto_pub connect to `localhost`,
 * so etcd is that proxy's default route and Mosquitto has a proxy of its own).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { startOpensslServer, type OpensslServer } from '../helpers/openssl-server.js';
import { startEtcdCluster, etcdctl, type EtcdCluster } from '../helpers/etcd.js';
import { startMosquitto, mosquittoPub, mosquittoSub, type Mosquitto } from '../helpers/mosquitto.js';
import { runCommand } from '../helpers/run-command.js';
import { identityOfFile, writeIssued } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let h1: HttpsBackend;
let plain: OpensslServer;
let etcd: EtcdCluster;
let mqtt: Mosquitto;
let proxy: ProxyProcess;
let mqttProxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  // each assigned as soon as it runs, so after() stops it even if another failed to start
  await Promise.all([
    startHttpsBackend({ pkiDir: pki.dir }).then((b) => { h1 = b; }),
    startOpensslServer({ cert: `${pki.dir}/backend.crt`, key: `${pki.dir}/backend.key`, caFile: `${pki.dir}/delegation-ca.crt`, extraArgs: ['-www'] }).then((b) => { plain = b; }),
    startEtcdCluster({ n: 1, pkiDir: pki.dir }).then((b) => { etcd = b; }),
    startMosquitto({ pkiDir: pki.dir, acl: 'user alice\ntopic readwrite sensors/#\n' }).then((b) => { mqtt = b; }),
  ]);
  await writeIssued(pki.dir, 'edge-names', { subject: 'CN=h1.localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['h1.localhost', 'plain.localhost'] });
  const config = baseConfig(pki.dir, h1.port) as { upstreams: Record<string, unknown>; routes: unknown[]; edge: { certificates: unknown[] } };
  config.edge.certificates.push({ cert: `${pki.dir}/edge-names.crt`, key: `${pki.dir}/edge-names.key` });
  const up = (port: number) => ({ servers: [`127.0.0.1:${port}`], ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal' });
  config.upstreams = { h1: up(h1.port), plain: up(plain.port), etcd: up(etcd.members[0].clientPort) };
  config.routes = [
    { upstream: 'plain', match: { sni: 'plain.localhost' } },
    { upstream: 'h1', match: { sni: 'h1.localhost' } },
    { upstream: 'etcd' },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  mqttProxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, mqtt.port), 'mqtt.yaml'));
});
after(async () => { await proxy?.stop(); await mqttProxy?.stop(); await h1?.close(); await plain?.stop(); await etcd?.stop(); await mqtt?.stop(); });

const resolveTo = (name: string) => ['--resolve', `${name}:${proxy.port}:127.0.0.1`];
const curlAs = (who: string, url: string, extra: string[] = []) => runCommand('curl', [
  '-sS', '--max-time', '10', '--cacert', `${pki.dir}/edge-ca.crt`, '--cert', `${pki.dir}/${who}.crt`, '--key', `${pki.dir}/${who}.key`,
  '-w', '\n%{http_code} %{http_version}', ...extra, url,
]);

test('the proxy logs what it learned from each server', async () => {
  const learned = (u: string) => proxy.waitForLog((l) => l.msg === 'upstream protocols learned' && l.upstream === u);
  assert.deepEqual((await learned('h1')).alpn, ['http/1.1']);
  assert.deepEqual((await learned('plain')).alpn, []);
  assert.ok(((await learned('etcd')).alpn as string[]).includes('h2'));
  const m = await mqttProxy.waitForLog((l) => l.msg === 'upstream protocols learned' && l.upstream === 'backend');
  assert.deepEqual(m.alpn, [], 'Mosquitto 2.0 negotiates no ALPN');
});

test('a default curl against an HTTP/1.1-only node:https backend is served over HTTP/1.1', async () => {
  const r = await curlAs('alice', `https://h1.localhost:${proxy.port}/hello`, resolveTo('h1.localhost'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n200 1\.1$/);
  assert.equal(JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\n'))).identity, identityOfFile(pki.dir, 'alice'));
});

test('a default curl against openssl s_server -www (no ALPN) gets its page, not a hang', async () => {
  const r = await curlAs('alice', `https://plain.localhost:${proxy.port}/`, resolveTo('plain.localhost'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n200 1(\.[01])?$/, 'HTTP/1.0 from s_server');
  assert.match(r.stdout, /Ciphers supported in s_server binary/);
});

test('openssl s_client offering h2 to the no-ALPN route negotiates none', async () => {
  const r = await runCommand('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.port}`, '-servername', 'plain.localhost', '-CAfile', `${pki.dir}/edge-ca.crt`,
    '-cert', `${pki.dir}/alice.crt`, '-key', `${pki.dir}/alice.key`, '-alpn', 'h2,http/1.1'], { input: '', timeoutMs: 8000 });
  assert.match(r.stdout, /No ALPN negotiated/);
});

test('etcdctl (gRPC over h2) puts and gets through the proxy as alice', async () => {
  const put = await etcdctl(proxy.port, pki.dir, 'alice', ['put', 'alpn-test', 'via-h2'], { endpoints: `https://localhost:${proxy.port}` });
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /OK/);
  const get = await etcdctl(proxy.port, pki.dir, 'alice', ['get', 'alpn-test', '--print-value-only'], { endpoints: `https://localhost:${proxy.port}` });
  assert.equal(get.stdout.trim(), 'via-h2');
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.upstream === 'etcd');
  // etcdctl resets its connection when done (client-error); what matters is that nothing failed upstream
  assert.ok(['closed', 'client-error'].includes(String(line.outcome)), JSON.stringify(line));
});

test('mosquitto_pub with ALPN mqtt and without both reach Mosquitto, which sees alice', async () => {
  const port = mqttProxy.port;
  const sub = mosquittoSub(port, pki.dir, 'alice', 'sensors/t', { count: 2, timeoutS: 30 });
  await waitFor(() => mqtt.output().includes('Sending SUBACK'), 'the subscription', 15_000);
  const a = await mosquittoPub(port, pki.dir, 'alice', 'sensors/t', 'with-alpn', { alpn: 'mqtt' });
  assert.equal(a.code, 0, a.stderr + a.stdout);
  const b = await mosquittoPub(port, pki.dir, 'alice', 'sensors/t', 'without-alpn');
  assert.equal(b.code, 0, b.stderr + b.stdout);
  const r = await sub;
  assert.match(r.stdout, /with-alpn/);
  assert.match(r.stdout, /without-alpn/);
  assert.match(mqtt.output(), /u'alice'/, 'Mosquitto took the minted CN as the user name');
});
