/**
 * HTTP/2 clients that open streams and cancel them at once (HEADERS then
 * RST_STREAM, sent by Python's h2): every cancelled request is aborted
 * upstream and logged as one 499 client-closed line, the route's shared pool
 * keeps serving other clients, and a connection that floods resets is told
 * GOAWAY (ENHANCE_YOUR_CALM) and closed.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { h2Resets } from '../helpers/h2-reset.js';

import { waitForIdleCounts } from '../helpers/admin-client.js';
let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let admin: string;
/** responses of /stream that the backend saw closed (aborted by the proxy) */
let streamClosed = 0;
let streamOpened = 0;
const closeWaiters: (() => void)[] = [];
const RESETS = 40;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: {
      // a response that never ends: a request whose client left must be aborted, or it holds its upstream connection forever
      '/stream': (_req, res: ServerResponse) => {
        streamOpened++;
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write('x'.repeat(1024)), 100);
        res.once('close', () => { clearInterval(t); streamClosed++; for (const w of closeWaiters.splice(0)) w(); });
      },
    },
  });
  const config = baseConfig(pki.dir, backend.port, {
    mode: 'http', identity: 'header', header: 'kes', proxyCert: { cert: `${pki.dir}/proxy-client.crt`, key: `${pki.dir}/proxy-client.key` },
  });
  admin = `${pki.dir}/admin.sock`; // a unix socket: no port to race other tests for
  proxy = await startProxyProcess(await writeConfig(pki.dir, { ...config, limits: { http2Resets: { burst: 100, perSecond: 10 } }, admin: { listen: admin } }));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

test('cancelled streams are aborted upstream, logged as 499, and the shared pool still serves everyone', async () => {
  const r = await h2Resets(proxy.port, pki.dir, 'alice', { resets: RESETS, path: '/stream', final: '/after' });
  assert.equal(r.alpn, 'h2');
  assert.equal(r.resetsSent, RESETS);
  assert.equal(r.goaway, null, 'under the reset limit: no GOAWAY');
  assert.equal(r.final?.status, 200, 'the same connection is served after its resets');
  // every request that reached the backend (if any did) was aborted there: none holds a pool connection
  while (streamClosed < streamOpened) await new Promise<void>((res) => closeWaiters.push(res));
  // another client of the route (one shared header-mode pool) is answered
  const other = await curl(pki.dir, 'bob', `https://localhost:${proxy.port}/other`, ['--http2', '--resolve', `localhost:${proxy.port}:127.0.0.1`]);
  assert.equal(curlStatus(other).status, 200, other.stderr);
  const cancelled = () => proxy.logs.filter((l) => l.msg === 'request' && l.path === '/stream');
  await proxy.waitForLog(() => cancelled().length >= RESETS, 30_000);
  const lines = cancelled();
  assert.equal(lines.length, RESETS, 'one line per cancelled request');
  for (const l of lines) {
    assert.equal(l.status, 499);
    assert.equal(l.outcome, 'client-closed');
    assert.equal(l.reason, 'client-closed');
  }
  // every cancelled request gave back its lease: nothing in flight is counted any more
  await waitForIdleCounts(admin);
});

test('a connection that floods resets gets GOAWAY ENHANCE_YOUR_CALM and is closed; the proxy serves on', async () => {
  // a loaded machine may take more than a moment to get through 600 streams: the GOAWAY is waited for up to 10 s
  const r = await h2Resets(proxy.port, pki.dir, 'alice', { resets: 600, path: '/', settleS: 10 });
  assert.equal(r.goaway?.errorCode, 11, `GOAWAY ENHANCE_YOUR_CALM expected: ${JSON.stringify(r)}`);
  const flood = await proxy.waitForLog((l) => l.outcome === 'reset-flood');
  assert.ok(Number(flood.resets) > 100);
  const after = await curl(pki.dir, 'bob', `https://localhost:${proxy.port}/after-flood`, ['--http2', '--resolve', `localhost:${proxy.port}:127.0.0.1`]);
  assert.equal(curlStatus(after).status, 200, after.stderr);
  assert.equal(proxy.child.exitCode, null);
  await waitForIdleCounts(admin);
});
