/**
 * clientAuth `any` (nginx optional_no_ca, KES --mtls-auth=ignore): any currently
 * valid certificate is accepted, self-signed included, and its identity is
 * forwarded for the backend's policy to decide; an expired self-signed one is
 * refused with one log line. Both modes.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, startTlsBackend, type HttpsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { identityOfFile, logsSince, reasonLines, sClient, upstreamTo, writeClientCertificates } from '../helpers/e2e.js';

let pki: TestPki;
let web: HttpsBackend;
let pipe: TlsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  await writeClientCertificates(pki);
  web = await startHttpsBackend({ pkiDir: pki.dir });
  pipe = await startTlsBackend({ pkiDir: pki.dir, onConnection: (c) => c.socket.once('data', () => c.socket.end(`hello ${c.identity}\n`)) });
  const config = baseConfig(pki.dir, web.port, {}, { clientAuth: { mode: 'any' } });
  config.upstreams = { web: upstreamTo(pki.dir, web.port), pipe: upstreamTo(pki.dir, pipe.port) };
  config.routes = [
    { upstream: 'pipe', mode: 'connection', match: { sni: 'pipe.test' } },
    { upstream: 'web', mode: 'http' },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await web?.close(); await pipe?.close(); });

test('http: a self-signed certificate is accepted and its identity forwarded', async () => {
  const r = curlStatus(await curl(pki.dir, 'selfsigned', `https://localhost:${proxy.port}/`));
  assert.equal(r.status, 200, r.body);
  const seen = JSON.parse(r.body);
  assert.equal(seen.identity, identityOfFile(pki.dir, 'selfsigned'));
  assert.equal(seen.via, 'delegated');
  assert.equal(seen.subject, 'CN=selfsigned');
});

test('http: a certificate from any CA is accepted too', async () => {
  const r = curlStatus(await curl(pki.dir, 'stranger', `https://localhost:${proxy.port}/`));
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).identity, identityOfFile(pki.dir, 'stranger'));
});

test('http: an expired self-signed certificate is refused, one log line', async () => {
  const before = web.requests.length;
  const mark = proxy.logs.length;
  const r = curlStatus(await curl(pki.dir, 'selfsigned-expired', `https://localhost:${proxy.port}/`));
  assert.equal(r.status, 400, r.body);
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'client refused');
  assert.equal(line.reason, 'expired');
  assert.equal(reasonLines(await logsSince(proxy, mark)).length, 1);
  assert.equal(web.requests.length, before);
});

test('http: a client without a certificate gets 403 on a route without allowAnonymous (400 is require\'s answer)', async () => {
  const before = web.requests.length;
  const r = curlStatus(await curl(pki.dir, undefined, `https://localhost:${proxy.port}/`));
  assert.equal(r.status, 403, r.body);
  assert.equal(web.requests.length, before, 'nothing reached the backend');
});

test('connection: a self-signed certificate is piped with its identity; an expired one is closed', async () => {
  const ok = await sClient(proxy.port, pki.dir, 'selfsigned', { servername: 'pipe.test' });
  assert.equal(ok.stdout, `hello ${identityOfFile(pki.dir, 'selfsigned')}\n`);

  const forwarded = pipe.connections.length;
  const mark = proxy.logs.length;
  const expired = await sClient(proxy.port, pki.dir, 'selfsigned-expired', { servername: 'pipe.test' });
  assert.equal(expired.stdout, '');
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'client refused');
  assert.equal(line.reason, 'expired');
  assert.equal(reasonLines(await logsSince(proxy, mark)).length, 1);
  assert.equal(pipe.connections.length, forwarded);
});
