/**
 * SIGTERM with a request in flight: the proxy stops accepting at once (a new
 * connection is refused), closes idle keep-alive connections, lets the
 * request in flight complete with its whole body, and exits 0 having cut
 * nothing.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { Agent, get } from 'node:https';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';

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
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' }) as Record<string, unknown>;
  config.timeouts = { shutdownGrace: '20s' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL'); await backend?.close(); });

test('SIGTERM: the request in flight completes, new connections are refused, exit 0', async () => {
  // an idle keep-alive client must not hold up the stop
  const agent = new Agent({ keepAlive: true, ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/bob.crt`), key: readFileSync(`${pki.dir}/bob.key`) });
  const idleClosed = new Promise<number>((resolve, reject) => {
    let status = 0;
    const req = get(`https://localhost:${proxy.port}/warm-up`, { agent }, (res) => { status = res.statusCode ?? 0; res.resume(); });
    req.on('socket', (socket) => socket.once('close', () => resolve(status)));
    req.on('error', reject);
  });

  const inFlight = curl(pki.dir, 'alice', `https://localhost:${proxy.port}/hold`, ['--max-time', '30']);
  const res = await heldResponse;
  const exited = proxy.stop('SIGTERM');
  await proxy.waitForLog((l) => /^SIGTERM: stopping/.test(l.msg));

  const late = await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/late`);
  assert.equal(late.code, 7, `a new connection is refused (curl: ${late.stderr.trim()})`);

  res.end('finished');
  const r = curlStatus(await inFlight);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'started;finished', 'the whole body arrived');

  assert.equal(await idleClosed, 200, 'the idle keep-alive connection was closed by the proxy');
  assert.equal(await exited, 0);
  const stopped = proxy.logs.find((l) => l.msg === 'countersign stopped');
  assert.ok(stopped, 'a last line says it stopped');
  assert.equal(stopped.connectionsCut, 0);
  assert.ok(!backend.requests.some((q) => q.url === '/late'));
});
