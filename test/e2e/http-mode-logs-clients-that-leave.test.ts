/**
 * A client that leaves while its request is in flight: the upstream request is
 * aborted (the backend sees its connection close) and the proxy logs it as the
 * client's doing (499, client-closed), not as an upstream error.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let held: (res: ServerResponse) => void;
const heldResponse = new Promise<ServerResponse>((r) => { held = r; });

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: { '/hold': (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('started;'); held(res); } },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

test('the client leaves mid-response: upstream request aborted, logged as 499 client-closed', async () => {
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  s.write('GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const res = await heldResponse;
  const upstreamClosed = new Promise<void>((r) => res.once('close', () => r()));
  await new Promise<void>((r) => s.once('data', () => r())); // the head and first bytes arrived
  s.destroy();
  await upstreamClosed;
  const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === '/hold');
  assert.equal(line.status, 499);
  assert.equal(line.outcome, 'client-closed');
  assert.equal(proxy.child.exitCode, null);
});
