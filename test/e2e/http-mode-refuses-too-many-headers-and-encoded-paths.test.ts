/**
 * Requests the proxy must refuse rather than pass on altered: more header
 * fields than limits.maxHeaderCount get 431 (HTTP/1.1 and HTTP/2; nothing is
 * cut silently), and paths with an encoded NUL or double-encoded dots and
 * slashes get 400. Nothing of them reaches the backend.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { readFileSync } from 'node:fs';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient, readUntilClose } from '../helpers/e2e.js';
import { curl, curlStatus } from '../helpers/run-command.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = { ...baseConfig(pki.dir, backend.port, { mode: 'http' }), limits: { maxHeaderCount: 50, maxHeaderSize: 65536 } };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const headers = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: v${i}\r\n`).join('');

async function h1(head: string): Promise<string> {
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  const done = readUntilClose(s);
  s.write(head); // Connection: close: the server ends it
  return (await done).data.split('\r\n')[0];
}

test('HTTP/1.1: a request with more header fields than the limit gets 431; one at the limit is forwarded whole', async () => {
  const before = backend.requests.length;
  assert.equal(await h1(`GET /many HTTP/1.1\r\nHost: localhost\r\n${headers(60)}Connection: close\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large');
  assert.equal(backend.requests.length, before);
  // host + connection + 48 = 50 fields
  assert.equal(await h1(`GET /enough HTTP/1.1\r\nHost: localhost\r\n${headers(48)}Connection: close\r\n\r\n`), 'HTTP/1.1 200 OK');
  const seen = backend.requests.find((r) => r.url === '/enough')!;
  assert.equal(seen.headers['x-h47'], 'v47', 'every header arrived');
});

test('HTTP/2: a request with more header fields than the limit gets 431', async () => {
  const client = h2connect(`https://localhost:${proxy.port}`, {
    ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`),
  });
  after(() => client.close());
  const h: Record<string, string> = { ':path': '/many-h2' };
  for (let i = 0; i < 60; i++) h[`x-h${i}`] = `v${i}`;
  const status = await new Promise<number>((resolve, reject) => {
    const req = client.request(h);
    req.on('response', (r) => resolve(Number(r[':status'])));
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 431);
  assert.equal(backend.requests.filter((r) => r.url === '/many-h2').length, 0);
});

for (const path of ['/v1/key%00.txt', '/v1/%252e%252e/identity', '/v1/key%252F..%252Fidentity', '/a/%255c/b']) {
  test(`path ${path} is refused with 400`, async () => {
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}${path}`, ['--path-as-is']));
    assert.equal(r.status, 400, r.body);
    assert.equal(backend.requests.filter((q) => q.url === path).length, 0);
  });
}
