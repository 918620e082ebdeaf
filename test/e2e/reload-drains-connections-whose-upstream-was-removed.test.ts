/**
 * Connection mode across a reload: an open connection keeps the upstream it is
 * piped to. When the reload removed that upstream (or its server, or the route
 * that sent it there) the connection still works for timeouts.shutdownGrace,
 * then is closed and logged with outcome `retired`; a connection whose route
 * the reload left alone stays open past that.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { readUntilClose, tlsClient, upstreamTo } from '../helpers/e2e.js';
import { withTimeout } from '../helpers/wait.js';

let pki: TestPki;
let a: TlsBackend;
let b: TlsBackend;
let c: TlsBackend;
let proxy: ProxyProcess;
const noNameCheck = { checkServerIdentity: () => undefined };

function config(routes: { sni: string; upstream: string }[], upstreams: Record<string, number>): Record<string, any> {
  const cfg = baseConfig(pki.dir, a.port) as Record<string, any>;
  cfg.upstreams = Object.fromEntries(Object.entries(upstreams).map(([n, port]) => [n, upstreamTo(pki.dir, port)]));
  cfg.routes = routes.map((r) => ({ upstream: r.upstream, match: { sni: r.sni }, mode: 'connection' }));
  cfg.timeouts = { shutdownGrace: '1s' };
  return cfg;
}

before(async () => {
  pki = await makePki();
  [a, b, c] = await Promise.all([startTlsBackend({ pkiDir: pki.dir }), startTlsBackend({ pkiDir: pki.dir }), startTlsBackend({ pkiDir: pki.dir })]);
  proxy = await startProxyProcess(await writeConfig(pki.dir, config([{ sni: 'a.localhost', upstream: 'a' }, { sni: 'c.localhost', upstream: 'c' }], { a: a.port, c: c.port })));
});
after(async () => { await proxy?.stop(); await Promise.all([a, b, c].map((x) => x?.close())); });

function echo(s: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve) => { s.once('data', (d: Buffer) => resolve(d.toString())); s.write(text); });
}

test('a connection whose upstream a reload removed drains for the grace period and is closed; the others stay', async () => {
  const toA = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'a.localhost', ...noNameCheck });
  const toC = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'c.localhost', ...noNameCheck });
  assert.equal(await echo(toA, 'one'), 'one');
  assert.equal(await echo(toC, 'one'), 'one');
  const aClosed = readUntilClose(toA);
  let cOpen = true;
  toC.once('close', () => { cOpen = false; });

  // a.localhost now goes to upstream b; upstream a is gone
  await writeConfig(pki.dir, config([{ sni: 'a.localhost', upstream: 'b' }, { sni: 'c.localhost', upstream: 'c' }], { b: b.port, c: c.port }));
  proxy.child.kill('SIGHUP');
  const line = await proxy.waitForLog((l) => l.msg === 'reload' && l.generation === 2);
  assert.match(String(line.changes), /upstreams removed: a/);

  // still piped to a during the grace period; a new connection goes to b
  assert.equal(await echo(toA, 'two'), 'two');
  assert.equal(a.connections.length, 1);
  const fresh = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'a.localhost', ...noNameCheck });
  assert.equal(await echo(fresh, 'fresh'), 'fresh');
  assert.equal(b.connections.length, 1, 'the new connection reached the new upstream');
  fresh.destroy();

  await withTimeout(aClosed, 'the retired connection is closed after shutdownGrace', 10_000);
  const retired = await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'retired');
  assert.equal(retired.upstream, 'a');
  assert.match(String(retired.reason), /upstream a removed by a reload/);
  assert.ok(cOpen, 'the connection whose route stayed is still open');
  assert.equal(await echo(toC, 'three'), 'three');
  toC.destroy();
});
