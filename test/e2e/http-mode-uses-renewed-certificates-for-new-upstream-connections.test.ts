/**
 * An identity's upstream pool outlives the minted certificate it started with.
 * With a 2 s delegation ttl and a backend that closes every connection, each
 * request needs a new upstream handshake: after the first certificate has
 * expired, the pool must present the renewed one, not the expired one.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import type { TLSSocket } from 'node:tls';
import { untilPast } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
/** notAfter of the certificate presented on each upstream request */
const notAfters: Date[] = [];
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: { '/': (req, res, seen) => { notAfters.push((req.socket as TLSSocket).getPeerX509Certificate()!.validToDate); res.writeHead(200, { connection: 'close', 'content-type': 'text/plain' }); res.end(seen.identity ?? 'none'); } },
  });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' }) as { delegation: { ttl: string } };
  config.delegation.ttl = '2s';
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

test('a new upstream connection after the first minted certificate expired presents a renewed one', async () => {
  const url = `https://localhost:${proxy.port}/whoami`;
  const first = curlStatus(await curl(pki.dir, 'alice', url));
  assert.equal(first.status, 200);
  await untilPast(notAfters[0].getTime() + 1_000); // the certificate minted for the first request has expired
  const later = curlStatus(await curl(pki.dir, 'alice', url));
  assert.equal(later.status, 200, `after expiry: ${later.body}`);
  assert.equal(later.body, first.body, 'the backend still sees alice');
  const sockets = new Set(backend.requests.map((q) => q.socket));
  assert.equal(sockets.size, 2, 'each request came on a new upstream connection');
});
