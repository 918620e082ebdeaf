/**
 * Http mode rewrites headers as a reverse proxy must: hop-by-hop headers (the
 * fixed list, and every name listed in Connection) never cross it in either
 * direction; identity headers sent by a client are removed; X-Forwarded-For is
 * appended to, X-Forwarded-Proto and -Host set; end-to-end headers and Host
 * pass unchanged.
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
  test(`X-Forwarded-For/Proto/Host are set (${version.slice(2)})`, async () => {
    const plain = JSON.parse(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/echo`, [version])).body).headers;
    assert.equal(plain['x-forwarded-for'], '127.0.0.1');
    assert.equal(plain['x-forwarded-proto'], 'https');
    assert.equal(plain['x-forwarded-host'], `localhost:${proxy.port}`);
    assert.equal(plain.host, `localhost:${proxy.port}`);
    const chained = JSON.parse(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/echo`, [version, ...H('X-Forwarded-For: 203.0.113.7')])).body).headers;
    assert.equal(chained['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'appended to, not replaced');
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
