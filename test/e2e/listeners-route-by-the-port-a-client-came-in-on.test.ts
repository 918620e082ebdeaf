/**
 * One process, several ports (`listeners` beside `listen`), one certificate
 * store and client auth: a route that names a listener (`match.listener`)
 * serves only that port, in connection and http mode; a port no route names
 * is served by the routes that name none, with its own preamble (a
 * PostgreSQL SSLRequest on one port only). The connection log lines,
 * /status and the metrics name the listener; a refused client on an extra
 * port is refused as on `listen`.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, startTlsBackend, type HttpsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { readUntilClose, tcpClient, tlsClient, upstreamTo, writeClientCertificates } from '../helpers/e2e.js';
import { echo } from '../helpers/edge-tls.js';
import { adminJson, scrape } from '../helpers/admin-client.js';
import { metricValue } from '../helpers/prometheus-text.js';

let pki: TestPki;
let a: TlsBackend;
let b: TlsBackend;
let web: HttpsBackend;
let proxy: ProxyProcess;
let admin: string;
let ports: Record<string, number>;

before(async () => {
  pki = await makePki();
  await writeClientCertificates(pki);
  [a, b, web] = await Promise.all([startTlsBackend({ pkiDir: pki.dir }), startTlsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir })]);
  const config = baseConfig(pki.dir, a.port) as Record<string, any>;
  config.upstreams = { a: upstreamTo(pki.dir, a.port), b: upstreamTo(pki.dir, b.port), web: upstreamTo(pki.dir, web.port) };
  config.listeners = [
    { name: 'b', listen: '127.0.0.1:0' },
    { name: 'pg', listen: '127.0.0.1:0', starttls: 'postgres' },
    { name: 'web', listen: '127.0.0.1:0' },
  ];
  config.routes = [
    // names no listener: serves main and pg, the listeners no route names
    { upstream: 'a', mode: 'connection' },
    { upstream: 'b', mode: 'connection', match: { listener: 'b' } },
    { upstream: 'web', mode: 'http', match: { listener: 'web', pathPrefix: '/' } },
  ];
  config.admin = { listen: '127.0.0.1:0' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  admin = String((await proxy.waitForLog((l) => l.msg === 'admin listening')).admin);
  const listening = await proxy.waitForLog((l) => l.msg === 'countersign listening');
  ports = Object.fromEntries(Object.entries(listening.listeners as Record<string, string>).map(([n, addr]) => [n, Number(addr.split(':').pop())]));
});
after(async () => { await proxy?.stop(); await Promise.all([a?.close(), b?.close(), web?.close()]); });

test('the listening line names every listener and its address', () => {
  assert.deepEqual(Object.keys(ports).sort(), ['b', 'main', 'pg', 'web']);
  assert.equal(ports.main, proxy.port);
  assert.equal(new Set(Object.values(ports)).size, 4, 'four different ports');
});

test('a route naming a listener serves that port only; the others go to the routes that name none', async () => {
  const onMain = await tlsClient(ports.main, pki.dir, 'alice');
  assert.equal(await echo(onMain, 'to a'), 'to a');
  const onB = await tlsClient(ports.b, pki.dir, 'alice');
  assert.equal(await echo(onB, 'to b'), 'to b');
  assert.equal(a.connections.length, 1);
  assert.equal(b.connections.length, 1);
  assert.equal(b.connections[0].identity, a.connections[0].identity, 'the same client identity on both ports');
  onMain.destroy();
  onB.destroy();
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'b');
  assert.equal(line.upstream, 'b');
  await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'main' && l.upstream === 'a');
});

test('the PostgreSQL preamble is answered on the port that asks for it, and only there', async () => {
  const raw = await tcpClient(ports.pg);
  const answer = new Promise<string>((r) => raw.once('data', (d: Buffer) => r(d.toString('latin1'))));
  raw.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
  assert.equal(await answer, 'S');
  const s = await new Promise<TLSSocket>((resolve, reject) => {
    const t = tlsConnect({ socket: raw, servername: 'localhost', ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`) });
    t.once('secureConnect', () => resolve(t));
    t.once('error', reject);
  });
  assert.equal(await echo(s, 'after SSLRequest'), 'after SSLRequest');
  s.destroy();
  await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'pg' && l.upstream === 'a');

  // on main, no starttls: an SSLRequest is not TLS
  const plain = await tcpClient(ports.main);
  const closed = readUntilClose(plain);
  plain.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
  assert.equal((await closed).data, '', 'nothing answered');
  await proxy.waitForLog((l) => l.outcome === 'handshake-failed' && l.listener === 'main');
});

test('an http route on its own listener: requests there reach it', async () => {
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: ports.web, path: '/who', servername: 'localhost', agent: false,
      ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/bob.crt`), key: readFileSync(`${pki.dir}/bob.key`),
    }, (r) => { let body = ''; r.on('data', (d) => { body += d; }); r.on('end', () => resolve({ status: r.statusCode ?? 0, body })); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.status, 200, res.body);
  assert.equal(web.requests.length, 1);
  assert.match(String(web.requests[0].subject), /CN=bob/);
  await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'web' && l.mode === 'http');
});

test('a client the edge refuses is refused on every listener alike, and counted by listener', async () => {
  const s = await tlsClient(ports.b, pki.dir, 'stranger');
  const { data } = await readUntilClose(s);
  assert.equal(data, '');
  await proxy.waitForLog((l) => l.msg === 'client refused' && l.listener === 'b' && l.reason === 'unknown CA');
  const m = await scrape(admin);
  assert.equal(metricValue(m, 'countersign_handshake_refusals_total', { listener: 'b', reason: 'unknown CA' }), 1);
  assert.ok(metricValue(m, 'countersign_connections_total', { listener: 'b', route: 'b', mode: 'connection', outcome: 'closed' }) >= 1);
  assert.ok(metricValue(m, 'countersign_connections_total', { listener: 'web', route: 'web', mode: 'http' }) >= 1);
  assert.equal(metricValue(m, 'countersign_connections_total', { listener: 'main', route: 'b' }), 0, 'main never reached upstream b');
});

test('/status lists every listener with its address and open connections', async () => {
  const held = await tlsClient(ports.b, pki.dir, 'alice');
  assert.equal(await echo(held, 'held'), 'held');
  const { body } = await adminJson<{ listen: string; listeners: { name: string; listen: string; address: string; starttls?: string; connections: number }[] }>(admin, '/status');
  assert.deepEqual(body.listeners.map((l) => l.name), ['main', 'b', 'pg', 'web']);
  const byName = Object.fromEntries(body.listeners.map((l) => [l.name, l]));
  assert.equal(byName.pg.starttls, 'postgres');
  assert.equal(byName.b.listen, '127.0.0.1:0');
  assert.equal(byName.b.address, `127.0.0.1:${ports.b}`);
  assert.equal(byName.b.connections, 1);
  held.destroy();
});
