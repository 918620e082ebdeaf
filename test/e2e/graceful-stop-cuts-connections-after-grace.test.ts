/**
 * SIGTERM when connections outlive `timeouts.shutdownGrace`: an http request
 * whose upstream never finishes and a connection-mode stream that never ends
 * are cut when the grace period is over (the client sees a broken transfer,
 * not a success), and the process still exits 0, saying how many it cut.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, startTlsBackend, type HttpsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { curl } from '../helpers/run-command.js';
import { readUntilClose, tlsClient, upstreamTo } from '../helpers/e2e.js';

let pki: TestPki;
let web: HttpsBackend;
let pipe: TlsBackend;
let proxy: ProxyProcess;
let started!: () => void;
const requestStarted = new Promise<void>((r) => { started = r; });

before(async () => {
  pki = await makePki();
  web = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: { '/forever': (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 }); res.write('started;'); started(); } },
  });
  pipe = await startTlsBackend({ pkiDir: pki.dir, onConnection: (c) => c.socket.once('data', () => c.socket.write('streaming;')) });
  const config = baseConfig(pki.dir, web.port) as Record<string, unknown>;
  config.upstreams = { web: upstreamTo(pki.dir, web.port), pipe: upstreamTo(pki.dir, pipe.port) };
  config.routes = [{ upstream: 'pipe', mode: 'connection', match: { sni: 'pipe.test' } }, { upstream: 'web', mode: 'http' }];
  config.timeouts = { shutdownGrace: '1s' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { if (proxy?.child.exitCode === null) proxy.child.kill('SIGKILL'); await web?.close(); await pipe?.close(); });

test('connections beyond the grace period are cut; exit 0', async () => {
  const request = curl(pki.dir, 'alice', `https://localhost:${proxy.port}/forever`, ['--max-time', '30']);
  const stream = await tlsClient(proxy.port, pki.dir, 'bob', { servername: 'pipe.test', checkServerIdentity: () => undefined });
  const streamDone = readUntilClose(stream);
  stream.write('go');
  await requestStarted;
  await pipe.connection(1);

  assert.equal(await proxy.stop('SIGTERM'), 0, 'exit 0 after the grace period');
  const stopped = proxy.logs.find((l) => l.msg === 'countersign stopped');
  assert.equal(stopped?.connectionsCut, 2);

  const r = await request;
  assert.notEqual(r.code, 0, 'curl reports a failed transfer, not a success');
  assert.match(r.stdout, /^started;/);
  const s = await streamDone;
  assert.equal(s.data, 'streaming;');
});
