/**
 * limits.maxConnections: with the limit reached, the next client is closed on
 * arrival (no handshake), the refusal is logged with the limit and counted in
 * countersign_connections_refused_total{reason="limit"}, /status shows the
 * open connections against the limit, and once a client leaves, a new one is
 * admitted and served again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { adminJson, scrape } from '../helpers/admin-client.js';
import { metricValue } from '../helpers/prometheus-text.js';

let pki: TestPki;
let backend: TlsBackend;
let proxy: ProxyProcess;
let admin: string;
const clients: TLSSocket[] = [];

before(async () => {
  pki = await makePki();
  backend = await startTlsBackend({ pkiDir: pki.dir }); // echoes
  const config = baseConfig(pki.dir, backend.port, { mode: 'connection' });
  config.limits = { maxConnections: 2 };
  config.admin = { listen: '127.0.0.1:0' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  admin = String((await proxy.waitForLog((l) => l.msg === 'admin listening')).admin);
});
after(async () => {
  for (const c of clients) c.destroy();
  await proxy?.stop();
  await backend?.close();
});

/** A client that connected through the proxy: what it writes comes back from the backend. */
async function servedClient(who: string): Promise<TLSSocket> {
  const s = await tlsClient(proxy.port, pki.dir, who);
  clients.push(s);
  const echoed = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  s.write(`hello from ${who}`);
  assert.equal(await echoed, `hello from ${who}`);
  return s;
}

type Status = { connections: { open: number; max: number; maxFrom: string; refusedAtLimit: number } };

test('the client over the limit is refused and counted; a freed slot admits the next one', async () => {
  const first = await servedClient('alice');
  await servedClient('bob');

  const mark = proxy.logs.length;
  await assert.rejects(tlsClient(proxy.port, pki.dir, 'alice'), (err: Error & { code?: string }) => {
    // closed before the handshake: Node says "socket disconnected before secure TLS connection was established"
    assert.match(`${err.code} ${err.message}`, /ECONNRESET|disconnected|socket hang up/i);
    return true;
  });
  const line = await proxy.waitForLog((l) => l.reason === 'limit' && proxy.logs.indexOf(l) >= mark);
  assert.equal(line.level, 40, 'logged at warn');
  assert.equal(line.maxConnections, 2);
  assert.equal(line.refused, 1);
  assert.match(line.msg, /limits\.maxConnections \(2\) reached/);

  assert.equal(metricValue(await scrape(admin), 'countersign_connections_refused_total', { reason: 'limit' }), 1);
  const status = (await adminJson<Status>(admin, '/status')).body;
  assert.deepEqual(status.connections, { open: 2, max: 2, maxFrom: 'config', refusedAtLimit: 1 });

  // a slot frees: the proxy sees the client leave, and the next client is served
  first.destroy();
  await waitFor(async () => (await adminJson<Status>(admin, '/status')).body.connections.open === 1, 'the proxy to count one open connection');
  await servedClient('alice');
  assert.equal(metricValue(await scrape(admin), 'countersign_connections_refused_total', { reason: 'limit' }), 1, 'nothing more refused');
});
