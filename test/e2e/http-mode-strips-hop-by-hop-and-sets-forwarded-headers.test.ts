/**
 * Http mode rewrites headers as a reverse proxy must: hop-by-hop headers (the
 * fixed list, and every name listed in Connection) never cross it in either
 * direction; identity headers sent by a client are removed; X-Forwarded-For,
 * X-Real-IP, Forwarded, X-Forwarded-Proto and -Host are set from what the proxy
 * saw, a client's own copies dropped (no trusted proxies configured);
 * end-to-end headers and Host pass unchanged.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: {
      '/hop-response': (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'x-backend-hop', 'x-backend-hop': 'leak', 'keep-alive': 'timeout=99', 'proxy-authenticate': 'Basic', 'x-end-to-end': 'kept' });
        res.end('ok\n');
      },
    },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const H = (h: string) => ['-H', h];

test('HTTP/1.1 request: hop-by-hop and client identity headers are removed, end-to-end ones kept', async () => {
  const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/echo`, [
    '--http1.1',
    ...H('Connection: keep-alive, X-Custom-Hop'), ...H('X-Custom-Hop: secret'),
    ...H('Keep-Alive: timeout=5'), ...H('TE: gzip'), ...H('Upgrade: h2c'), ...H('Proxy-Connection: keep-alive'),
    ...H('Proxy-Authorization: Basic Zm9vOmJhcg=='), ...H('Trailer: X-Checksum'),
    ...H('X-Tls-Client-Cert: forged'), ...H('Client-Cert: :Zm9yZ2Vk:'), ...H('Client-Cert-Chain: :Zm9yZ2Vk:'), ...H('X-Forwarded-Client-Cert: Hash=forged'),
    ...H('X-Request-Id: abc-123'), ...H('Accept: application/json'),
  ]));
  assert.equal(r.status, 200, r.body);
  const h = JSON.parse(r.body).headers as Record<string, string>;
  for (const gone of ['x-custom-hop', 'keep-alive', 'te', 'upgrade', 'proxy-connection', 'proxy-authorization', 'trailer',
    'x-tls-client-cert', 'client-cert', 'client-cert-chain', 'x-forwarded-client-cert']) {
    assert.equal(h[gone], undefined, `${gone} must not reach the backend`);
  }
  assert.doesNotMatch(h.connection ?? '', /x-custom-hop/i);
  assert.equal(h['x-request-id'], 'abc-123');
  assert.equal(h.accept, 'application/json');
  assert.equal(h.host, `localhost:${proxy.port}`);
});

test('TE: trailers is the one TE value forwarded', async () => {
  const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/echo`, ['--http1.1', ...H('TE: trailers'), ...H('Connection: TE')]));
  assert.equal(JSON.parse(r.body).headers.te, 'trailers');
});

for (const version of ['--http1.1', '--http2']) {
  test(`X-Forwarded-For, X-Real-IP, Forwarded, X-Forwarded-Proto/Host are set from what the proxy saw (${version.slice(2)})`, async () => {
    const plain = JSON.parse(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/echo`, [version])).body).headers;
    assert.equal(plain['x-forwarded-for'], '127.0.0.1');
    assert.equal(plain['x-real-ip'], '127.0.0.1');
    assert.equal(plain.forwarded, `for=127.0.0.1;host="localhost:${proxy.port}";proto=https`);
    assert.equal(plain['x-forwarded-proto'], 'https');
    assert.equal(plain['x-forwarded-host'], `localhost:${proxy.port}`);
    assert.equal(plain.host, `localhost:${proxy.port}`);
  });

  test(`a client's own forwarding headers are dropped, not appended to (${version.slice(2)})`, async () => {
    const lies = JSON.parse(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/echo`, [version,
      ...H('X-Forwarded-For: 6.6.6.6'), ...H('X-Real-IP: 6.6.6.6'), ...H('Forwarded: for=6.6.6.6'), ...H('X-Forwarded-Host: evil.example'),
      ...H('X-Forwarded-Proto: http'), ...H('X-Forwarded-Port: 80'), ...H('X-Forwarded-Prefix: /admin'), ...H('X_Forwarded_For: 6.6.6.6'),
      ...H('True-Client-IP: 6.6.6.6'), ...H('X-Client-IP: 6.6.6.6'),
    ])).body).headers as Record<string, string>;
    assert.equal(lies['x-forwarded-for'], '127.0.0.1', 'not appended to');
    assert.equal(lies['x-real-ip'], '127.0.0.1');
    assert.equal(lies.forwarded, `for=127.0.0.1;host="localhost:${proxy.port}";proto=https`);
    assert.equal(lies['x-forwarded-host'], `localhost:${proxy.port}`);
    assert.equal(lies['x-forwarded-proto'], 'https');
    for (const gone of ['x-forwarded-port', 'x-forwarded-prefix', 'x_forwarded_for', 'true-client-ip', 'x-client-ip']) assert.equal(lies[gone], undefined, gone);
    assert.doesNotMatch(JSON.stringify(lies), /6\.6\.6\.6|evil/);
  });
}

test('response: hop-by-hop headers from the backend do not reach the client', async () => {
  for (const version of ['--http1.1', '--http2']) {
    const r = await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/hop-response`, [version, '-D', '-', '-o', '/dev/null']);
    const head = r.stdout.toLowerCase();
    assert.match(head, /^x-end-to-end: kept/m, version);
    assert.doesNotMatch(head, /x-backend-hop/, version);
    assert.doesNotMatch(head, /timeout=99/, version);
    assert.doesNotMatch(head, /proxy-authenticate/, version);
  }
});
