/**
 * timeouts.keepAlive: an http-mode client connection that waits for its next
 * request longer than this is closed by the proxy (nginx's keepalive_timeout),
 * while one that keeps asking stays open.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { askOnSocket, readUntilClose, tlsClient } from '../helpers/e2e.js';
import { withTimeout } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' });
  config.timeouts = { keepAlive: '1500ms', idle: '5m' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

test('a keep-alive client idle past timeouts.keepAlive is closed; one that keeps asking is not', async () => {
  const idle = await tlsClient(proxy.port, pki.dir, 'alice');
  const busy = await tlsClient(proxy.port, pki.dir, 'bob');
  assert.match(await askOnSocket(idle, '/one'), /^HTTP\/1\.1 200/);
  const askedAt = performance.now();
  const idleClosed = readUntilClose(idle);
  let busyClosed = false;
  busy.once('close', () => { busyClosed = true; });
  // the busy client asks every 500 ms until the idle one has been closed
  const asking = (async () => {
    while (!idle.destroyed && !busyClosed) {
      assert.match(await askOnSocket(busy, '/again'), /^HTTP\/1\.1 200/);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  await withTimeout(idleClosed, 'the idle client to be closed', 10_000);
  const idleFor = performance.now() - askedAt;
  assert.ok(idleFor >= 1400, `closed after ${Math.round(idleFor)} ms idle, not before timeouts.keepAlive`);
  await asking;
  assert.equal(busyClosed, false, 'the client that kept asking is still open');
  assert.match(await askOnSocket(busy, '/last'), /^HTTP\/1\.1 200/);
  busy.destroy();
});
