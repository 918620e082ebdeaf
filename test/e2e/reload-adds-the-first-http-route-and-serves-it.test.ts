/**
 * A proxy started with connection-mode routes only does not load the http
 * forwarder; a reload that adds the first http-mode route loads it before the
 * route goes live, and the route serves requests at once, while the
 * connection-mode route keeps working.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let config: Record<string, any>;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  config = baseConfig(pki.dir, backend.port, { mode: 'connection', match: { sni: 'tcp.localhost' } }) as Record<string, any>;
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

test('a reload adds the first http-mode route; it serves at once, and connection mode goes on', async () => {
  // before: only tcp.localhost is routed (connection mode, the client's HTTP reaches the backend as bytes)
  const tcp = await curl(pki.dir, 'alice', `https://tcp.localhost:${proxy.port}/who`, ['--resolve', `tcp.localhost:${proxy.port}:127.0.0.1`, '-k']);
  const viaTcp = curlStatus(tcp);
  assert.equal(tcp.code, 0, tcp.stderr);
  assert.equal(viaTcp.status, 200, viaTcp.body);
  assert.equal((await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`)).code === 0, false, 'no route for localhost yet');

  const next = structuredClone(config);
  next.routes.push({ upstream: 'backend', mode: 'http', identity: 'delegated' });
  await writeConfig(pki.dir, next);
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  const line = await proxy.waitForLog((l) => l.msg === 'reload' && proxy.logs.indexOf(l) >= mark);
  assert.equal(line.outcome, 'ok', JSON.stringify(line));

  const viaHttp = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/who`));
  assert.equal(viaHttp.status, 200, viaHttp.body);
  assert.match(viaHttp.body, /alice/);
  const again = curlStatus(await curl(pki.dir, 'bob', `https://tcp.localhost:${proxy.port}/who`, ['--resolve', `tcp.localhost:${proxy.port}:127.0.0.1`, '-k']));
  assert.equal(again.status, 200, again.body);
});
