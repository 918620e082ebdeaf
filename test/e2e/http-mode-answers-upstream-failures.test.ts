/**
 * Http mode when the upstream fails: nobody listening → 502 with a JSON body;
 * a server that does not speak TLS, or presents a certificate from another CA
 * → 502; no answer within `timeouts.request` → 504; the upstream dies in the
 * middle of a response → the client sees a broken response (curl reports a
 * transfer error), never a short success. Each is logged with a reason, and
 * the proxy keeps serving: a good request afterwards succeeds.
 */
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { ServerResponse } from 'node:http';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, trackSockets, type HttpsBackend } from '../helpers/node-backend.js';
import { freePort } from '../helpers/net.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { identityOfFile, upstreamTo } from '../helpers/e2e.js';
import { issueCertificate } from '../../src/pki/dev/index.js';

let pki: TestPki;
let backend: HttpsBackend;
let plain: NetServer;
let impostor: TlsServer;
let proxy: ProxyProcess;
const held: ServerResponse[] = [];
const adHoc: { destroyAll(): void }[] = [];

const listen = (s: NetServer) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: {
      '/slow': (_req, res) => { held.push(res); },
      '/dies-sized': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100_000 });
        res.write('partial '.repeat(100), () => req.socket.destroy());
      },
      '/dies-chunked': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial '.repeat(100), () => req.socket.destroy());
      },
    },
  });
  // speaks plain TCP: answers the ClientHello with an HTTP error, as a misconfigured port would
  plain = createNetServer((s) => { s.on('error', () => {}); s.end('HTTP/1.1 400 Bad Request\r\n\r\n'); });
  // speaks TLS with a certificate for the right name from a CA the proxy does not trust
  const otherCa = await issueCertificate({ subject: 'CN=impostor CA', ca: true });
  const fake = await issueCertificate({ subject: 'CN=backend.internal', issuer: otherCa, usage: 'server', dnsNames: ['backend.internal'] });
  impostor = createTlsServer({ cert: fake.certPem, key: fake.keyPem }, (s) => { s.on('error', () => {}); s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nno'); });
  impostor.on('tlsClientError', (_err, s) => s.destroy());
  adHoc.push(trackSockets(plain), trackSockets(impostor));
  const config = baseConfig(pki.dir, backend.port, {}) as Record<string, unknown>;
  config.upstreams = {
    good: upstreamTo(pki.dir, backend.port),
    down: upstreamTo(pki.dir, await freePort(), { connectTimeout: '2s' }),
    plain: upstreamTo(pki.dir, await listen(plain)),
    impostor: upstreamTo(pki.dir, await listen(impostor)),
  };
  config.routes = [
    { upstream: 'down', mode: 'http', match: { pathPrefix: '/down' } },
    { upstream: 'plain', mode: 'http', match: { pathPrefix: '/plain' } },
    { upstream: 'impostor', mode: 'http', match: { pathPrefix: '/impostor' } },
    { upstream: 'good', mode: 'http' },
  ];
  config.timeouts = { request: '1s' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  for (const r of held) r.destroy();
  await proxy?.stop();
  await backend?.close();
  plain?.close();
  impostor?.close();
  for (const t of adHoc) t.destroyAll();
});

async function stillServing(version: string) {
  const ok = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/fine`, [version]));
  assert.equal(ok.status, 200, 'the proxy keeps serving');
  assert.equal(JSON.parse(ok.body).identity, identityOfFile(pki.dir, 'alice'));
}

const refusals: { path: string; status: number; error: string; reason: RegExp }[] = [
  { path: '/down', status: 502, error: 'upstream unavailable', reason: /ECONNREFUSED/ },
  { path: '/plain', status: 502, error: 'upstream unavailable', reason: /ERR_SSL_WRONG_VERSION_NUMBER|ECONNRESET/ },
  { path: '/impostor', status: 502, error: 'upstream unavailable', reason: /UNABLE_TO_VERIFY_LEAF_SIGNATURE/ },
  { path: '/slow', status: 504, error: 'upstream timed out', reason: /ERR_UPSTREAM_TIMEOUT|UND_ERR_HEADERS_TIMEOUT/ },
];

// every case has its own path (and log line): they run side by side
describe('upstream refusals', { concurrency: true }, () => {
  for (const c of refusals) {
    for (const version of ['--http1.1', '--http2']) {
      test(`${c.path} (${version.slice(2)}): ${c.status} with a JSON body, logged with a reason`, async () => {
        const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}${c.path}/x?v=${version}`, [version]));
        assert.equal(r.status, c.status, r.body);
        assert.deepEqual(JSON.parse(r.body), { error: c.error });
        const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === `${c.path}/x?v=${version}`);
        assert.equal(line.status, c.status);
        assert.equal(line.outcome, 'upstream-error');
        assert.match(String(line.reason), c.reason);
        await stillServing(version);
      });
    }
  }
});

for (const kind of ['sized', 'chunked']) {
  for (const version of ['--http1.1', '--http2']) {
    test(`upstream dies mid-response (${kind}, ${version.slice(2)}): the client sees a broken transfer`, async () => {
      const r = await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/dies-${kind}?v=${version}`, [version]);
      assert.notEqual(r.code, 0, `curl must report a failed transfer (stderr: ${r.stderr})`);
      assert.match(r.stderr, /curl: \((18|56|92|16)\)/, 'a transfer error, not a timeout');
      const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === `/dies-${kind}?v=${version}`);
      assert.equal(line.outcome, 'upstream-error');
      await stillServing(version);
    });
  }
}
