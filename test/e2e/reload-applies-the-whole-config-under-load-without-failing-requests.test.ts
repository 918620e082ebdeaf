/**
 * SIGHUP applies the whole config file while clients keep going, in both
 * modes at once (http requests on keep-alive connections, connection-mode
 * connections one after another), and not one of their requests fails: a
 * server is added to each upstream, then the first ones are removed, then a
 * route is changed, then a client is put on edge.deny — whose open
 * connections (one of each mode) are closed at once, as with a revocation.
 * Each reload logs one `reload` line naming what changed.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, startTlsBackend, type HttpsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { identityOfFile, readUntilClose, tlsClient } from '../helpers/e2e.js';
import { steadyLoad } from '../helpers/steady-load.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { getOk } from '../helpers/e2e.js';
import { untilNothingInUse, waitForIdleCounts } from '../helpers/admin-client.js';

let pki: TestPki;
let web1: HttpsBackend;
let web2: HttpsBackend;
let tcp1: TlsBackend;
let tcp2: TlsBackend;
let proxy: ProxyProcess;
let file: string;
const noNameCheck = { checkServerIdentity: () => undefined };

const upstream = (ports: number[]) => ({ servers: ports.map((p) => `127.0.0.1:${p}`), ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal' });
function config(o: { web: number[]; tcp: number[]; routeB?: boolean; deny?: string[] }) {
  return {
    listen: '127.0.0.1:0',
    edge: {
      certificates: [{ cert: `${pki.dir}/edge.crt`, key: `${pki.dir}/edge.key` }],
      clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt` },
      deny: o.deny ?? [],
    },
    delegation: { ca: { cert: `${pki.dir}/delegation-ca.crt`, key: `${pki.dir}/delegation-ca.key` }, ttl: '1h' },
    upstreams: {
      web: upstream(o.web), tcp: upstream(o.tcp),
      ...(o.routeB ? { 'web-b': upstream([web1.port]) } : {}),
    },
    routes: [
      { upstream: 'tcp', match: { sni: 'tcp.localhost' }, mode: 'connection' },
      ...(o.routeB ? [{ upstream: 'web-b', match: { pathPrefix: '/b/' }, mode: 'http' }] : []),
      { upstream: 'web', mode: 'http' },
    ],
    admin: { listen: adminSocket() },
    log: { level: 'info' },
  };
}

const adminSocket = () => join(pki.dir, 'admin.sock');

before(async () => {
  pki = await makePki();
  [web1, web2, tcp1, tcp2] = await Promise.all([
    startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir }),
    startTlsBackend({ pkiDir: pki.dir }), startTlsBackend({ pkiDir: pki.dir }),
  ]);
  file = await writeConfig(pki.dir, config({ web: [web1.port], tcp: [tcp1.port] }));
  proxy = await startProxyProcess(file);
});
after(async () => { await proxy?.stop(); await Promise.all([web1, web2, tcp1, tcp2].map((b) => b?.close())); });

const read = (f: string) => readFileSync(`${pki.dir}/${f}`);

const get = (agent: Agent, path: string) => getOk(agent, proxy.port, read('edge-ca.crt'), path);

/** one connection-mode connection: a line out, the same line back, closed */
function echoOnce(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: proxy.port, servername: 'tcp.localhost', ca: read('edge-ca.crt'), cert: read('alice.crt'), key: read('alice.key'), ...noNameCheck });
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString(); if (got === text) s.end(); });
    s.on('error', (err) => reject(new Error(`echo: ${err.message}`)));
    s.on('close', () => (got === text ? resolve() : reject(new Error(`echo: got ${JSON.stringify(got)} for ${JSON.stringify(text)}`))));
    s.once('secureConnect', () => s.write(text));
  });
}

async function reload(next: ReturnType<typeof config>, generation: number) {
  await writeConfig(pki.dir, next);
  proxy.child.kill('SIGHUP');
  return proxy.waitForLog((l) => l.msg === 'reload' && l.generation === generation, 20_000);
}

test('routes, upstreams and deny entries change under steady load in both modes with zero failed requests', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 3, cert: read('alice.crt'), key: read('alice.key') });
  const httpLoad = steadyLoad((i) => get(agent, i === 0 ? `/b/${i}` : `/load/${i}`), 3);
  const tcpLoad = steadyLoad((i) => echoOnce(`ping ${i}\n`), 2);
  const progress = (n: number) => withTimeout(Promise.all([httpLoad.progress(n), tcpLoad.progress(n)]), `${n} more requests in each mode`, 30_000);
  /** every loop has finished 2 more: nothing started before now is still in flight */
  const settled = () => withTimeout(Promise.all([httpLoad.progressEach(2), tcpLoad.progressEach(2)]), 'what was in flight is done', 30_000);
  try {
    await progress(20);

    // 1. a server more in each upstream: both get traffic
    const added = await reload(config({ web: [web1.port, web2.port], tcp: [tcp1.port, tcp2.port] }), 2);
    assert.match(String(added.changes), new RegExp(`servers added: web/127\\.0\\.0\\.1:${web2.port}, tcp/127\\.0\\.0\\.1:${tcp2.port}`));
    await waitFor(() => web2.requests.length > 5 && tcp2.connections.length > 5, 'the added servers take traffic', 30_000);

    // 2. the first servers removed: once what was in flight is done, they get nothing more
    const removed = await reload(config({ web: [web2.port], tcp: [tcp2.port] }), 3);
    assert.match(String(removed.changes), new RegExp(`servers removed: web/127\\.0\\.0\\.1:${web1.port}, tcp/127\\.0\\.0\\.1:${tcp1.port}`));
    await settled();
    const web1Seen = web1.requests.length;
    const tcp1Seen = tcp1.connections.length;
    await progress(30);
    assert.equal(web1.requests.length, web1Seen, 'no request reaches a removed server');
    assert.equal(tcp1.connections.length, tcp1Seen, 'no connection reaches a removed server');

    // 3. a route changed: /b/ now goes to its own upstream (web1 again)
    const routed = await reload(config({ web: [web2.port], tcp: [tcp2.port], routeB: true }), 4);
    assert.match(String(routed.changes), /routes added: path \/b\/ → web-b \(http\)/);
    assert.match(String(routed.changes), /upstreams added: web-b/);
    const bOn = (b: HttpsBackend) => b.requests.filter((r) => r.url.startsWith('/b/')).length;
    await waitFor(() => bOn(web1) > 3, 'the changed route takes its requests', 30_000);
    await settled();
    const bOnWeb2 = bOn(web2);
    await progress(20);
    assert.equal(bOn(web2), bOnWeb2, 'requests of the changed route no longer reach the old upstream');

    // 4. bob on edge.deny: his open connections close at once; alice's load goes on
    const bobWeb = await tlsClient(proxy.port, pki.dir, 'bob', { ALPNProtocols: ['http/1.1'] });
    const bobTcp = await tlsClient(proxy.port, pki.dir, 'bob', { servername: 'tcp.localhost', ...noNameCheck });
    const bobWebClosed = readUntilClose(bobWeb);
    const bobTcpClosed = readUntilClose(bobTcp);
    const bob = identityOfFile(pki.dir, 'bob');
    const denied = await reload(config({ web: [web2.port], tcp: [tcp2.port], routeB: true, deny: [bob] }), 5);
    assert.match(String(denied.changes), /deny entries added: 1/);
    await withTimeout(Promise.all([bobWebClosed, bobTcpClosed]), "bob's open connections are closed", 10_000);
    const revokedLines = () => proxy.logs.filter((l) => l.msg === 'connection' && l.identity === bob && l.outcome === 'revoked' && l.reason === 'denied identity');
    await waitFor(() => revokedLines().length === 2, 'one revoked line per closed connection (http and connection mode)', 10_000);
    assert.deepEqual(revokedLines().map((l) => l.mode).sort(), ['connection', 'http']);
    // and his new connections are refused: 403 in http mode
    const again = await tlsClient(proxy.port, pki.dir, 'bob', { ALPNProtocols: ['http/1.1'] });
    const answer = readUntilClose(again);
    again.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.match((await answer).data, /^HTTP\/1\.1 403/);
    await progress(20);
  } finally {
    const h = await httpLoad.stop();
    const t = await tcpLoad.stop();
    agent.destroy();
    assert.equal(proxy.child.exitCode, null, `the proxy is running (stderr: ${proxy.stderr()}; last lines: ${JSON.stringify(proxy.logs.slice(-5))})`);
    assert.deepEqual({ failed: h.failed, errors: h.errors }, { failed: 0, errors: [] }, 'http mode: no request failed');
    assert.deepEqual({ failed: t.failed, errors: t.errors }, { failed: 0, errors: [] }, 'connection mode: no connection failed');
    assert.ok(h.ok > 100 && t.ok > 100, `load ran (${h.ok} requests, ${t.ok} connections)`);
    console.log(`# across 4 reloads: ${h.ok} http requests and ${t.ok} connection-mode connections, none failed`);
  }
  // the baseline: with the clients gone, no connection stays open and no server keeps an active count
  await untilNothingInUse(adminSocket());
  // and http mode's pool has nothing lent out, waiting or connecting
  await waitForIdleCounts(adminSocket());
});
