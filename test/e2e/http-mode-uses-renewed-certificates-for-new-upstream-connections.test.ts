/**
 * An identity's upstream pool outlives the minted certificate it started with.
 * With a 2 s delegation ttl and a backend that closes every connection, each
 * request needs a new upstream handshake: after the first certificate has
 * expired, the pool must present the renewed one, not the expired one.
 * (A config file refuses a ttl under 1m, so the proxy runs in this process
 * with the 2 s ttl set on the validated config, as a library user could.)
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, baseConfig, type TestPki } from '../helpers/proxy-process.js';
import { parseConfigObject } from '../../src/config/index.js';
import { silentLogger } from '../../src/observe/index.js';
import { startProxy, type RunningProxy } from '../../src/proxy.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import type { TLSSocket } from 'node:tls';
import { untilPast } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
/** notAfter of the certificate presented on each upstream request */
const notAfters: Date[] = [];
let proxy: RunningProxy;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: { '/': (req, res, seen) => { notAfters.push((req.socket as TLSSocket).getPeerX509Certificate()!.validToDate); res.writeHead(200, { connection: 'close', 'content-type': 'text/plain' }); res.end(seen.identity ?? 'none'); } },
  });
  const config = parseConfigObject(baseConfig(pki.dir, backend.port, { mode: 'http' }), pki.dir);
  config.delegation!.ttl = 2000;
  proxy = await startProxy({ config, logger: silentLogger });
});
after(async () => { await proxy?.stop(1000); await backend?.close(); });

test('a new upstream connection after the first minted certificate expired presents a renewed one', async () => {
  const url = `https://localhost:${proxy.address.port}/whoami`;
  const first = curlStatus(await curl(pki.dir, 'alice', url));
  assert.equal(first.status, 200);
  await untilPast(notAfters[0].getTime() + 1_000); // the certificate minted for the first request has expired
  const later = curlStatus(await curl(pki.dir, 'alice', url));
  assert.equal(later.status, 200, `after expiry: ${later.body}`);
  assert.equal(later.body, first.body, 'the backend still sees alice');
  const sockets = new Set(backend.requests.map((q) => q.socket));
  assert.equal(sockets.size, 2, 'each request came on a new upstream connection');
});
