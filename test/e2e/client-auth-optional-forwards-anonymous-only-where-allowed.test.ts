/**
 * clientAuth `optional`: a client without a certificate is anonymous. It is
 * forwarded (with no client certificate upstream) only on routes with
 * `allowAnonymous: true` — an http path prefix and a connection-mode server
 * name here — and refused everywhere else, with one log line. A client with a
 * certificate is still verified and identified on the anonymous routes too.
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
  pipe = await startTlsBackend({
    pkiDir: pki.dir, requireCert: false,
    onConnection: (c) => c.socket.once('data', () => c.socket.end(`hello ${c.identity ?? 'anonymous'}\n`)),
  });
  const config = baseConfig(pki.dir, web.port, {}, { clientAuth: { mode: 'optional', ca: `${pki.dir}/client-ca.crt` } });
  config.upstreams = { web: upstreamTo(pki.dir, web.port), pipe: upstreamTo(pki.dir, pipe.port) };
  config.routes = [
    { upstream: 'pipe', mode: 'connection', match: { sni: 'open.test' }, allowAnonymous: true },
    { upstream: 'pipe', mode: 'connection', match: { sni: 'closed.test' } },
    { upstream: 'web', mode: 'http', match: { pathPrefix: '/public' }, allowAnonymous: true },
    { upstream: 'web', mode: 'http' },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await web?.close(); await pipe?.close(); });

test('http: anonymous is forwarded on the allowAnonymous route, with no identity upstream', async () => {
  const r = curlStatus(await curl(pki.dir, undefined, `https://localhost:${proxy.port}/public/page`));
  assert.equal(r.status, 200, r.body);
  const seen = JSON.parse(r.body);
  assert.equal(seen.identity, undefined, 'the backend got no client certificate');
  assert.match(seen.identifyError, /certificate/i);
});

test('http: anonymous is refused on a route without allowAnonymous, with one log line', async () => {
  const before = web.requests.length;
  const mark = proxy.logs.length;
  const r = curlStatus(await curl(pki.dir, undefined, `https://localhost:${proxy.port}/private`));
  assert.equal(r.status, 403, r.body);
  assert.ok(r.body.length < 200);
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.reason === 'no certificate');
  assert.equal(line.outcome, 'refused');
  assert.equal(reasonLines(await logsSince(proxy, mark)).length, 1);
  assert.equal(web.requests.length, before, 'nothing reached the backend');
});

test('http: alice is identified on both routes', async () => {
  for (const path of ['/public/page', '/private']) {
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}${path}`));
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).identity, identityOfFile(pki.dir, 'alice'));
  }
});

test('http: a certificate from an unknown CA is still refused in optional mode', async () => {
  const mark = proxy.logs.length;
  const r = curlStatus(await curl(pki.dir, 'stranger', `https://localhost:${proxy.port}/public/page`));
  assert.equal(r.status, 400, r.body);
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'client refused');
  assert.equal(line.reason, 'unknown CA');
});

test('connection: anonymous is piped on the allowAnonymous server name, refused on the other', async () => {
  const open = await sClient(proxy.port, pki.dir, undefined, { servername: 'open.test' });
  assert.equal(open.stdout, 'hello anonymous\n');
  const alice = await sClient(proxy.port, pki.dir, 'alice', { servername: 'open.test' });
  assert.equal(alice.stdout, `hello ${identityOfFile(pki.dir, 'alice')}\n`);

  const forwarded = pipe.connections.length;
  const mark = proxy.logs.length;
  const closed = await sClient(proxy.port, pki.dir, undefined, { servername: 'closed.test' });
  assert.equal(closed.stdout, '', 'the connection was closed without a byte');
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'client refused');
  assert.equal(line.reason, 'no certificate');
  assert.equal(reasonLines(await logsSince(proxy, mark)).length, 1);
  assert.equal(pipe.connections.length, forwarded);
});
