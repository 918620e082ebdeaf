/**
 * `http.trustedProxies`: a peer in the list is an HTTP proxy whose
 * X-Forwarded-For, Forwarded and X-Forwarded-* are believed — its chain is
 * kept and the peer appended, and X-Real-IP is the last address of the chain
 * that is not a trusted proxy (nginx real_ip with real_ip_recursive on). A
 * proxy whose list does not name the peer drops the same headers. Over
 * HTTP/1.1 and HTTP/2.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';

let pki: TestPki;
let backend: HttpsBackend;
let trusting: ProxyProcess;
let other: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' });
  trusting = await startProxyProcess(await writeConfig(pki.dir, { ...config, http: { trustedProxies: ['127.0.0.0/8', '10.0.0.0/8'] } }, 'trusting.yaml'));
  other = await startProxyProcess(await writeConfig(pki.dir, { ...config, http: { trustedProxies: ['192.0.2.0/24'] } }, 'other.yaml'));
});
after(async () => { await trusting?.stop(); await other?.stop(); await backend?.close(); });

const H = (h: string) => ['-H', h];
const echo = async (p: ProxyProcess, version: string, headers: string[]) =>
  JSON.parse(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${p.port}/echo`, [version, ...headers.flatMap(H)])).body).headers as Record<string, string>;

for (const version of ['--http1.1', '--http2']) {
  test(`${version.slice(2)}: from a trusted proxy the chain is kept and the client is its last untrusted address`, async () => {
    const h = await echo(trusting, version, ['X-Forwarded-For: 203.0.113.7, 10.1.2.3', 'Forwarded: for=203.0.113.7', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: kes.example.com', 'X-Real-IP: 6.6.6.6']);
    assert.equal(h['x-forwarded-for'], '203.0.113.7, 10.1.2.3, 127.0.0.1');
    assert.equal(h['x-real-ip'], '203.0.113.7');
    assert.equal(h.forwarded, `for=203.0.113.7, for=127.0.0.1;host="localhost:${trusting.port}";proto=https`);
    assert.equal(h['x-forwarded-host'], 'kes.example.com', 'the trusted proxy knows the host the client asked for');
  });

  test(`${version.slice(2)}: a trusted proxy that sends no chain is itself the client`, async () => {
    const h = await echo(trusting, version, []);
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-real-ip'], '127.0.0.1');
  });

  test(`${version.slice(2)}: from a peer not in the list the same headers are dropped`, async () => {
    const h = await echo(other, version, ['X-Forwarded-For: 203.0.113.7', 'Forwarded: for=203.0.113.7', 'X-Forwarded-Host: kes.example.com', 'X-Real-IP: 6.6.6.6']);
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-host'], `localhost:${other.port}`);
    assert.equal(h.forwarded, `for=127.0.0.1;host="localhost:${other.port}";proto=https`);
  });
}
