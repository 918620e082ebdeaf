/**
 * `listeners` across reloads: a reload that adds a listener opens its port
 * (served by its route at once) and one that removes a listener closes its
 * port to new clients, while the connections open on the other listeners go
 * on untouched; those of the removed listener are retired after
 * timeouts.shutdownGrace. A reload that adds a listener on an address in use
 * is refused as a whole: nothing changes, every port keeps serving.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { readUntilClose, tcpClient, tlsClient, upstreamTo } from '../helpers/e2e.js';
import { echo } from '../helpers/edge-tls.js';
import { freePort, listen, closeServer } from '../helpers/net.js';
import { withTimeout } from '../helpers/wait.js';

let pki: TestPki;
let a: TlsBackend;
let b: TlsBackend;
let c: TlsBackend;
let proxy: ProxyProcess;
let busy: Server;
let generation = 1;

function config(listeners: { name: string; port: number }[]): Record<string, any> {
  const cfg = baseConfig(pki.dir, a.port) as Record<string, any>;
  cfg.upstreams = { a: upstreamTo(pki.dir, a.port), b: upstreamTo(pki.dir, b.port), c: upstreamTo(pki.dir, c.port) };
  cfg.listeners = listeners.map((l) => ({ name: l.name, listen: `127.0.0.1:${l.port}` }));
  cfg.routes = [
    { upstream: 'a', mode: 'connection', match: { listener: 'main' } },
    ...listeners.map((l) => ({ upstream: l.name, mode: 'connection', match: { listener: l.name } })),
  ];
  cfg.timeouts = { shutdownGrace: '1s' };
  return cfg;
}

async function reload(cfg: Record<string, any>): Promise<Record<string, unknown>> {
  await writeConfig(pki.dir, cfg);
  const mark = proxy.logs.length;
  proxy.child.kill('SIGHUP');
  return proxy.waitForLog((l) => (l.msg === 'reload' || l.msg === 'reload refused; the running config keeps serving') && proxy.logs.indexOf(l) >= mark);
}

let bPort: number;
let cPort: number;
before(async () => {
  pki = await makePki();
  [a, b, c] = await Promise.all([startTlsBackend({ pkiDir: pki.dir }), startTlsBackend({ pkiDir: pki.dir }), startTlsBackend({ pkiDir: pki.dir })]);
  [bPort, cPort] = [await freePort(), await freePort()];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config([{ name: 'b', port: bPort }])));
  busy = createServer();
  await listen(busy);
});
after(async () => { await proxy?.stop(); await closeServer(busy); await Promise.all([a, b, c].map((x) => x?.close())); });

test('a reload adds listener c and removes b: main\'s connection goes on, c serves, b refuses new clients and its connection is retired', async () => {
  const onMain = await tlsClient(proxy.port, pki.dir, 'alice');
  const onB = await tlsClient(bPort, pki.dir, 'alice');
  assert.equal(await echo(onMain, 'main 1'), 'main 1');
  assert.equal(await echo(onB, 'b 1'), 'b 1');
  let mainClosed = false;
  onMain.once('close', () => { mainClosed = true; });
  const bClosed = readUntilClose(onB);

  const line = await reload(config([{ name: 'c', port: cPort }]));
  assert.equal(line.msg, 'reload', JSON.stringify(line));
  generation++;
  assert.equal(line.generation, generation);
  assert.match(String(line.changes), /listeners added: c \(127\.0\.0\.1:\d+\)/);
  assert.match(String(line.changes), /listeners removed: b \(127\.0\.0\.1:\d+\)/);

  const onC = await tlsClient(cPort, pki.dir, 'bob');
  assert.equal(await echo(onC, 'c 1'), 'c 1');
  assert.equal(c.connections.length, 1, 'the new listener reached its route\'s upstream');
  onC.destroy();

  await assert.rejects(tcpClient(bPort), /ECONNREFUSED/, 'the removed listener takes no new connection');
  assert.equal(await echo(onB, 'b 2'), 'b 2', 'its open connection drains for the grace period');
  await withTimeout(bClosed, 'the removed listener\'s connection is closed after shutdownGrace', 10_000);
  const retired = await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'retired' && l.listener === 'b');
  assert.match(String(retired.reason), /listener b removed by a reload/);

  assert.equal(mainClosed, false, 'the main listener\'s connection was not touched');
  assert.equal(await echo(onMain, 'main 2'), 'main 2');
  onMain.destroy();
});

test('a reload adding a listener on an address in use is refused whole; every listener keeps serving', async () => {
  const takenPort = (busy.address() as { port: number }).port;
  const onMain = await tlsClient(proxy.port, pki.dir, 'alice');
  const line = await reload(config([{ name: 'c', port: cPort }, { name: 'b', port: takenPort }]));
  assert.equal(line.msg, 'reload refused; the running config keeps serving');
  assert.match(JSON.stringify(line.problems), new RegExp(`listener b: listen 127\\.0\\.0\\.1:${takenPort}: address already in use`));
  // nothing changed: c still serves, main's connection still carries data
  const onC = await tlsClient(cPort, pki.dir, 'alice');
  assert.equal(await echo(onC, 'c 2'), 'c 2');
  onC.destroy();
  assert.equal(await echo(onMain, 'main 3'), 'main 3');
  onMain.destroy();
  // and the next good reload applies
  const ok = await reload(config([{ name: 'c', port: cPort }, { name: 'b', port: bPort }]));
  assert.equal(ok.msg, 'reload');
  const onB = await tlsClient(bPort, pki.dir, 'alice');
  assert.equal(await echo(onB, 'b back'), 'b back');
  onB.destroy();
});
